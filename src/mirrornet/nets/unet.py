"""U-Nets: the image generator θ (Fig. 7) and the mask estimator ψ (MirrorNet Sec. 4.2).

Both are U-Nets (Ronneberger et al. 2015): an encoder of (3×3 conv + BN + ReLU) × 2 levels joined
by 2×2 max-pooling, a decoder of 2×2/2 transposed convolutions ("up-conv 2×2"), concatenated skip
connections and (3×3 conv + BN + ReLU) × 2 levels, and a 1×1 output layer.

θ — p_θ(x | s, a, g), Eq. 2, Fig. 7. Input: the K heatmaps s (B, K, h, w) and the appearance a and
scene g (B, 256, h/8, w/8). The U-Net has three poolings, so its bottom is at h/8, exactly the
resolution of a and g: they are concatenated to the pooled features there, and the decoder
spreads them back up with the pose's skip connections. The last layer branches into the mean and
the log-variance of x* (3 channels each, Fig. 7's "branching architecture"). Widths w, 2w, 4w, 8w;
Table 8's 12.84M / 3.25 GMACs are matched at w = 72 (12.4M / 3.5 G).

ψ — the mask estimator. Input: x* and s stacked as channels (B, 3 + K, h, w); output the mask w
(B, 1, h, w). Four poolings and widths w, 2w, 4w, 8w, 16w capped at 512 (the Ronneberger layout
with a channel cap); Table 8's 10.28M / 1.42 GMACs are matched at w = 40, i.e. widths
(40, 80, 160, 320, 512): 10.27M / 1.32 G. Three poolings cannot reach Table 8: they put too much
computation at high resolution for that few parameters.

The sharpening ς(x) = 1/(1 + e^(−10x)). The paper "appl[ies] ς to every element of the output
w_n of the pre-trained estimator ψ". Applying ς to an output already squashed to [0, 1] would map
every pixel into [0.5, 1] (not a mask), so ς must act on the unbounded output of the last
convolution: ς is ψ's output nonlinearity, ``w = ς(conv(features))``. Then the tensor trained by
MSE against silhouettes and the tensor used in Eq. 32-33 are the same one, the sharpening holds
in training and in use alike (no train/use mismatch), and ``forward`` has a single output.
"""

from __future__ import annotations

import torch
from torch import nn

from mirrornet.nets.layers import DoubleConv, init_logvar_head, match_size

#: Slope of the paper's sharpening sigmoid ς(x) = 1 / (1 + exp(−10 x)) (Sec. 4.2).
SHARPNESS = 10.0


def sharpen(x: torch.Tensor, sharpness: float = SHARPNESS) -> torch.Tensor:
    """The paper's ς(x) = 1 / (1 + exp(−sharpness · x)), elementwise (Sec. 4.2).

    Args:
        x: Any tensor.
        sharpness: The slope (10 in the paper).

    Returns:
        A tensor of the same shape with values in (0, 1).
    """
    return torch.sigmoid(sharpness * x)


def unet_widths(width: int, depth: int, max_width: int | None = None) -> tuple[int, ...]:
    """Level widths of a U-Net that doubles its channels at every pooling.

    Args:
        width: Channels of the first (full-resolution) level.
        depth: Number of poolings.
        max_width: Cap on the channels of any level (None: no cap).

    Returns:
        ``depth + 1`` widths, e.g. (40, 80, 160, 320, 512) for width 40, depth 4, cap 512.
    """
    if width < 1 or depth < 1:
        raise ValueError(f"unet_widths needs width >= 1 and depth >= 1, got width={width}, depth={depth}")
    widths = [width * 2**i for i in range(depth + 1)]
    if max_width is not None:
        widths = [min(w, max_width) for w in widths]
    return tuple(widths)


class UNet(nn.Module):
    """A U-Net body: image-like input → features at the input resolution.

    Args:
        in_channels: Input channels.
        widths: Channels of each level, highest resolution first; len(widths) − 1 poolings.
        bottom_channels: Extra channels concatenated to the pooled features entering the bottom
            level (θ's latents a and g); 0 for none.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], bottom_channels: int = 0) -> None:
        super().__init__()
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"UNet needs at least two positive widths, got {widths}")
        self.widths = tuple(widths)
        self.bottom_channels = bottom_channels
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.down = nn.ModuleList([DoubleConv(in_channels, widths[0])])
        for i in range(1, len(widths)):
            extra = bottom_channels if i == len(widths) - 1 else 0
            self.down.append(DoubleConv(widths[i - 1] + extra, widths[i]))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2) for i in range(len(widths) - 1, 0, -1)
        )
        self.merge = nn.ModuleList(DoubleConv(2 * widths[i - 1], widths[i - 1]) for i in range(len(widths) - 1, 0, -1))
        self.out_channels = widths[0]

    @property
    def depth(self) -> int:
        """Number of poolings (the bottom is at 1/2^depth of the input)."""
        return len(self.widths) - 1

    def forward(self, x: torch.Tensor, bottom: torch.Tensor | None = None) -> torch.Tensor:
        """Run the U-Net.

        Args:
            x: Input (B, C_in, h, w).
            bottom: Extra features (B, bottom_channels, h_d, w_d) at the bottom resolution
                (h_d = ⌈h / 2^depth⌉), required iff ``bottom_channels`` > 0.

        Returns:
            Features (B, widths[0], h, w).
        """
        skips = []
        y = self.down[0](x)  # (B, w0, h, w)
        for i in range(1, len(self.down)):
            skips.append(y)
            y = self.pool(y)  # (B, w_{i-1}, h/2^i, w/2^i)
            if i == len(self.down) - 1 and self.bottom_channels:
                if bottom is None or bottom.shape[1] != self.bottom_channels or bottom.shape[-2:] != y.shape[-2:]:
                    got = None if bottom is None else tuple(bottom.shape)
                    raise ValueError(
                        f"UNet bottom input must be (B, {self.bottom_channels}, {y.shape[-2]}, {y.shape[-1]}), got {got}"
                    )
                y = torch.cat([y, bottom], dim=1)
            y = self.down[i](y)
        for up, merge in zip(self.up, self.merge):
            skip = skips.pop()
            y = match_size(up(y), skip.shape[-2:])  # (B, w_{i-1}, h/2^(i-1), w/2^(i-1))
            y = merge(torch.cat([skip, y], dim=1))
        return y


class ImageGenerator(nn.Module):
    """θ: p_θ(x* | s, a, g) = N(x_mean, diag(exp(x_logvar))) (Eq. 2, Fig. 7).

    Args:
        num_joints: Number of heatmaps K.
        latent_channels: Channels of a and of g (256 in the paper).
        width: Width w of the first level; the levels use w, 2w, 4w, 8w (three poolings, so the
            bottom matches the latents at 1/8 of the heatmap resolution).
    """

    def __init__(self, num_joints: int = 16, latent_channels: int = 256, width: int = 72) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.latent_channels = latent_channels
        self.body = UNet(num_joints, unet_widths(width, 3), bottom_channels=2 * latent_channels)
        self.mean = nn.Conv2d(width, 3, 1)
        self.logvar = nn.Conv2d(width, 3, 1)
        init_logvar_head(self.logvar)

    def forward(self, s: torch.Tensor, a: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate the shrunk image's Gaussian.

        Args:
            s: Heatmaps (B, K, h, w), h and w divisible by 8.
            a: Appearance (B, latent, h/8, w/8).
            g: Scene (B, latent, h/8, w/8).

        Returns:
            (x_mean, x_logvar), each (B, 3, h, w).
        """
        if s.dim() != 4 or s.shape[1] != self.num_joints:
            raise ValueError(f"ImageGenerator expects s of shape (B, {self.num_joints}, h, w), got {tuple(s.shape)}")
        if s.shape[-2] % 8 or s.shape[-1] % 8:
            raise ValueError(f"ImageGenerator needs heatmap sides divisible by 8, got {tuple(s.shape[-2:])}")
        if a.shape != g.shape:
            raise ValueError(f"ImageGenerator expects a and g of the same shape, got {tuple(a.shape)} and {tuple(g.shape)}")
        features = self.body(s, torch.cat([a, g], dim=1))  # (B, w, h, w)
        return self.mean(features), self.logvar(features)


class MaskEstimator(nn.Module):
    """ψ: the human mask w from x* and s (Sec. 4.2, Eq. 32-33), trained by MSE to silhouettes.

    The output is ς(conv(features)) with the paper's ς(x) = 1/(1 + e^(−10x)) as output
    nonlinearity (see the module docstring for why), so the same tensor is both the MSE-trained
    output and the mask of Eq. 32-33.

    Args:
        num_joints: Number of heatmaps K.
        width: Width w of the first level; the levels use w, 2w, 4w, 8w, 16w (four poolings),
            each capped at ``max_width``.
        max_width: Cap on the channels of a level (512 in the paper-size net; None for no cap).
        sharpness: Slope of ς (10 in the paper).
    """

    def __init__(
        self, num_joints: int = 16, width: int = 40, max_width: int | None = 512, sharpness: float = SHARPNESS
    ) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.sharpness = sharpness
        self.body = UNet(3 + num_joints, unet_widths(width, 4, max_width))
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x_star: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Estimate the mask.

        Args:
            x_star: Shrunk image (B, 3, h, w).
            s: Heatmaps (B, K, h, w).

        Returns:
            The mask w (B, 1, h, w), values in (0, 1).
        """
        if x_star.dim() != 4 or x_star.shape[1] != 3 or s.dim() != 4 or s.shape[1] != self.num_joints:
            raise ValueError(
                f"MaskEstimator expects x_star (B, 3, h, w) and s (B, {self.num_joints}, h, w), "
                f"got {tuple(x_star.shape)} and {tuple(s.shape)}"
            )
        if x_star.shape[-2:] != s.shape[-2:] or x_star.shape[0] != s.shape[0]:
            raise ValueError(f"MaskEstimator: x_star {tuple(x_star.shape)} and s {tuple(s.shape)} differ in size")
        features = self.body(torch.cat([x_star, s], dim=1))  # (B, w, h, w)
        return sharpen(self.head(features), self.sharpness)  # (B, 1, h, w)
