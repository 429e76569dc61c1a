"""Stacked hourglass recognizer α (Newell et al. 2016; MirrorNet Sec. 4.1, Table 8).

The paper's first recognizer is "a stack of eight residual hourglasses" with 256 features:
25.59M parameters and 26.17 GMACs at 256×256 (Table 8). This is the original design:

* stem: 7×7/2 convolution (64) → residual (128) → 2×2 max-pool → residual (128) → residual (256),
  taking a 256×256 image to 64×64 features (1/4, the heatmap resolution);
* each stack: an hourglass of depth 4 (three residual blocks per level and one at the bottom),
  one residual block, a 1×1 conv + BN + ReLU, and a 1×1 score layer giving K heatmaps; between
  stacks, the features and the re-projected heatmaps are added back (intermediate supervision);
* residual blocks are the pre-activation bottlenecks of the original Torch code
  (BN → ReLU → 1×1 conv, features/2 inner channels, convolutions with biases).

``forward`` returns every stack's heatmaps (a list) so that Eq. 30 can supervise all of them;
the last one is the prediction. Max-pooling rounds up and the upsampled branch is cropped to the
skip branch, so any input whose sides are divisible by 4 works (not only multiples of 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from mirrornet.nets.layers import check_sides_divisible, init_pose_head, match_size
from mirrornet.nets.registry import register_recognizer


@dataclass(frozen=True)
class HourglassConfig:
    """Size of a stacked hourglass network.

    Attributes:
        num_stacks: Number of stacked hourglasses (8 in the paper).
        num_features: Channels carried between stacks (256 in the paper).
        depth: Number of 2× downsamplings inside each hourglass (4 in the paper).
        stem_channels: Channels of the 7×7 stem convolution (64 in the paper).
    """

    num_stacks: int = 8
    num_features: int = 256
    depth: int = 4
    stem_channels: int = 64


#: Variants: the paper's network and small ones for CPU tests and demos.
HOURGLASS_VARIANTS: dict[str, HourglassConfig] = {
    "hourglass": HourglassConfig(num_stacks=8, num_features=256, depth=4, stem_channels=64),
    "hourglass_2x64": HourglassConfig(num_stacks=2, num_features=64, depth=4, stem_channels=32),
    "hourglass_2x96": HourglassConfig(num_stacks=2, num_features=96, depth=4, stem_channels=48),
    "hourglass_1x32": HourglassConfig(num_stacks=1, num_features=32, depth=3, stem_channels=16),
}


class PreActBottleneck(nn.Module):
    """The hourglass residual module: BN-ReLU-conv1×1, BN-ReLU-conv3×3, BN-ReLU-conv1×1.

    Args:
        in_channels: Input channels.
        out_channels: Output channels (the inner convolutions use half of them).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=True)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=True)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the module.

        Args:
            x: Features (B, C_in, H, W).

        Returns:
            Features (B, C_out, H, W).
        """
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + self.shortcut(x)


class Hourglass(nn.Module):
    """One hourglass: a symmetric encoder-decoder with a residual skip at every resolution.

    Args:
        channels: Channels throughout.
        depth: Number of 2× downsamplings.
    """

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        # levels[i] = (skip branch, after pooling, after the inner hourglass); the innermost
        # level has one more block in place of the recursion.
        self.skip = nn.ModuleList(PreActBottleneck(channels, channels) for _ in range(depth))
        self.down = nn.ModuleList(PreActBottleneck(channels, channels) for _ in range(depth))
        self.up = nn.ModuleList(PreActBottleneck(channels, channels) for _ in range(depth))
        self.bottom = PreActBottleneck(channels, channels)

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        up1 = self.skip[level](x)  # (B, C, H, W)
        low = F.max_pool2d(x, 2, 2, ceil_mode=True)  # (B, C, ⌈H/2⌉, ⌈W/2⌉)
        low = self.down[level](low)
        low = self._level(level + 1, low) if level + 1 < self.depth else self.bottom(low)
        low = self.up[level](low)
        up2 = match_size(F.interpolate(low, scale_factor=2.0, mode="nearest"), up1.shape[-2:])
        return up1 + up2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the hourglass.

        Args:
            x: Features (B, C, H, W).

        Returns:
            Features (B, C, H, W).
        """
        return self._level(0, x)


class StackedHourglass(nn.Module):
    """α: q_α(s | x) as a stack of hourglasses (Sec. 4.1, Eq. 11 and 30).

    Args:
        config: Network size.
        num_joints: Number of heatmaps K.
    """

    def __init__(self, config: HourglassConfig, num_joints: int = 16) -> None:
        super().__init__()
        self.config = config
        self.num_joints = num_joints
        feats = config.num_features
        stem = config.stem_channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=True),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
            PreActBottleneck(stem, feats // 2),
            nn.MaxPool2d(2, 2, ceil_mode=True),
            PreActBottleneck(feats // 2, feats // 2),
            PreActBottleneck(feats // 2, feats),
        )
        n = config.num_stacks
        self.hourglasses = nn.ModuleList(Hourglass(feats, config.depth) for _ in range(n))
        self.residuals = nn.ModuleList(PreActBottleneck(feats, feats) for _ in range(n))
        self.features = nn.ModuleList(
            nn.Sequential(nn.Conv2d(feats, feats, 1, bias=True), nn.BatchNorm2d(feats), nn.ReLU(inplace=True))
            for _ in range(n)
        )
        self.scores = nn.ModuleList(nn.Conv2d(feats, num_joints, 1, bias=True) for _ in range(n))
        # Re-injection of features and heatmaps into the next stack (none after the last).
        self.features_back = nn.ModuleList(nn.Conv2d(feats, feats, 1, bias=True) for _ in range(n - 1))
        self.scores_back = nn.ModuleList(nn.Conv2d(num_joints, feats, 1, bias=True) for _ in range(n - 1))
        for score in self.scores:
            init_pose_head(score)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Predict heatmaps with every stack.

        Args:
            x: Images (B, 3, H, W), H and W divisible by 4.

        Returns:
            One heatmap tensor (B, K, H/4, W/4) per stack; the last is the prediction.
        """
        check_sides_divisible(x, 4, "StackedHourglass")
        y = self.stem(x)  # (B, F, H/4, W/4)
        outputs: list[torch.Tensor] = []
        for i in range(self.config.num_stacks):
            h = self.hourglasses[i](y)
            h = self.features[i](self.residuals[i](h))  # (B, F, H/4, W/4)
            score = self.scores[i](h)  # (B, K, H/4, W/4)
            outputs.append(score)
            if i + 1 < self.config.num_stacks:
                y = y + self.features_back[i](h) + self.scores_back[i](score)
        return outputs


def build_hourglass(name: str, num_joints: int = 16) -> StackedHourglass:
    """Build a stacked hourglass variant by name.

    Args:
        name: A key of :data:`HOURGLASS_VARIANTS`.
        num_joints: Number of heatmaps K.

    Returns:
        The network.
    """
    if name not in HOURGLASS_VARIANTS:
        raise KeyError(f"unknown hourglass variant {name!r}; valid: {sorted(HOURGLASS_VARIANTS)}")
    return StackedHourglass(HOURGLASS_VARIANTS[name], num_joints)


# Every variant is a recognizer: the paper's at 256×256, the CPU ones at 64×64; the input's sides
# are multiples of the stem's 4 times one pooling per level.
for _name, _config in HOURGLASS_VARIANTS.items():
    register_recognizer(_name, input_size=(256, 256) if _name == "hourglass" else (64, 64),
                        divisor=4 * 2**_config.depth, paper=_name == "hourglass")(partial(build_hourglass, _name))
