"""Building blocks shared by the MirrorNet networks (paper Sec. 4, Fig. 5).

Fig. 5 of the paper lists the layers its networks are made of: convolutions with batch
normalisation and ReLU, residual blocks [He et al. 2016], transposed convolutions and the
branching last layer that outputs a Gaussian's mean and log-variance. They live here once so
that the recognizers (``hourglass.py``, ``simple_baseline.py``, ``hrnet.py``) and the VAE nets
(``encoder.py``, ``unet.py``, ``pose_decoder.py``) read as compositions of the same parts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """A 3×3 convolution with 'same' padding.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride; 2 halves the resolution (rounding up).
        bias: Whether to add a bias (off when a batch norm follows).

    Returns:
        The convolution module.
    """
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    """A 1×1 convolution.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride.
        bias: Whether to add a bias.

    Returns:
        The convolution module.
    """
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=bias)


class ConvBNReLU(nn.Sequential):
    """Convolution → batch norm → ReLU (Fig. 5, "Conv + BN + ReLU").

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd; padding keeps the size at stride 1).
        stride: Stride.
        relu: Whether to end with a ReLU.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, relu: bool = True
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class BasicBlock(nn.Module):
    """The two-convolution residual block of ResNet-18/34 (He et al. 2016), post-activation.

    Used by the residual Gaussian encoder (Fig. 4), the HRNet branches and the small ResNets.
    A 1×1 projection (with batch norm) replaces the identity when the shape changes.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the first convolution (2 halves the resolution).
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: Features (B, C_in, H, W).

        Returns:
            Features (B, C_out, H/stride, W/stride).
        """
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """The 1×1 → 3×3 → 1×1 residual block of ResNet-50 (stride on the 3×3, "ResNet v1.5").

    Args:
        in_channels: Input channels.
        planes: Channels of the inner 3×3 convolution; the output has ``planes * 4``.
        stride: Stride of the 3×3 convolution.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: Features (B, C_in, H, W).

        Returns:
            Features (B, 4·planes, H/stride, W/stride).
        """
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class DoubleConv(nn.Sequential):
    """Two (3×3 conv → BN → ReLU) layers: one level of a U-Net (Ronneberger et al. 2015).

    Args:
        in_channels: Input channels.
        out_channels: Output channels of both convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(ConvBNReLU(in_channels, out_channels), ConvBNReLU(out_channels, out_channels))


def check_sides_divisible(x: torch.Tensor, divisor: int, net: str) -> None:
    """Raise a ``ValueError`` naming ``net`` unless both spatial sides of ``x`` divide by ``divisor``."""
    if x.shape[-2] % divisor or x.shape[-1] % divisor:
        raise ValueError(f"{net} needs input sides divisible by {divisor}, got {tuple(x.shape[-2:])}")


def match_size(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Crop (or zero-pad) the last two dimensions of ``x`` to ``size``, anchored at the top-left.

    Pooling with ``ceil_mode=True`` followed by ×2 upsampling can overshoot an odd size by one
    pixel; cropping the overshoot keeps skip connections aligned on any input size.

    Args:
        x: Features (B, C, H', W').
        size: Target (H, W).

    Returns:
        Features (B, C, H, W).
    """
    dh = int(size[0]) - x.shape[-2]
    dw = int(size[1]) - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    # F.pad with negative amounts crops.
    return F.pad(x, (0, dw, 0, dh))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of a module.

    Args:
        module: Any module (may live on the meta device).

    Returns:
        The total number of elements of its parameters that require gradients.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def init_pose_head(conv: nn.Conv2d) -> None:
    """Initialise a heatmap head as SimpleBaseline and HRNet do: N(0, 0.001²) weights, zero bias.

    Args:
        conv: The final 1×1 convolution producing heatmaps.
    """
    nn.init.normal_(conv.weight, std=0.001)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def init_logvar_head(conv: nn.Module) -> None:
    """Start a log-variance branch near log σ² = 0 (unit variance) for a stable first epoch.

    Small (not zero) weights keep a gradient flowing into the weights from the first step.

    Args:
        conv: The convolution (or transposed convolution) of the log-variance branch.
    """
    nn.init.normal_(conv.weight, std=0.001)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
