"""Every registered network, forward and backward on a tiny input (as timm's ``test_models.py``).

Driven by the registries: every name of :data:`mirrornet.nets.RECOGNIZERS` (α) and every net of
:func:`mirrornet.nets.build_vae_nets` (β, γ, δ, θ, ψ, φ; names in :data:`VAE_NET_NAMES`), the
latter at the small and at the paper sizes. A net added to a registry is tested without editing
this file: its input follows from its registered divisor and stride.

For each net:

* train mode (the mode training uses), batch 2: the output shapes, finite outputs, and every
  parameter requires a gradient and gets a finite one;
* every parameter gets a gradient that is not all zero. This is checked in eval mode with each
  batch norm's statistics set to those of the same batch (so that the function is the training
  one): in train mode a bias that feeds a batch norm is cancelled by the batch mean and gets
  only round-off (all the conv biases of the stacked hourglass but its heatmap heads, and φ's
  two hidden transposed-convolution biases), so "not all zero" would pass on round-off there;
* eval mode is deterministic, computes each sample on its own (batch 2 equals batch 1), and
  its output depends on the input.

Inputs are small non-square ones (H ≠ W, so a swapped axis shows) at which the coarsest feature
map is at least 2×2: with 1×1 maps a train-mode batch norm normalises each channel over
the 2 values of the batch, and the paper hourglass' gradients overflow to NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch
from torch import nn

from mirrornet.choices import VAE_PRESETS
from mirrornet.nets import (
    RECOGNIZERS,
    VAE_NET_NAMES,
    VAENetsConfig,
    build_recognizer,
    build_vae_nets,
)

B = 2  # batch
K = 14  # heatmaps: LSP's 14, not the builders' default of 16, so a builder must honour num_joints

#: Recognizers whose test takes over ~2 s on one CPU thread (run with ``-m slow``).
SLOW_RECOGNIZERS = frozenset({"hourglass", "resnet101", "hrnet_w48"})

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _outputs(out: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """A net's outputs as a list: one tensor, a (mean, logvar) pair, or one tensor per stack."""
    return [out] if isinstance(out, torch.Tensor) else list(out)


def _loss(outputs: list[torch.Tensor]) -> torch.Tensor:
    """A scalar that depends on every output element (random weights: no symmetry cancels)."""
    g = torch.Generator().manual_seed(1)
    return sum((o * torch.randn(o.shape, generator=g)).sum() for o in outputs)


def _use_next_batch_statistics(net: nn.Module) -> None:
    """Make every batch norm's running statistics those of the next batch it sees in train mode."""
    for m in net.modules():
        if isinstance(m, _BATCH_NORMS):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one batch, that batch's statistics


def check_net(net: nn.Module, inputs: tuple[torch.Tensor, ...], shapes: list[tuple[int, ...]]) -> None:
    """The checks of the module docstring for one net on one batch of inputs."""
    # Train mode: shapes, finite outputs, a finite gradient for every parameter.
    _use_next_batch_statistics(net)
    net.train()
    outputs = _outputs(net(*inputs))
    assert [tuple(o.shape) for o in outputs] == shapes
    for i, o in enumerate(outputs):
        assert torch.isfinite(o).all(), f"output {i} is not finite"
    _loss(outputs).backward()
    for name, p in net.named_parameters():
        assert p.requires_grad, f"{name} does not require a gradient"
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"

    # Eval mode with this batch's statistics: every parameter moves the output.
    net.zero_grad(set_to_none=True)
    net.eval()
    first = _outputs(net(*inputs))
    assert [tuple(o.shape) for o in first] == shapes
    _loss(first).backward()
    no_gradient = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.any()]
    assert no_gradient == []
    first = [o.detach() for o in first]

    # Eval mode: deterministic, per sample, dependent on the input. A sample run alone differs
    # from the same sample in a batch by round-off only (up to 5e-4 of the output's scale, for
    # the paper hourglass), two samples by about the output's scale.
    with torch.no_grad():
        again = _outputs(net(*inputs))
        alone = _outputs(net(*(t[1:] for t in inputs)))
    for i, (a, b, c) in enumerate(zip(first, again, alone, strict=True)):
        scale = float(a.abs().max())
        assert torch.equal(a, b), f"output {i}: two eval passes differ"
        assert float((c[0] - a[1]).abs().max()) <= 1e-2 * scale, (
            f"output {i}: a sample's output depends on the other samples of the batch"
        )
        assert float((a[0] - a[1]).abs().max()) >= 1e-1 * scale, f"output {i}: the output ignores the input"


# --- recognizers α -------------------------------------------------------------------------------


def recognizer_input_size(name: str) -> tuple[int, int]:
    """The test input (H, W) of a recognizer, from its registered ``divisor`` (the coarsest
    feature map's stride): W at least 64 and two coarsest pixels, H one coarsest pixel more."""
    d = RECOGNIZERS[name].divisor
    w = d * max(2, math.ceil(64 / d))
    return w + d, w


def _recognizer_params() -> list:
    assert SLOW_RECOGNIZERS <= set(RECOGNIZERS)
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_RECOGNIZERS else name for name in RECOGNIZERS]


@pytest.mark.parametrize("name", _recognizer_params())
def test_recognizer_forward_backward(name: str) -> None:
    net = build_recognizer(name, num_joints=K)
    h, w = recognizer_input_size(name)
    stride = RECOGNIZERS[name].stride
    stacks = getattr(getattr(net, "config", None), "num_stacks", 1)  # the hourglass gives one map per stack
    check_net(net, (torch.randn(B, 3, h, w),), [(B, K, h // stride, w // stride)] * stacks)


# --- β, γ, δ, θ, ψ, φ ----------------------------------------------------------------------------

#: Heatmap size (h, w): divisible by 8 (the encoders' stride), and ψ's four poolings leave 2×2.
VAE_SIZE = (32, 24)


def vae_inputs_and_shapes(name: str, config: VAENetsConfig) -> tuple[tuple[torch.Tensor, ...], list[tuple[int, ...]]]:
    """Inputs of a VAE net at :data:`VAE_SIZE` and the shapes of its outputs (Sec. 4.2-4.3)."""
    h, w = VAE_SIZE
    latent = (B, config.latent_channels, h // 8, w // 8)
    x_star, s = torch.randn(B, 3, h, w), torch.rand(B, K, h, w)
    table = {
        "beta": ((x_star,), [latent, latent]),  # q_β(a | s, x): (mean, logvar)
        "gamma": ((x_star,), [latent, latent]),  # q_γ(g | s, x)
        "delta": ((s,), [latent, latent]),  # q_δ(z | s)
        "theta": ((s, torch.randn(latent), torch.randn(latent)), [(B, 3, h, w)] * 2),  # p_θ(x | s, a, g)
        "psi": ((x_star, s), [(B, 1, h, w)]),  # the mask
        "phi": ((torch.randn(latent),), [(B, K, h, w)] * 2),  # p_φ(s | z)
    }
    assert set(table) == set(VAE_NET_NAMES), "say here what a new VAE net takes and gives"
    return table[name]


@pytest.mark.parametrize("config_name", VAE_PRESETS)
@pytest.mark.parametrize("name", VAE_NET_NAMES)
def test_vae_net_forward_backward(name: str, config_name: str) -> None:
    config = VAENetsConfig.preset(config_name)
    nets = build_vae_nets(config, num_joints=K)
    assert set(nets) == set(VAE_NET_NAMES)
    inputs, shapes = vae_inputs_and_shapes(name, config)
    check_net(nets[name], inputs, shapes)


def test_mask_lies_strictly_between_zero_and_one() -> None:
    psi = build_vae_nets(VAENetsConfig.small(), num_joints=K)["psi"].eval()
    inputs, _ = vae_inputs_and_shapes("psi", VAENetsConfig.small())
    with torch.no_grad():
        mask = psi(*inputs)
    assert ((mask > 0) & (mask < 1)).all()
