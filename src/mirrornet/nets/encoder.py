"""Residual Gaussian encoder: the recognizers β, γ and δ (MirrorNet Sec. 4.2-4.3, Fig. 4).

"The recognizers β and γ are implemented as stacks of four residual blocks. Unlike the original
ResNet, a branching architecture is introduced in the last layer to output the mean and variance
of the posterior Gaussian distribution." δ "is implemented in the same way ... except that it has
a different input dimension" (c = 3 image channels for β, γ; c = K heatmaps for δ).

Layout (widths for ``width`` = w, the paper size is w = 64):

    x (B, c, h, w)
    → 3×3 conv + BN + ReLU, w channels                    (h,   w)
    → residual block  w → w,   stride 1                   (h,   w)
    → residual block  w → 2w,  stride 2                   (h/2, w/2)
    → residual block 2w → 4w,  stride 2                   (h/4, w/4)
    → residual block 4w → 8w,  stride 2                   (h/8, w/8)
    → two 1×1 branches: mean (latent), log-variance (latent)

Choices the figure leaves open, fixed by Table 8's sizes: ResNet-18's two-convolution blocks
with a doubling of width at each stride; a 3×3 stem (δ and β differ by only 0.01M parameters and
0.02 GMACs in Table 8, which rules out a large 7×7 stem on the 16 heatmaps); 1×1 branches (3×3
branches would add 2.4M parameters). At w = 64 this gives 5.15M / 1.03 GMACs (β, γ) and
5.16M / 1.06 GMACs (δ) at 64×64 against Table 8's 5.28M / 1.11 and 5.29M / 1.13.
The latent maps are at 1/8 of the input resolution: 8×8 for 64×64 heatmaps (256×256 images),
8×6 for 64×48 (256×192).
"""

from __future__ import annotations

import torch
from torch import nn

from mirrornet.nets.layers import BasicBlock, ConvBNReLU, check_sides_divisible, init_logvar_head

#: Total downsampling of the encoder (three stride-2 blocks).
ENCODER_STRIDE = 8


class GaussianEncoder(nn.Module):
    """β, γ, δ: q(latent | input) = N(mean, diag(exp(logvar))) (Eq. 12-14, Fig. 4).

    Args:
        in_channels: Input channels c (3 for β and γ, K for δ).
        latent_channels: Channels of the latent map (256 in the paper).
        width: Width w of the first residual block; the blocks use w, 2w, 4w, 8w.
    """

    def __init__(self, in_channels: int, latent_channels: int = 256, width: int = 64) -> None:
        super().__init__()
        if min(in_channels, latent_channels, width) < 1:
            raise ValueError(
                f"GaussianEncoder sizes must be positive, got in_channels={in_channels}, "
                f"latent_channels={latent_channels}, width={width}"
            )
        self.in_channels = in_channels
        self.latent_channels = latent_channels
        self.stem = ConvBNReLU(in_channels, width, 3)
        self.blocks = nn.Sequential(
            BasicBlock(width, width, 1),
            BasicBlock(width, 2 * width, 2),
            BasicBlock(2 * width, 4 * width, 2),
            BasicBlock(4 * width, 8 * width, 2),
        )
        # The branching last layer of Fig. 4: one head per Gaussian parameter.
        self.mean = nn.Conv2d(8 * width, latent_channels, 1)
        self.logvar = nn.Conv2d(8 * width, latent_channels, 1)
        init_logvar_head(self.logvar)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode.

        Args:
            x: Input (B, c, h, w) with h and w divisible by 8.

        Returns:
            (mean, logvar), each (B, latent, h/8, w/8).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"GaussianEncoder expects (B, {self.in_channels}, h, w), got {tuple(x.shape)}")
        check_sides_divisible(x, ENCODER_STRIDE, "GaussianEncoder")
        features = self.blocks(self.stem(x))  # (B, 8w, h/8, w/8)
        return self.mean(features), self.logvar(features)
