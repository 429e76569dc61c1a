"""The networks of MirrorNet (paper Sec. 4, Figs. 4-7, Table 8): plain ``nn.Module``s.

* α, the pose recognizers: :data:`RECOGNIZERS` / :func:`build_recognizer` (stacked hourglass,
  SimpleBaseline ResNet, HRNet, each with paper-size and small CPU variants). Any module mapping
  (B, 3, H, W) to K heatmaps at (H/4, W/4) — or a list of them, one per stack — can be α: register
  its builder with :func:`~mirrornet.nets.registry.register_recognizer` (one file).
* β, γ, δ (:class:`GaussianEncoder`), θ (:class:`ImageGenerator`), ψ (:class:`MaskEstimator`),
  φ (:class:`PoseGenerator`): :func:`build_vae_nets` with a :class:`VAENetsConfig`.
* :func:`network_summary` / :func:`format_summary`: parameters and MACs beside Table 8.

The nets know no probability: the Gaussian ones return (mean, logvar) tensors and the maths lives
in :mod:`mirrornet.distributions` and :mod:`mirrornet.objectives`.
"""

from __future__ import annotations

from torch import nn

# The recognizers register themselves as their modules load, in Table 8's order: hourglass,
# SimpleBaseline (resnet50), HRNet.
from mirrornet.nets.hourglass import HOURGLASS_VARIANTS, HourglassConfig, StackedHourglass  # isort: skip
from mirrornet.nets.simple_baseline import SIMPLE_BASELINE_VARIANTS, SimpleBaseline, SimpleBaselineConfig  # isort: skip
from mirrornet.nets.hrnet import HRNET_VARIANTS, HRNet, HRNetConfig  # isort: skip
from mirrornet.nets.encoder import GaussianEncoder
from mirrornet.nets.layers import count_parameters
from mirrornet.nets.pose_decoder import PoseGenerator
from mirrornet.nets.registry import RECOGNIZERS, RecognizerEntry, register_recognizer
from mirrornet.nets.summary import format_summary, network_summary
from mirrornet.nets.unet import ImageGenerator, MaskEstimator, UNet, sharpen
from mirrornet.nets.vae_nets import VAE_NET_NAMES, VAENetsConfig, build_vae_nets

#: The recognizers of Table 8 ("hourglass", "resnet50", "hrnet_w32"), read from the registry;
#: "hourglass_2x64", "hourglass_1x32", "resnet18_w16", "resnet10_w8" and "hrnet_w8" are small CPU
#: variants (:data:`RECOGNIZERS`: name → builder with its input size and stride).
PAPER_RECOGNIZERS: tuple[str, ...] = tuple(name for name, entry in RECOGNIZERS.items() if entry.paper)


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
    return RECOGNIZERS[name].builder(num_joints=num_joints)



__all__ = [
    "RECOGNIZERS",
    "RecognizerEntry",
    "register_recognizer",
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
