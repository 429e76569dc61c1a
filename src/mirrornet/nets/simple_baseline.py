"""SimpleBaseline recognizer α: ResNet backbone + deconvolution head (Xiao et al. 2018; Sec. 4.1).

The paper's second recognizer is "ResNet-50 (baseline)": 34.00M parameters, 11.99 GMACs at
256×256 (Table 8). Architecture as in SimpleBaseline:

* a ResNet written here (no torchvision): 7×7/2 stem, 3×3/2 max-pool, four stages of residual
  blocks (strides 1, 2, 2, 2), no classifier; the image goes to 1/32 resolution;
* three 4×4 transposed convolutions (stride 2, 256 channels, BN, ReLU) back to 1/4;
* a 1×1 convolution giving K heatmaps.

Input sides must be divisible by 32 (256×256, 256×192, 128×96, 64×64 all are).
The ResNet uses Bottleneck blocks with the stride on the 3×3 convolution (as torchvision's
ResNet-50 does); small variants use the two-convolution block and narrower stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from mirrornet.nets.layers import BasicBlock, Bottleneck, check_sides_divisible, init_pose_head
from mirrornet.nets.registry import register_recognizer


@dataclass(frozen=True)
class SimpleBaselineConfig:
    """Size of a SimpleBaseline network.

    Attributes:
        block: "bottleneck" (ResNet-50/101/152) or "basic" (ResNet-18/34).
        layers: Residual blocks per stage.
        base_width: Channels of the stem and the first stage's inner convolutions (64 in ResNet).
        deconv_channels: Channels of the transposed convolutions (256 in the paper).
        num_deconv: Number of 4×4/2 transposed convolutions (3: from 1/32 to 1/4).
    """

    block: str = "bottleneck"
    layers: tuple[int, ...] = (3, 4, 6, 3)
    base_width: int = 64
    deconv_channels: int = 256
    num_deconv: int = 3


#: Variants: the paper's ResNet-50 and narrow ones for CPU tests and demos.
SIMPLE_BASELINE_VARIANTS: dict[str, SimpleBaselineConfig] = {
    "resnet50": SimpleBaselineConfig("bottleneck", (3, 4, 6, 3), 64, 256, 3),
    "resnet101": SimpleBaselineConfig("bottleneck", (3, 4, 23, 3), 64, 256, 3),
    "resnet18": SimpleBaselineConfig("basic", (2, 2, 2, 2), 64, 256, 3),
    "resnet18_w32": SimpleBaselineConfig("basic", (2, 2, 2, 2), 32, 128, 3),
    "resnet18_w16": SimpleBaselineConfig("basic", (2, 2, 2, 2), 16, 64, 3),
    "resnet10_w8": SimpleBaselineConfig("basic", (1, 1, 1, 1), 8, 32, 3),
}


class ResNetBackbone(nn.Module):
    """A ResNet without its classifier: image (B, 3, H, W) → features (B, C, H/32, W/32).

    Args:
        block: "bottleneck" or "basic".
        layers: Blocks per stage.
        base_width: Width of the stem and of the first stage.
    """

    def __init__(self, block: str, layers: tuple[int, ...], base_width: int) -> None:
        super().__init__()
        if block not in ("bottleneck", "basic"):
            raise ValueError(f"block must be 'bottleneck' or 'basic', got {block!r}")
        block_cls: type[Bottleneck] | type[BasicBlock] = Bottleneck if block == "bottleneck" else BasicBlock
        self.stem = nn.Sequential(
            nn.Conv2d(3, base_width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages: list[nn.Module] = []
        in_channels = base_width
        for i, num_blocks in enumerate(layers):
            planes = base_width * 2**i
            blocks: list[nn.Module] = []
            for j in range(num_blocks):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block_cls(in_channels, planes, stride))
                in_channels = planes * block_cls.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Extract features.

        Args:
            x: Images (B, 3, H, W).

        Returns:
            Features (B, C, H/32, W/32).
        """
        return self.stages(self.stem(x))


class SimpleBaseline(nn.Module):
    """α: q_α(s | x) as ResNet + deconvolutions (Sec. 4.1, Eq. 11 and 30).

    Args:
        config: Network size.
        num_joints: Number of heatmaps K.
    """

    def __init__(self, config: SimpleBaselineConfig, num_joints: int = 16) -> None:
        super().__init__()
        self.config = config
        self.num_joints = num_joints
        self.backbone = ResNetBackbone(config.block, config.layers, config.base_width)
        layers: list[nn.Module] = []
        in_channels = self.backbone.out_channels
        for _ in range(config.num_deconv):
            layers += [
                nn.ConvTranspose2d(in_channels, config.deconv_channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(config.deconv_channels),
                nn.ReLU(inplace=True),
            ]
            in_channels = config.deconv_channels
        self.deconv = nn.Sequential(*layers)
        self.head = nn.Conv2d(in_channels, num_joints, 1)
        init_pose_head(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict heatmaps.

        Args:
            x: Images (B, 3, H, W), H and W divisible by 32.

        Returns:
            Heatmaps (B, K, H/4, W/4).
        """
        check_sides_divisible(x, 32, "SimpleBaseline")
        features = self.backbone(x)  # (B, C, H/32, W/32)
        return self.head(self.deconv(features))  # (B, K, H/4, W/4)


def build_simple_baseline(name: str, num_joints: int = 16) -> SimpleBaseline:
    """Build a SimpleBaseline variant by name.

    Args:
        name: A key of :data:`SIMPLE_BASELINE_VARIANTS`.
        num_joints: Number of heatmaps K.

    Returns:
        The network.
    """
    if name not in SIMPLE_BASELINE_VARIANTS:
        raise KeyError(f"unknown SimpleBaseline variant {name!r}; valid: {sorted(SIMPLE_BASELINE_VARIANTS)}")
    return SimpleBaseline(SIMPLE_BASELINE_VARIANTS[name], num_joints)


# Every variant is a recognizer (the ResNet's sides are multiples of 32); the narrow CPU ones at 64×64.
for _name in SIMPLE_BASELINE_VARIANTS:
    register_recognizer(_name, input_size=(64, 64) if _name in ("resnet18_w16", "resnet10_w8") else (256, 256),
                        divisor=32, paper=_name == "resnet50")(partial(build_simple_baseline, _name))
