"""HRNet recognizer α in its pose form (Sun et al. 2019; MirrorNet Sec. 4.1, Table 8).

The paper's third recognizer is "high-resolution subnetworks": HRNet-W32, 28.54M parameters,
9.49 GMACs at 256×256 (7.1 at 256×192). Architecture as in the pose HRNet:

* stem: two 3×3/2 convolutions (64 channels) to 1/4 resolution;
* stage 1: four Bottleneck blocks (64 → 256 channels);
* stages 2, 3, 4: 1, 4 and 3 multi-resolution modules with 2, 3 and 4 parallel branches of widths
  W, 2W, 4W, 8W at 1/4, 1/8, 1/16, 1/32; each module runs four basic blocks per branch and then
  fuses every branch into every other (1×1 conv + nearest upsampling from lower resolutions,
  chains of 3×3/2 convs from higher ones);
* the last module keeps only the highest-resolution branch, and a 1×1 convolution gives K
  heatmaps at 1/4 resolution.

Upsampling targets the size of the branch it joins, so 4:3 inputs (256×192) work. Paper-size
inputs must have sides divisible by 32.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from mirrornet.nets.layers import (
    BasicBlock,
    Bottleneck,
    ConvBNReLU,
    check_sides_divisible,
    conv1x1,
    init_pose_head,
)
from mirrornet.nets.registry import register_recognizer


@dataclass(frozen=True)
class HRNetConfig:
    """Size of a pose HRNet.

    Attributes:
        width: Channels W of the highest-resolution branch; branch b has W·2^b.
        stem_channels: Channels of the two stem convolutions (64).
        stage1_planes: Inner channels of the stage-1 bottlenecks (64; they output 4× that).
        stage1_blocks: Bottlenecks in stage 1 (4).
        num_modules: Multi-resolution modules in stages 2, 3, 4 ((1, 4, 3)).
        num_blocks: Basic blocks per branch in each module (4).
    """

    width: int = 32
    stem_channels: int = 64
    stage1_planes: int = 64
    stage1_blocks: int = 4
    num_modules: tuple[int, int, int] = (1, 4, 3)
    num_blocks: int = 4


#: Variants: the paper's W32, the W48 of the HRNet paper, and small ones for CPU.
HRNET_VARIANTS: dict[str, HRNetConfig] = {
    "hrnet_w32": HRNetConfig(width=32),
    "hrnet_w48": HRNetConfig(width=48),
    "hrnet_w16": HRNetConfig(width=16, stem_channels=32, stage1_planes=32, stage1_blocks=2,
                             num_modules=(1, 2, 2), num_blocks=2),
    "hrnet_w8": HRNetConfig(width=8, stem_channels=16, stage1_planes=16, stage1_blocks=1,
                            num_modules=(1, 1, 1), num_blocks=1),
}


class HighResolutionModule(nn.Module):
    """Parallel branches of basic blocks followed by an all-to-all fusion.

    Args:
        widths: Channels of each branch (highest resolution first).
        num_blocks: Basic blocks per branch.
        multi_scale_output: If False, output only the highest-resolution branch.
    """

    def __init__(self, widths: tuple[int, ...], num_blocks: int, multi_scale_output: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(w, w) for _ in range(num_blocks))) for w in widths
        )
        num_out = len(widths) if multi_scale_output else 1
        self.fuse = nn.ModuleList()
        for i in range(num_out):
            row = nn.ModuleList()
            for j in range(len(widths)):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:
                    # Lower resolution → 1×1 conv here, nearest upsampling in forward.
                    row.append(nn.Sequential(conv1x1(widths[j], widths[i]), nn.BatchNorm2d(widths[i])))
                else:
                    # Higher resolution → (i − j) 3×3/2 convs; ReLU on all but the last.
                    steps: list[nn.Module] = [ConvBNReLU(widths[j], widths[j], 3, 2) for _ in range(i - j - 1)]
                    steps.append(ConvBNReLU(widths[j], widths[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            self.fuse.append(row)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Run the branches and fuse them.

        Args:
            xs: One tensor per branch, (B, W·2^b, H/2^b, W/2^b).

        Returns:
            The fused branches (all, or only the first if not multi-scale).
        """
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        outs = []
        for i, row in enumerate(self.fuse):
            size = xs[i].shape[-2:]
            total = xs[i]
            for j, layer in enumerate(row):
                if j == i:
                    continue
                y = layer(xs[j])
                if j > i:
                    y = F.interpolate(y, size=size, mode="nearest")
                total = total + y
            outs.append(self.relu(total))
        return outs


class HRNet(nn.Module):
    """α: q_α(s | x) as a high-resolution network (Sec. 4.1, Eq. 11 and 30).

    Args:
        config: Network size.
        num_joints: Number of heatmaps K.
    """

    def __init__(self, config: HRNetConfig, num_joints: int = 16) -> None:
        super().__init__()
        self.config = config
        self.num_joints = num_joints
        stem = config.stem_channels
        self.stem = nn.Sequential(ConvBNReLU(3, stem, 3, 2), ConvBNReLU(stem, stem, 3, 2))
        blocks: list[nn.Module] = []
        in_channels = stem
        for _ in range(config.stage1_blocks):
            blocks.append(Bottleneck(in_channels, config.stage1_planes))
            in_channels = config.stage1_planes * Bottleneck.expansion
        self.stage1 = nn.Sequential(*blocks)

        widths = [config.width * 2**b for b in range(4)]
        # transition1 splits the stage-1 output into two branches.
        self.transition1 = nn.ModuleList(
            [ConvBNReLU(in_channels, widths[0], 3, 1), ConvBNReLU(in_channels, widths[1], 3, 2)]
        )
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for s, num_modules in enumerate(config.num_modules):
            num_branches = s + 2
            last_stage = s == len(config.num_modules) - 1
            modules = [
                HighResolutionModule(
                    tuple(widths[:num_branches]),
                    config.num_blocks,
                    multi_scale_output=not (last_stage and m == num_modules - 1),
                )
                for m in range(num_modules)
            ]
            self.stages.append(nn.Sequential(*modules))
            if not last_stage:
                # A new, lower-resolution branch grows from the current lowest one.
                self.transitions.append(ConvBNReLU(widths[num_branches - 1], widths[num_branches], 3, 2))
        self.head = nn.Conv2d(widths[0], num_joints, 1)
        init_pose_head(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predict heatmaps.

        Args:
            x: Images (B, 3, H, W), H and W divisible by 32.

        Returns:
            Heatmaps (B, K, H/4, W/4).
        """
        check_sides_divisible(x, 32, "HRNet")
        y = self.stage1(self.stem(x))  # (B, 256, H/4, W/4)
        xs = [t(y) for t in self.transition1]  # [(B, W, H/4, W/4), (B, 2W, H/8, W/8)]
        for s, stage in enumerate(self.stages):
            xs = stage(xs)
            if s < len(self.transitions):
                xs = xs + [self.transitions[s](xs[-1])]
        return self.head(xs[0])  # (B, K, H/4, W/4)


def build_hrnet(name: str, num_joints: int = 16) -> HRNet:
    """Build an HRNet variant by name.

    Args:
        name: A key of :data:`HRNET_VARIANTS`.
        num_joints: Number of heatmaps K.

    Returns:
        The network.
    """
    if name not in HRNET_VARIANTS:
        raise KeyError(f"unknown HRNet variant {name!r}; valid: {sorted(HRNET_VARIANTS)}")
    return HRNet(HRNET_VARIANTS[name], num_joints)


# Every variant is a recognizer (four branches down to 1/32); hrnet_w8 is the CPU one, at 64×64.
for _name in HRNET_VARIANTS:
    register_recognizer(_name, input_size=(64, 64) if _name == "hrnet_w8" else (256, 256), divisor=32,
                        paper=_name == "hrnet_w32")(partial(build_hrnet, _name))
