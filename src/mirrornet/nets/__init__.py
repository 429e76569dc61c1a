"""The networks of MirrorNet (paper Sec. 4, Figs. 4-7, Table 8): plain ``nn.Module``s.

* α, the pose recognizers: :data:`RECOGNIZERS` / :func:`build_recognizer` (stacked hourglass,
  SimpleBaseline ResNet, HRNet, each with paper-size and small CPU variants). Any module mapping
  (B, 3, H, W) to K heatmaps at (H/4, W/4) — or a list of them, one per stack — can be α.
* β, γ, δ (:class:`GaussianEncoder`), θ (:class:`ImageGenerator`), ψ (:class:`MaskEstimator`),
  φ (:class:`PoseGenerator`): :func:`build_vae_nets` with a :class:`VAENetsConfig`.
* :func:`network_summary` / :func:`format_summary`: parameters and MACs beside Table 8.

The nets know no probability: the Gaussian ones return (mean, logvar) tensors and the maths lives
in :mod:`mirrornet.distributions` and :mod:`mirrornet.objectives`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from mirrornet.nets.encoder import GaussianEncoder
from mirrornet.nets.hourglass import HOURGLASS_BUILDERS, HOURGLASS_VARIANTS, HourglassConfig, StackedHourglass
from mirrornet.nets.hrnet import HRNET_BUILDERS, HRNET_VARIANTS, HRNet, HRNetConfig
from mirrornet.nets.layers import count_parameters
from mirrornet.nets.pose_decoder import PoseGenerator
from mirrornet.nets.simple_baseline import (
    SIMPLE_BASELINE_BUILDERS,
    SIMPLE_BASELINE_VARIANTS,
    SimpleBaseline,
    SimpleBaselineConfig,
)
from mirrornet.nets.unet import ImageGenerator, MaskEstimator, UNet, sharpen
from mirrornet.nets.vae_nets import VAE_NET_NAMES, VAENetsConfig, build_vae_nets

#: Every recognizer α by name → a builder taking ``num_joints``. The paper's three are
#: "hourglass", "resnet50" and "hrnet_w32"; "hourglass_2x64", "hourglass_1x32", "resnet18_w16",
#: "resnet10_w8" and "hrnet_w8" are small CPU variants.
RECOGNIZERS: dict[str, Callable[..., nn.Module]] = {
    **HOURGLASS_BUILDERS,
    **SIMPLE_BASELINE_BUILDERS,
    **HRNET_BUILDERS,
}

#: The recognizers of Table 8.
PAPER_RECOGNIZERS: tuple[str, ...] = ("hourglass", "resnet50", "hrnet_w32")


def build_recognizer(name: str, num_joints: int = 16) -> nn.Module:
    """Build a pose recognizer α by name.

    Args:
        name: A key of :data:`RECOGNIZERS`.
        num_joints: Number of heatmaps K.

    Returns:
        The network: forward(x (B, 3, H, W)) gives heatmaps (B, K, H/4, W/4), or for the
        hourglass a list of them (one per stack, the last is the prediction).

    Raises:
        KeyError: If the name is unknown (the message lists the valid ones).
    """
    if name not in RECOGNIZERS:
        raise KeyError(f"unknown recognizer {name!r}; valid: {sorted(RECOGNIZERS)}")
    if num_joints < 1:
        raise ValueError(f"build_recognizer: num_joints must be >= 1, got {num_joints}")
    return RECOGNIZERS[name](num_joints=num_joints)


from mirrornet.nets.summary import format_summary, network_summary  # noqa: E402  (summary imports RECOGNIZERS)

__all__ = [
    "RECOGNIZERS",
    "PAPER_RECOGNIZERS",
    "build_recognizer",
    "HourglassConfig",
    "HOURGLASS_VARIANTS",
    "StackedHourglass",
    "SimpleBaselineConfig",
    "SIMPLE_BASELINE_VARIANTS",
    "SimpleBaseline",
    "HRNetConfig",
    "HRNET_VARIANTS",
    "HRNet",
    "GaussianEncoder",
    "ImageGenerator",
    "MaskEstimator",
    "PoseGenerator",
    "UNet",
    "sharpen",
    "VAENetsConfig",
    "VAE_NET_NAMES",
    "build_vae_nets",
    "count_parameters",
    "network_summary",
    "format_summary",
]
