"""Network sizes and MACs beside the paper's Table 8 ("Network size and computation speed").

:func:`network_summary` builds every network on PyTorch's ``meta`` device (no memory, no
arithmetic), counts its parameters, and counts its multiply-accumulates (MACs) for one image of
the dataset's input size with :class:`torch.utils.flop_counter.FlopCounterMode` (MACs = FLOPs / 2).
Table 8's "GFLOPs" are MACs as pose papers count them (HRNet-W32: 7.1 G at 256×192).

Counting convention. Table 8, like HRNet's ``get_model_summary`` and ``thop``, counts a
convolution as (weight elements) × (output pixels) — for a transposed convolution that is its
*output* resolution, stride² = 4× its true MACs. FlopCounterMode counts transposed convolutions at
their input resolution (the true MACs). Only the pose-paper convention reproduces Table 8:
SimpleBaseline ResNet-50 at 256×256 gives 12.9 G (Table 8: 11.99) against 7.2 G true, and φ,
made only of transposed convolutions, gives 1.06 G (Table 8: 1.13) against 0.27 G true. So
``macs`` follows Table 8's convention and ``macs_exact`` keeps FlopCounterMode's own count; they
differ only for nets with transposed convolutions (ResNet-50's head, θ's and ψ's up-convolutions,
φ). Batch norm, activations, pooling and upsampling are not counted, as in Table 8.

Rows: α, β, γ, δ, θ, ψ, φ, then the training total (α + β + γ + δ + θ + φ + ψ, β and γ counted
separately, as Table 8's totals are: 25.59 + 2×5.28 + 12.84 + 10.28 + 5.29 + 1.33 = 65.89M) and
the runtime total (α alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mirrornet.choices import DEFAULT_HEATMAP_STRIDE
from mirrornet.nets.layers import count_parameters
from mirrornet.nets.registry import RECOGNIZERS
from mirrornet.nets.vae_nets import VAENetsConfig, build_vae_nets

#: Input (H, W) of each dataset's crops (Sec. 5.1): square for LSP, 4:3 for MPII.
DATASET_INPUT_SIZES: dict[str, tuple[int, int]] = {"lsp": (256, 256), "mpii": (256, 192)}

#: Table 8: (parameters, MACs on LSP, MACs on MPII).
PAPER_TABLE8: dict[str, tuple[float, float, float]] = {
    "hourglass": (25.59e6, 26.17e9, 19.62e9),
    "resnet50": (34.00e6, 11.99e9, 8.99e9),
    "hrnet_w32": (28.54e6, 9.49e9, 7.12e9),
    "beta": (5.28e6, 1.11e9, 0.83e9),
    "gamma": (5.28e6, 1.11e9, 0.83e9),
    "theta": (12.84e6, 3.25e9, 2.44e9),
    "psi": (10.28e6, 1.42e9, 1.06e9),
    "delta": (5.29e6, 1.13e9, 0.85e9),
    "phi": (1.33e6, 1.13e9, 0.85e9),
}

#: Table 8's "MirrorNet (training)" rows, per recognizer.
PAPER_TRAINING_TOTALS: dict[str, tuple[float, float, float]] = {
    "hourglass": (65.89e6, 35.32e9, 26.48e9),
    "resnet50": (74.30e6, 21.14e9, 15.85e9),
    "hrnet_w32": (68.84e6, 18.64e9, 13.98e9),
}

_ROW_LABELS: dict[str, str] = {
    "beta": "β appearance recognizer",
    "gamma": "γ scene recognizer",
    "delta": "δ primitive recognizer",
    "theta": "θ image generator",
    "psi": "ψ mask estimator",
    "phi": "φ pose generator",
}


def _conv_macs_at_output(
    x_shape: Sequence[int], w_shape: Sequence[int], _bias: Any, _stride: Any, _padding: Any,
    _dilation: Any, transposed: bool, *args: Any, out_shape: Sequence[int] | None = None, **kwargs: Any,
) -> int:
    """FLOPs (2 × MACs) of a convolution as weight elements × output pixels × batch (Table 8)."""
    assert out_shape is not None
    return 2 * int(x_shape[0]) * prod(int(d) for d in w_shape) * prod(int(d) for d in out_shape[2:])


def count_macs(module: nn.Module, *inputs: torch.Tensor, transposed_at_output: bool = True) -> int:
    """Multiply-accumulates of one forward pass.

    Args:
        module: The network (any device; the ``meta`` device makes this free).
        *inputs: Its inputs, on the same device.
        transposed_at_output: Count transposed convolutions at their output resolution, as
            Table 8 does (True), or their true MACs (False, FlopCounterMode's own rule).

    Returns:
        The number of MACs (FLOPs / 2) of convolutions and matrix products.
    """
    mapping: dict[Any, Any] = {}
    if transposed_at_output:
        ops = torch.ops.aten
        mapping = {ops.convolution: _conv_macs_at_output, ops._convolution: _conv_macs_at_output}
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        module(*inputs)
    return int(counter.get_total_flops()) // 2


def _rel(value: float, paper: float | None) -> float | None:
    return None if paper is None else (value - paper) / paper


def _row(key: str, network: str, params: int, macs: int, macs_exact: int,
         paper: tuple[float, float] | None, dataset: str, size: tuple[int, int]) -> dict[str, Any]:
    paper_params, paper_macs = paper if paper is not None else (None, None)
    return {
        "key": key,
        "network": network,
        "dataset": dataset,
        "input_size": list(size),
        "params": params,
        "macs": macs,
        "macs_exact": macs_exact,
        "paper_params": paper_params,
        "paper_macs": paper_macs,
        "params_rel_diff": _rel(params, paper_params),
        "macs_rel_diff": _rel(macs, paper_macs),
    }


def network_summary(
    recognizer: str, dataset: str, vae_config: VAENetsConfig | None = None, num_joints: int = 16
) -> list[dict[str, Any]]:
    """Parameters and MACs of every MirrorNet network at a dataset's input size, beside Table 8.

    Args:
        recognizer: A key of :data:`mirrornet.nets.RECOGNIZERS` ("hourglass", "resnet50",
            "hrnet_w32" have Table 8 figures; others get None there).
        dataset: "lsp" (256×256 input) or "mpii" (256×192).
        vae_config: Sizes of β … φ; None for the paper's. Table 8 figures are given only for
            the paper's sizes.
        num_joints: Number of heatmaps K.

    Returns:
        One dict per row — α, β, γ, δ, θ, ψ, φ, training total, runtime total — with keys
        key, network, dataset, input_size, params, macs (Table 8's convention), macs_exact
        (FlopCounterMode's), paper_params, paper_macs, params_rel_diff, macs_rel_diff
        (relative differences (ours − paper) / paper, None where the paper has no figure).

    Raises:
        KeyError: For an unknown recognizer or dataset.
    """
    if dataset not in DATASET_INPUT_SIZES:
        raise KeyError(f"unknown dataset {dataset!r}; valid: {sorted(DATASET_INPUT_SIZES)}")
    if recognizer not in RECOGNIZERS:
        raise KeyError(f"unknown recognizer {recognizer!r}; valid: {sorted(RECOGNIZERS)}")
    config = VAENetsConfig.paper() if vae_config is None else vae_config
    is_paper_vae = config == VAENetsConfig.paper() and num_joints == 16
    column = 1 if dataset == "lsp" else 2
    size = DATASET_INPUT_SIZES[dataset]
    h, w = size[0] // 4, size[1] // 4  # heatmap resolution
    lh, lw = h // 8, w // 8  # latent resolution
    latent = config.latent_channels

    with torch.device("meta"):
        alpha = RECOGNIZERS[recognizer].builder(num_joints=num_joints).eval()
        nets = {k: v.eval() for k, v in build_vae_nets(config, num_joints).items()}
        image = torch.zeros(1, 3, *size)
        x_star = torch.zeros(1, 3, h, w)
        s = torch.zeros(1, num_joints, h, w)
        code = torch.zeros(1, latent, lh, lw)
        inputs: dict[str, tuple[torch.Tensor, ...]] = {
            "beta": (x_star,), "gamma": (x_star,), "delta": (s,),
            "theta": (s, code, code), "psi": (x_star, s), "phi": (code,),
        }
        counted = {"alpha": (count_parameters(alpha), count_macs(alpha, image), count_macs(alpha, image, transposed_at_output=False))}
        for key in ("beta", "gamma", "delta", "theta", "psi", "phi"):
            net = nets[key]
            counted[key] = (
                count_parameters(net),
                count_macs(net, *inputs[key]),
                count_macs(net, *inputs[key], transposed_at_output=False),
            )

    def paper_of(key: str) -> tuple[float, float] | None:
        figures = PAPER_TABLE8.get(key)
        return None if figures is None else (figures[0], figures[column])

    rows = [_row("alpha", f"α recognizer ({recognizer})", *counted["alpha"], paper_of(recognizer), dataset, size)]
    for key in ("beta", "gamma", "delta", "theta", "psi", "phi"):
        rows.append(_row(key, _ROW_LABELS[key], *counted[key], paper_of(key) if is_paper_vae else None, dataset, size))
    totals = [sum(v[i] for v in counted.values()) for i in range(3)]
    train_paper = PAPER_TRAINING_TOTALS.get(recognizer) if is_paper_vae else None
    rows.append(_row(
        "training_total", f"training total ({recognizer}+β+γ+δ+θ+φ+ψ)", *totals,
        None if train_paper is None else (train_paper[0], train_paper[column]), dataset, size,
    ))
    rows.append(_row("runtime_total", f"runtime total ({recognizer} only)", *counted["alpha"], paper_of(recognizer), dataset, size))
    return rows


def _fmt(value: float | None, scale: float, digits: int = 2) -> str:
    return "—" if value is None else f"{value / scale:.{digits}f}"


def _fmt_rel(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.1f}%"


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :func:`network_summary` rows (Table 8 layout, with our figures).

    Args:
        rows: Rows as returned by :func:`network_summary` (any subset, any datasets).

    Returns:
        The table: network, parameters (M) ours / paper / difference, GMACs ours / paper /
        difference, and the exact GMACs (transposed convolutions at their true cost).
    """
    header = ("network", "params M", "paper", "diff", "GMACs", "paper", "diff", "exact GMACs")
    body = [
        (
            str(r["network"]),
            _fmt(r["params"], 1e6),
            _fmt(r.get("paper_params"), 1e6),
            _fmt_rel(r.get("params_rel_diff")),
            _fmt(r["macs"], 1e9),
            _fmt(r.get("paper_macs"), 1e9),
            _fmt_rel(r.get("macs_rel_diff")),
            _fmt(r.get("macs_exact"), 1e9),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))

    out: list[str] = []
    # One block per dataset, in the order given, each under its own title line: the rows of
    # two datasets share the network names, so one block would not say whose row is whose.
    datasets = list(dict.fromkeys((str(r["dataset"]), tuple(r["input_size"])) for r in rows))
    for name, (hh, ww) in datasets:
        if out:
            out.append("")
        stride = DEFAULT_HEATMAP_STRIDE
        out.append(f"{name.upper()} input {hh}×{ww} (heatmaps {hh // stride}×{ww // stride})")
        out.append(line(header))
        out.append("  ".join("-" * n for n in widths))
        out.extend(line(b) for r, b in zip(rows, body) if (r["dataset"], tuple(r["input_size"])) == (name, (hh, ww)))
    out.append("GMACs count a transposed convolution at its output resolution, as Table 8 does; "
               "'exact' counts its true multiply-accumulates.")
    return "\n".join(out)
