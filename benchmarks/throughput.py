"""Throughput of MirrorNet training and inference, measured side by side in one run.

One command measures, on one device and in one process, so that ratios between the figures hold
even on a machine that other jobs share:

* ``training`` — one optimiser step of every stage kind of the curriculum (α alone by Eq. 30,
  ψ, the two VAEs by Eqs. 31 + 34, the labelled bound Eq. 27, the semi-supervised bound Eq. 29)
  in images/s, on synthetic tensors (the data pipeline is left out; on a CPU with
  ``--train-threads`` threads, 1 by default as the CPU presets train). The stage kinds are
  measured in interleaved rounds, so that the MirrorNet ÷ baseline step-time ratio compares
  steps taken under the same load; it is printed beside the ratio of their FLOPs (counted by
  ``torch.utils.flop_counter.FlopCounterMode``, forward + backward) and Table 8's ratio of
  forward MACs. On a GPU: model FLOP utilisation (MFU) against the device's dense peak.
* ``options`` — fp32, bf16 autocast, channels_last, torch.compile (α) and fused Adam, alone and
  combined, for α alone and the labelled bound. Options a device cannot run, or that take too
  long for ``--quick`` (torch.compile on a CPU, or alone on a GPU), are skipped with the reason.
* ``data`` — the data pipeline on real LSPET images (JPEG decode, affine crop and augmentation,
  x*, target encoding, normalisation), images/s of one worker process (one thread) at 256×256
  and 64×64, with the time of each part.
* ``inference`` — α images/s at batch 1 and 64: PyTorch eager against ONNX Runtime on the CPU
  (``--threads`` intra-op threads each), PyTorch fp32 and bf16 on a GPU.
* ``predict`` — ``mirrornet predict`` on real photos (hrnet_w32 at 256×256, drawing off),
  images/s per backend with the time of each part, and the command's wall clock.

The figures are printed, appended to ``benchmarks/RESULTS.md`` as a dated section (machine,
torch version, command, one markdown table per section, and each target of the speed issue
marked met or missed by how much, with what bounds it), and written as JSON to
``benchmarks/results/throughput-<device>.json``.

Usage:
    python benchmarks/throughput.py --device cpu --quick   # CPU presets' networks; < 5 min on 2 cores
    python benchmarks/throughput.py --device cpu           # + every recognizer, batch 64, torch.compile
    python benchmarks/throughput.py --device cuda --quick  # the paper's three α at 256×256, options on HRNet
    python benchmarks/throughput.py --device cuda          # + the options grid for every recognizer
    python benchmarks/throughput.py --sections inference predict --recognizers hrnet_w32
    python benchmarks/throughput.py --smoke --sections training   # seconds, writes nothing

The real images come from ``--data-root`` (default ``../shared/data`` beside the repository,
holding ``lspet/``); without them the ``data`` and ``predict`` sections are skipped, saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mirrornet.curriculum import NETS
from mirrornet.fileio import json_safe, write_text_atomic
from mirrornet.stage_objectives import stage_terms
from mirrornet.training.run import apply_speed_options

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_table import machine_description  # noqa: E402  (a sibling script: the results header)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "data"
SECTIONS: tuple[str, ...] = ("training", "options", "data", "inference", "predict")

#: The stage kinds of the curriculum (a representative stage of each) and their labels.
STAGE_KINDS: tuple[tuple[str, str], ...] = (
    ("pretrain_alpha", "α alone (Eq. 30)"),
    ("pretrain_mask", "ψ (mask MSE)"),
    ("pretrain_vaes", "VAEs (Eq. 31 + 34)"),
    ("supervised_first", "labelled bound (Eq. 27)"),
    ("semi_supervised", "semi-supervised bound (Eq. 29)"),
)
#: The baseline step (α alone) and the MirrorNet step (the labelled bound) of the ratio target.
BASELINE_KIND, MIRRORNET_KIND = "pretrain_alpha", "supervised_first"

#: Dense tensor-core peaks in TFLOP/s, (bfloat16, TF32), by a substring of the device name; the
#: first match wins. fp32 runs use TF32 (cuDNN's default for convolutions).
DEVICE_PEAKS: tuple[tuple[str, float, float], ...] = (
    ("H100 PCIe", 756.0, 378.0),
    ("H100 NVL", 835.0, 418.0),
    ("H100", 989.0, 494.7),
    ("H200", 989.0, 494.7),
    ("A100", 312.0, 156.0),
)

#: The targets of the speed issue.
TARGET_GPU_STEP = 1500.0  # images/s, MirrorNet-HRNet labelled step, bf16, 256×256
TARGET_RATIO_SLACK = 1.1  # step-time ratio ≤ 1.1 × FLOP ratio
TARGET_GPU_INFERENCE = 5000.0  # α images/s on the GPU
TARGET_DATA = 500.0  # images/s per worker at 256×256
TARGET_ORT_LATENCY = 0.5  # ONNX Runtime latency ≤ ½ of PyTorch eager's at batch 1
TARGET_PREDICT = 10.0  # images/s, hrnet_w32 at 256×256, decode included, drawing off


# ------------------------------------------------------------------------------------------------
# What is measured


@dataclass(frozen=True)
class Variant:
    """A combination of speed options of a training step."""

    name: str
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    fused: bool = False


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("fp32"),
        Variant("bf16", bf16=True),
        Variant("channels_last", channels_last=True),
        Variant("compile", compile=True),
        Variant("fused_adam", fused=True),
        Variant("bf16+cl+fused", bf16=True, channels_last=True, fused=True),
        Variant("bf16+cl+fused+compile", bf16=True, channels_last=True, compile=True, fused=True),
    )
}


@dataclass(frozen=True)
class TrainSetup:
    """The networks, input and batch of a training measurement.

    Attributes:
        label: the row's name.
        recognizer: α (``mirrornet.nets.RECOGNIZERS``).
        vae_preset: ``paper`` or ``small``.
        input_size: side of the square crops.
        batch_size: images per step (the largest that fits is used when it does not).
        codec: the target heatmaps (``onehot``, the paper's, or ``gaussian``).
    """

    label: str
    recognizer: str
    vae_preset: str
    input_size: int
    batch_size: int
    codec: str = "onehot"


@dataclass
class Plan:
    """Everything a run measures, and how often."""

    quick: bool
    threads: int
    train_setups: list[TrainSetup]
    train_variants: list[str]
    option_setups: list[str]
    option_variants: list[str]
    warmup: int
    steps: int
    rounds: int
    flop_batch: int
    data_sizes: list[int]
    data_images: int
    inference: list[tuple[str, int, tuple[int, ...]]]
    inference_backends: list[str]
    inference_repeats: int
    inference_budget_s: float
    predict_recognizer: str
    predict_size: int
    predict_images: int
    profile: bool = True


def make_plan(
    device: str,
    quick: bool = False,
    smoke: bool = False,
    threads: int = 2,
    recognizers: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> Plan:
    """The measurements of a run on ``device`` (``cpu`` or ``cuda``).

    CPU: the CPU presets' networks (``hourglass_1x32`` with the small VAEs, at 64×64 as in
    ``demo``/``lsp_small``/``lsp``, and at 96×96 as in ``medium``) for training, PyTorch eager
    against ONNX Runtime for inference. GPU: the paper's three recognizers with the paper's VAEs
    at 256×256, batch 128. ``quick`` keeps each to a few steps and the smallest useful set;
    ``smoke`` is the tests' setting (tiny networks, one step).

    Args:
        device: ``cpu`` or ``cuda``.
        quick: the short run.
        smoke: the tiny run of the tests.
        threads: CPU intra-op threads of PyTorch and ONNX Runtime.
        recognizers: replace the recognizers of the training and inference sections.
        batch_size: replace the training batch size.
    """
    cuda = device == "cuda"
    if smoke:
        plan = Plan(
            quick=True, threads=threads,
            train_setups=[TrainSetup("tiny (hourglass_1x32, small VAEs)", "hourglass_1x32", "small", 64, 4, "gaussian")],
            train_variants=["fp32"], option_setups=["tiny (hourglass_1x32, small VAEs)"],
            option_variants=["fp32", "channels_last", "fused_adam", "bf16", "compile"],
            warmup=1, steps=1, rounds=1, flop_batch=1,
            data_sizes=[64], data_images=3,
            inference=[("hourglass_1x32", 64, (1, 2))], inference_backends=["torch", "onnx"],
            inference_repeats=1, inference_budget_s=5.0,
            predict_recognizer="hourglass_1x32", predict_size=64, predict_images=2, profile=False,
        )
    elif cuda:
        setups = [TrainSetup(f"{r} (paper VAEs)", r, "paper", 256, 128) for r in ("hrnet_w32", "resnet50", "hourglass")]
        plan = Plan(
            quick=quick, threads=threads,
            train_setups=setups,
            train_variants=["fp32", "bf16+cl+fused"] if quick else ["fp32", "bf16+cl+fused", "bf16+cl+fused+compile"],
            option_setups=[setups[0].label] if quick else [s.label for s in setups],
            option_variants=list(VARIANTS),
            warmup=2 if quick else 3, steps=3 if quick else 5, rounds=3, flop_batch=4,
            data_sizes=[256, 64], data_images=200 if quick else 1000,
            inference=[(r, 256, (1, 64, 256)) for r in ("hrnet_w32", "resnet50", "hourglass")],
            inference_backends=["torch", "torch-bf16"] if quick else ["torch", "torch-bf16", "torch-bf16-compile"],
            inference_repeats=10, inference_budget_s=10.0,
            predict_recognizer="hrnet_w32", predict_size=256, predict_images=32 if quick else 128,
        )
    else:
        demo = TrainSetup("CPU presets at 64×64 (hourglass_1x32, small VAEs)", "hourglass_1x32", "small", 64, 32, "gaussian")
        medium = TrainSetup("medium preset at 96×96 (hourglass_1x32, small VAEs)", "hourglass_1x32", "small", 96, 32, "gaussian")
        paper = ("hrnet_w32", "resnet50", "hourglass")
        plan = Plan(
            quick=quick, threads=threads,
            train_setups=[demo] if quick else [demo, medium],
            train_variants=["fp32"],
            option_setups=[demo.label],
            option_variants=list(VARIANTS),
            warmup=1, steps=2 if quick else 4, rounds=3, flop_batch=2,
            data_sizes=[256, 64], data_images=200 if quick else 600,  # a 48-photo reading varied by ±15 %
            inference=(
                [("hourglass_1x32", 64, (1, 64)), ("hrnet_w32", 256, (1,))]
                if quick
                else [("hourglass_1x32", 64, (1, 64))] + [(r, 256, (1, 64)) for r in paper]
            ),
            inference_backends=["torch", "onnx"],
            inference_repeats=5, inference_budget_s=6.0 if quick else 30.0,
            predict_recognizer="hrnet_w32", predict_size=256, predict_images=6 if quick else 32,
        )
    if recognizers:
        # The plan's first setup and batches, at 256×256 for the paper's recognizers.
        template, batches = plan.train_setups[0], plan.inference[0][2]
        sizes = {r: 256 if r in ("hrnet_w32", "resnet50", "hourglass") else template.input_size for r in recognizers}
        plan.train_setups = [
            replace(template, label=f"{r} ({template.vae_preset} VAEs)", recognizer=r, input_size=sizes[r])
            for r in recognizers
        ]
        plan.option_setups = [plan.train_setups[0].label]
        plan.inference = [(r, sizes[r], batches) for r in recognizers]
    if batch_size:
        plan.train_setups = [replace(s, batch_size=int(batch_size)) for s in plan.train_setups]
    return plan


def variant_skip_reason(variant: Variant, device: str, quick: bool) -> str | None:
    """Why ``variant`` is not measured on ``device`` (None: it is).

    On a CPU, bf16 autocast is a GPU option (a CPU without AMX runs bfloat16 convolutions slower
    than float32), and torch.compile takes minutes of C++ compilation per network, too long for
    ``--quick``.
    """
    if device == "cpu":
        if variant.bf16:
            return "bf16 autocast is a GPU option: CPUs without AMX run bfloat16 convolutions slower than float32"
        if variant.compile and quick:
            return "torch.compile on a CPU compiles C++ for minutes per network (116 s for hourglass_1x32); run without --quick"
    elif device == "cuda":
        if variant.bf16 and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            return "this GPU has no bfloat16"
        if variant.compile and quick and not variant.bf16:
            return "--quick measures torch.compile combined with the other options only (a minute or more per compilation)"
    if variant.compile and not torch._dynamo.is_dynamo_supported():  # no public name for this check
        return "torch.compile is not supported on this Python"
    return None


def device_peak_tflops(name: str, bf16: bool) -> float | None:
    """The device's dense peak in TFLOP/s for bf16 (or TF32) tensor-core work; None if unknown."""
    for key, peak_bf16, peak_tf32 in DEVICE_PEAKS:
        if key.lower() in name.lower():
            return peak_bf16 if bf16 else peak_tf32
    return None


def paper_flop_ratio(recognizer: str) -> float | None:
    """Table 8's MirrorNet (training) ÷ α forward MACs on LSP (18.64 / 9.49 for HRNet-W32)."""
    from mirrornet.nets.summary import PAPER_TABLE8, PAPER_TRAINING_TOTALS

    if recognizer not in PAPER_TRAINING_TOTALS:
        return None
    return PAPER_TRAINING_TOTALS[recognizer][1] / PAPER_TABLE8[recognizer][1]


def verdict(value: float | None, target: float, higher_is_better: bool = True) -> tuple[bool | None, str]:
    """(met, text): 'met' or 'missed by N %' (None and 'not measured' without a value)."""
    if value is None or not math.isfinite(value):
        return None, "not measured"
    if higher_is_better:
        met = value >= target
        short = (target - value) / target
    else:
        met = value <= target
        short = (value - target) / target
    return met, "met" if met else f"missed by {100 * short:.0f} %"


# ------------------------------------------------------------------------------------------------
# Timing helpers


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_calls(fn: Callable[[], Any], device: torch.device, repeats: int, budget_s: float, warmup: int = 1) -> list[float]:
    """Seconds of each of at most ``repeats`` calls of ``fn`` (at least one), stopping once
    ``budget_s`` is spent; ``warmup`` untimed calls first."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    spent = 0.0
    while len(times) < max(1, repeats) and (not times or spent < budget_s):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return times


def profile_top(fn: Callable[[], Any], device: torch.device, steps: int = 2, top: int = 5) -> dict[str, Any]:
    """Where the time of ``fn`` goes: the top ops by self time (device time on a GPU) and, on a
    GPU, the fraction of the wall clock its kernels kept the GPU busy (approximate: the
    profiler adds its own overhead)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    fn()
    _sync(device)
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            fn()
        _sync(device)
    wall = time.perf_counter() - start
    from torch.autograd import DeviceType

    events = prof.key_averages()
    # Operator rows run on the CPU; on a GPU each also carries the time of the kernels it
    # launched itself (its self device time), and the kernels have rows of their own.
    ops = [e for e in events if getattr(e, "device_type", DeviceType.CPU) == DeviceType.CPU]
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"

    def own(e: Any) -> float:
        return float(getattr(e, attr, 0.0) or 0.0)

    total_us = sum(own(e) for e in ops)
    ranked = sorted(ops, key=own, reverse=True)[:top]
    out: dict[str, Any] = {"top": [{"op": e.key, "share": own(e) / max(total_us, 1e-9)} for e in ranked], "wall_s": wall}
    if device.type == "cuda":
        kernels_us = sum(float(getattr(e, "self_device_time_total", 0.0) or 0.0) for e in events
                         if getattr(e, "device_type", DeviceType.CPU) != DeviceType.CPU)
        out["gpu_busy"] = min(1.0, kernels_us * 1e-6 / max(wall, 1e-9))
    return out


def _top_text(profile: dict[str, Any] | None, n: int = 3) -> str:
    if not profile:
        return ""
    ops = ", ".join(f"{t['op']} {100 * t['share']:.0f} %" for t in profile["top"][:n])
    busy = f"GPU busy {100 * profile['gpu_busy']:.0f} % of the wall clock; " if "gpu_busy" in profile else ""
    return f"{busy}top ops: {ops}"


# ------------------------------------------------------------------------------------------------
# Training steps


def setup_config(setup: TrainSetup):
    """The Config of a training setup: synthetic data format, its networks, crops and batch."""
    from mirrornet.config import config_from_dict

    n_annotated = max(1, (3 * setup.batch_size) // 4)  # the paper's 96 + 32 of 128
    return config_from_dict({
        "data": {"format": "synthetic", "input_size": [setup.input_size, setup.input_size], "codec": setup.codec,
                 "sigma": 1.0 if setup.input_size <= 96 else 2.0},
        "model": {"recognizer": setup.recognizer, "vae_preset": setup.vae_preset},
        "train": {"batch_size": setup.batch_size, "n_annotated": n_annotated,
                  "n_unannotated": setup.batch_size - n_annotated, "alpha_grad_norm_every": 0},
    })


def synthetic_batches(config, batch_size: int, device: torch.device, channels_last: bool, seed: int = 0) -> dict[str, dict]:
    """Two batches in the layout of ``PoseDataset`` (the keys the objectives read): ``annotated``
    (every image annotated) and ``mixed`` (the semi-supervised composition, the non-annotated
    images with zero targets as the dataset gives them)."""
    from mirrornet.data.builders import build_codec_for
    from mirrornet.skeleton import NUM_JOINTS

    g = torch.Generator().manual_seed(seed)
    h, w = config.data.input_size
    stride = config.data.heatmap_stride
    hh, hw = h // stride, w // stride
    codec = build_codec_for(config)
    joints = (0.1 + 0.8 * torch.rand(batch_size, NUM_JOINTS, 2, generator=g)) * torch.tensor([w, h])
    encoded = [codec.encode(j.numpy(), np.ones(NUM_JOINTS)) for j in joints]
    heatmaps = torch.from_numpy(np.stack([e[0] for e in encoded]))
    weights = torch.from_numpy(np.stack([e[1] for e in encoded]))
    image = torch.randn(batch_size, 3, h, w, generator=g)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    common = {
        "image": image,
        "x_star": torch.randn(batch_size, 3, hh, hw, generator=g),
        "silhouette": (torch.rand(batch_size, 1, hh, hw, generator=g) > 0.5).float(),
        "has_silhouette": torch.ones(batch_size),
    }
    n_annotated = min(batch_size, max(1, config.train.n_annotated * batch_size // config.train.batch_size))
    annotated = (torch.arange(batch_size) < n_annotated).float()
    mixed = dict(common, heatmaps=heatmaps * annotated[:, None, None, None],
                 joint_weights=weights * annotated[:, None], annotated=annotated)
    full = dict(common, heatmaps=heatmaps, joint_weights=weights, annotated=torch.ones(batch_size))
    move = lambda b: {k: v.to(device, non_blocking=True) for k, v in b.items()}  # noqa: E731
    return {"annotated": move(full), "mixed": move(mixed)}


def _set_stage_modes(model: torch.nn.Module, stage) -> list[torch.nn.Parameter]:
    """As StageModule: the stage's nets train, the others are frozen and in eval mode; returns
    the parameters the stage updates (``StageModule.trainable_parameters``)."""
    model.train()
    for name in NETS:
        getattr(model, name).requires_grad_(name in stage.trains)
    for name in stage.frozen:
        getattr(model, name).eval()
    if isinstance(model.alpha_logvar, torch.nn.Parameter):
        model.alpha_logvar.requires_grad_("alpha" in stage.trains)
    return [p for p in model.parameters() if p.requires_grad]


def make_step(model, stage, config, optimizer, batch: dict, bf16: bool, device: torch.device) -> Callable[[], None]:
    """One training step of ``stage`` as the Lightning module takes it: the stage's objectives
    summed under autocast, the loss's finiteness and every logged term read back (the device
    syncs the module does every step), backward, Adam."""

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            terms, total = stage_terms(stage.objectives, model, batch, config, 0.0)
        loss = -total
        if not bool(torch.isfinite(loss.detach())):
            raise FloatingPointError(f"non-finite loss in the {stage.name} step")
        for value in terms.values():
            float(value.detach())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def count_step_flops(setup: TrainSetup, device: torch.device, batch: int) -> dict[str, float]:
    """FLOPs per image of one training step (forward + backward) of every stage kind, counted
    by FlopCounterMode in eager float32 at a small batch (FLOPs grow linearly with it)."""
    from torch.utils.flop_counter import FlopCounterMode

    from mirrornet.checkpoints import build_model
    from mirrornet.curriculum import StageData, stage_by_name

    config = setup_config(replace(setup, batch_size=max(batch, 2)))
    torch.manual_seed(0)
    model = build_model(config).to(device)
    batches = synthetic_batches(config, max(batch, 2), device, channels_last=False)
    flops: dict[str, float] = {}
    for kind, _ in STAGE_KINDS:
        stage = stage_by_name(kind)
        optimizer = torch.optim.Adam(_set_stage_modes(model, stage), lr=1e-3)
        data = batches["mixed" if stage.data is StageData.MIXED else "annotated"]
        step = make_step(model, stage, config, optimizer, data, bf16=False, device=device)
        with FlopCounterMode(display=False) as counter:
            step()
        flops[kind] = counter.get_total_flops() / max(batch, 2)
    del model, batches
    return flops


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def measure_training(
    setup: TrainSetup, variant: Variant, kinds: Sequence[str], plan: Plan, device: torch.device,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Images/s of the training step of each of ``kinds`` under ``variant``, in interleaved rounds.

    On a GPU the batch is halved until it fits. Returns {"batch", "kinds": {kind: {...}},
    "warmup_s", "profile"} or {"skipped": reason}.
    """
    batch_size = setup.batch_size
    while True:
        try:
            return _measure_training_at(setup, variant, kinds, plan, device, batch_size)
        except Exception as exc:  # noqa: BLE001 - an OOM retries smaller; anything else is reported
            oom, error = _is_oom(exc), _error_text(exc)
        # Out of the except block: the failed attempt's frames, and the tensors they hold, are gone.
        _free(device)
        if device.type == "cuda" and oom and batch_size > 8:
            log(f"    batch {batch_size} does not fit: trying {batch_size // 2}")
            batch_size //= 2
            continue
        return {"skipped": error}


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _measure_training_at(setup, variant, kinds, plan, device, batch_size) -> dict[str, Any]:
    from mirrornet.checkpoints import build_model
    from mirrornet.curriculum import StageData, stage_by_name

    config = setup_config(replace(setup, batch_size=batch_size))
    torch.manual_seed(0)
    model = build_model(config).to(device)
    config.train.channels_last, config.train.compile = variant.channels_last, variant.compile
    apply_speed_options(model, config)  # as a training run applies them
    batches = synthetic_batches(config, batch_size, device, variant.channels_last)
    steps: dict[str, Callable[[], None]] = {}
    for kind in kinds:
        stage = stage_by_name(kind)
        fused = {"fused": True} if variant.fused else {}
        optimizer = torch.optim.Adam(_set_stage_modes(model, stage), lr=1e-3, **fused)
        data = batches["mixed" if stage.data is StageData.MIXED else "annotated"]
        steps[kind] = make_step(model, stage, config, optimizer, data, variant.bf16, device)

    def run(kind: str, n: int) -> float:
        _set_stage_modes(model, stage_by_name(kind))
        _sync(device)
        start = time.perf_counter()
        for _ in range(n):
            steps[kind]()
        _sync(device)
        return time.perf_counter() - start

    start = time.perf_counter()
    for kind in kinds:
        run(kind, plan.warmup)  # allocations, cuDNN's algorithm search, compilation
    warmup_s = time.perf_counter() - start
    per_step: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(plan.rounds):
        for kind in kinds:  # interleaved: every kind is measured under the same load
            per_step[kind].append(run(kind, plan.steps) / plan.steps)
    out: dict[str, Any] = {"batch": batch_size, "warmup_s": warmup_s, "kinds": {}}
    for kind, times in per_step.items():
        median = statistics.median(times)
        out["kinds"][kind] = {
            "step_s": median,
            "images_per_s": batch_size / median,
            "images_per_s_range": [batch_size / max(times), batch_size / min(times)],
        }
    if plan.profile and MIRRORNET_KIND in steps and not variant.compile:
        _set_stage_modes(model, stage_by_name(MIRRORNET_KIND))
        out["profile"] = profile_top(steps[MIRRORNET_KIND], device)
    if device.type == "cuda":
        out["max_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        torch.cuda.reset_peak_memory_stats(device)
    del model, batches, steps
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def run_training(plan: Plan, device: torch.device, sections: Sequence[str], log: Callable[[str], None]) -> dict[str, Any]:
    """The ``training`` and ``options`` sections: every (setup, variant, stage kind) measured once."""
    all_kinds = [k for k, _ in STAGE_KINDS]
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    flops: dict[str, dict[str, float]] = {}
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    for setup in plan.train_setups:
        variants: dict[str, list[str]] = {}
        if "training" in sections:
            for name in plan.train_variants:
                variants[name] = list(all_kinds)
        if "options" in sections and setup.label in plan.option_setups:
            for name in plan.option_variants:
                variants.setdefault(name, [BASELINE_KIND, MIRRORNET_KIND])
        if not variants:
            continue
        log(f"  {setup.label}: counting FLOPs")
        try:
            flops[setup.label] = count_step_flops(setup, device, plan.flop_batch)
        except Exception as exc:  # noqa: BLE001 - a failed count leaves MFU out, not the timings
            skipped.append({"section": "training", "what": f"{setup.label} FLOPs", "reason": _error_text(exc)})
            flops[setup.label] = {}
        for name, kinds in variants.items():
            variant = VARIANTS[name]
            reason = variant_skip_reason(variant, device.type, plan.quick)
            if reason:
                skipped.append({"section": "options", "what": f"{setup.label}, {name}", "reason": reason})
                log(f"  {setup.label}, {name}: skipped ({reason})")
                continue
            log(f"  {setup.label}, {name}: {len(kinds)} stage kinds × {plan.rounds} rounds of {plan.steps} steps")
            result = measure_training(setup, variant, kinds, plan, device, log)
            if "skipped" in result:
                skipped.append({"section": "training", "what": f"{setup.label}, {name}", "reason": result["skipped"]})
                log(f"    skipped: {result['skipped']}")
                continue
            for kind, figures in result["kinds"].items():
                per_image = flops[setup.label].get(kind)
                peak = device_peak_tflops(device_name, variant.bf16) if device.type == "cuda" else None
                mfu = per_image * figures["images_per_s"] / (peak * 1e12) if (per_image and peak) else None
                rows.append({
                    "setup": setup.label, "recognizer": setup.recognizer, "input": setup.input_size,
                    "batch": result["batch"], "variant": name, "kind": kind,
                    "images_per_s": figures["images_per_s"], "images_per_s_range": figures["images_per_s_range"],
                    "step_ms": 1e3 * figures["step_s"], "flops_per_image": per_image, "mfu": mfu,
                    "peak_tflops": peak,
                })
                log(f"    {kind:17s} {figures['images_per_s']:9.1f} images/s"
                    + (f"  MFU {100 * mfu:.1f} %" if mfu is not None else ""))
            if "profile" in result:
                for row in rows:
                    if row["setup"] == setup.label and row["variant"] == name and row["kind"] == MIRRORNET_KIND:
                        row["profile"] = result["profile"]
            if "max_memory_gib" in result:
                for row in rows:
                    if row["setup"] == setup.label and row["variant"] == name:
                        row["max_memory_gib"] = result["max_memory_gib"]
    ratios = training_ratios(rows, flops)
    return {"rows": rows, "flops": flops, "ratios": ratios, "skipped": skipped}


def training_ratios(rows: Sequence[dict[str, Any]], flops: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """MirrorNet ÷ baseline per (setup, variant): step time per image, measured FLOPs, Table 8."""
    out = []
    index = {(r["setup"], r["variant"], r["kind"]): r for r in rows}
    for (setup, variant, kind), row in index.items():
        if kind != MIRRORNET_KIND or (setup, variant, BASELINE_KIND) not in index:
            continue
        base = index[(setup, variant, BASELINE_KIND)]
        time_ratio = base["images_per_s"] / row["images_per_s"]  # per-image step time ratio
        f = flops.get(setup, {})
        flop_ratio = f[MIRRORNET_KIND] / f[BASELINE_KIND] if f.get(MIRRORNET_KIND) and f.get(BASELINE_KIND) else None
        out.append({
            "setup": setup, "recognizer": row["recognizer"], "variant": variant, "time_ratio": time_ratio,
            "flop_ratio": flop_ratio, "table8_ratio": paper_flop_ratio(row["recognizer"]),
            "time_over_flops": time_ratio / flop_ratio if flop_ratio else None,
        })
    return out


# ------------------------------------------------------------------------------------------------
# Data pipeline


def lspet_root(data_root: Path) -> Path | None:
    """``data_root/lspet`` when it holds LSPET (joints.mat and images/), else None."""
    root = Path(data_root) / "lspet"
    return root if (root / "joints.mat").is_file() and (root / "images").is_dir() else None


def _no_lspet(data_root: Path) -> dict[str, str]:
    """The result of a section that reads LSPET photos when ``data_root`` holds none."""
    return {"skipped": f"no LSPET images under {data_root} (give --data-root, the folder holding lspet/)"}


def run_data(plan: Plan, data_root: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Images/s of one worker process (one thread) turning LSPET photos into training items, and
    the time of each part: decode, crop (+ augmentation), x* (area-averaged shrink), target
    encoding, normalisation; "other" is the rest of ``PoseDataset.__getitem__``. The files are
    read once first, so that the figures are CPU work, not disk reads."""
    from mirrornet.config import config_from_dict
    from mirrornet.data import PoseDataset, load_image
    from mirrornet.data.dataset import item_seed
    from mirrornet.data.lsp import read_lspet
    from mirrornet.data.images import IMAGE_BACKENDS, opencv_module
    from mirrornet.data.transforms import apply_affine, get_affine, normalize_image, warp_affine, warp_affine_area
    from mirrornet.data.builders import build_codec_for, build_transform

    root = lspet_root(data_root)
    if root is None:
        return _no_lspet(data_root)
    records = read_lspet(root)[: plan.data_images]
    for record in records:
        # The files in the page cache, as after a training run's first epoch: the figures are
        # CPU work, not disk reads.
        Path(record.image).read_bytes()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a DataLoader worker
    rows = []
    backends = [b for b in IMAGE_BACKENDS if b != "opencv" or opencv_module() is not None]
    try:
        for size, backend in itertools.product(plan.data_sizes, backends):
            config = config_from_dict({"data": {"format": "synthetic", "input_size": [size, size], "codec": "onehot",
                                                "image_backend": backend}})
            transform = build_transform(config, augment=True)
            codec = build_codec_for(config)
            dataset = PoseDataset(records, transform, codec, seed=0)
            dataset[0]  # warm-up: imports, first allocations
            start = time.perf_counter()
            for i in range(len(dataset)):
                dataset[i]
            total = time.perf_counter() - start
            parts = dict.fromkeys(("decode", "crop", "x_star", "encode", "normalise"), 0.0)
            for i, record in enumerate(records):
                t0 = time.perf_counter()
                image = load_image(record.image, exif_orientation=False, backend=backend)
                t1 = time.perf_counter()
                mult, rot, flipped = transform.sample(np.random.default_rng(item_seed(0, 0, i)))
                affine = get_affine(record.center, record.scale * mult, transform.input_size, rot, flipped, transform.padding)
                crop = warp_affine(image, affine, transform.input_size, backend)
                t2 = time.perf_counter()
                x_star = warp_affine_area(image, transform.heatmap_affine(affine), transform.heatmap_size, backend)
                t3 = time.perf_counter()
                codec.encode(apply_affine(record.joints, affine), record.labelled)
                t4 = time.perf_counter()
                normalize_image(crop)
                normalize_image(x_star)
                t5 = time.perf_counter()
                for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    parts[key] += dt
            n = len(records)
            per_item = {k: 1e3 * v / n for k, v in parts.items()}
            per_item["other"] = max(0.0, 1e3 * total / n - sum(per_item.values()))
            rows.append({"input": size, "image_backend": backend, "images": n, "images_per_s": n / total,
                         "ms_per_image": per_item})
            log(f"  {size}×{size}, {backend}: {n / total:.0f} images/s per worker "
                + ", ".join(f"{k} {v:.2f} ms" for k, v in per_item.items()))
    finally:
        torch.set_num_threads(threads)
    return {"rows": rows, "root": str(root)}


def best_data_row(data: dict[str, Any]) -> dict[str, Any] | None:
    """The fastest measured data-pipeline row at 256×256 (over the warp backends), or None."""
    rows = [r for r in data.get("rows", []) if r["input"] == 256]
    return max(rows, key=lambda r: r["images_per_s"], default=None)


# ------------------------------------------------------------------------------------------------
# Inference


def alpha_gflops(recognizer: str, size: int) -> float:
    """GFLOPs of one forward pass of α for one image (2 × its true MACs, counted on the meta
    device: no memory, no arithmetic)."""
    from mirrornet.nets import build_recognizer
    from mirrornet.nets.summary import count_macs

    with torch.device("meta"):
        alpha = build_recognizer(recognizer).eval()
    return 2 * count_macs(alpha, torch.empty(1, 3, size, size, device="meta"), transposed_at_output=False) / 1e9


def run_inference(plan: Plan, device: torch.device, cache: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """α images/s at each batch: PyTorch eager and ONNX Runtime on the CPU (``plan.threads``
    threads each), PyTorch fp32 / bf16 (channels_last) / bf16 compiled on a GPU."""
    from mirrornet.export import LastStack
    from mirrornet.nets import build_recognizer
    from mirrornet.onnx_runtime import onnxruntime_available

    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for recognizer, size, batches in plan.inference:
        torch.manual_seed(0)  # the same α as the predict section's checkpoint: one export serves both
        alpha = build_recognizer(recognizer).eval()
        for backend in plan.inference_backends:
            if backend == "onnx" and not onnxruntime_available():
                skipped.append({"section": "inference", "what": f"{recognizer} onnx", "reason": "onnxruntime is not installed"})
                continue
            row: dict[str, Any] = {"recognizer": recognizer, "input": size, "backend": backend, "batches": {},
                                   "gflops_per_image": alpha_gflops(recognizer, size)}
            try:
                fn_for = _inference_fn(backend, alpha, size, device, plan, cache, row)
            except Exception as exc:  # noqa: BLE001 - an export or compile failure is reported
                skipped.append({"section": "inference", "what": f"{recognizer} {backend}", "reason": _error_text(exc)})
                continue
            for batch in batches:
                x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
                error = None
                try:
                    fn = fn_for(x)
                    times = timed_calls(fn, device, plan.inference_repeats, plan.inference_budget_s,
                                        warmup=2 if "compile" in backend else 1)
                except Exception as exc:  # noqa: BLE001 - e.g. a batch that does not fit: reported
                    error = _error_text(exc)
                if error is not None:
                    fn = None
                    _free(device)
                    skipped.append({"section": "inference", "what": f"{recognizer} {backend} batch {batch}", "reason": error})
                    continue
                median = statistics.median(times)
                row["batches"][str(batch)] = {"latency_ms": 1e3 * median, "images_per_s": batch / median, "runs": len(times)}
                log(f"  {recognizer} {size}×{size} {backend:18s} batch {batch:3d}: {1e3 * median:9.2f} ms, "
                    f"{batch / median:8.1f} images/s")
            if backend == "torch" and plan.profile and device.type == "cpu" and "1" in row["batches"]:
                model = LastStack(alpha).eval()
                x = torch.randn(1, 3, size, size)
                with torch.inference_mode():
                    row["profile"] = profile_top(lambda: model(x), device, steps=1)
            rows.append(row)
        del alpha
    return {"rows": rows, "skipped": skipped}


def _inference_fn(
    backend: str, alpha: torch.nn.Module, size: int, device: torch.device, plan: Plan, cache: Path, row: dict[str, Any],
) -> Callable[[torch.Tensor], Callable[[], Any]]:
    """A function of the input batch returning the zero-argument call that runs α on it."""
    from mirrornet.export import LastStack
    from mirrornet.onnx_runtime import OnnxRecognizer

    if backend == "onnx":
        runner = OnnxRecognizer(alpha, (size, size), threads=plan.threads, cache=cache)
        row["export_s"] = runner.export_seconds
        row["threads"] = runner.threads
        return lambda x: (lambda: runner(x))
    model = LastStack(alpha).eval().to(device)
    bf16 = "bf16" in backend
    if bf16:
        model.to(memory_format=torch.channels_last)
    if "compile" in backend:
        model = torch.compile(model)
    row["threads"] = torch.get_num_threads() if device.type == "cpu" else None

    def call_for(x: torch.Tensor) -> Callable[[], Any]:
        x = x.to(device)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)

        def call() -> Any:
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                return model(x)

        return call

    return call_for


# ------------------------------------------------------------------------------------------------
# mirrornet predict


def run_predict(plan: Plan, device: torch.device, data_root: Path, cache: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """``mirrornet predict`` on real LSPET photos: images/s of ``predict_images`` per backend
    (model loaded, export cached), the time of each part of an image (decode, crop and item,
    α, the rest), and the wall clock of the whole command with the faster backend."""
    from mirrornet.config import config_from_dict
    from mirrornet.data import PoseDataset, load_image
    from mirrornet.data.records import PoseRecord
    from mirrornet.onnx_runtime import onnxruntime_available, select_backend
    from mirrornet.predict import box_to_center_scale, predict_images
    from mirrornet.skeleton import NUM_JOINTS
    from mirrornet.checkpoints import build_model, load_checkpoint
    from mirrornet.data.builders import build_codec_for, build_transform
    from mirrornet.training.checkpoint import save_checkpoint

    root = lspet_root(data_root)
    if root is None:
        return _no_lspet(data_root)
    images = sorted((root / "images").iterdir())[: plan.predict_images]
    size, recognizer = plan.predict_size, plan.predict_recognizer
    # Only α runs at prediction time; the small VAEs keep the checkpoint light.
    config = config_from_dict({
        "data": {"format": "synthetic", "input_size": [size, size], "codec": "onehot"},
        "model": {"recognizer": recognizer, "vae_preset": "small"},
    })
    out: dict[str, Any] = {"recognizer": recognizer, "input": size, "images": len(images), "backends": {},
                           "gflops_per_image": alpha_gflops(recognizer, size)}
    with tempfile.TemporaryDirectory(prefix="mirrornet-throughput-") as tmp:
        torch.manual_seed(0)
        ckpt = Path(tmp) / "model.ckpt"
        save_checkpoint(ckpt, {"config": config.to_dict(), "stage": "baseline", "epoch": 0, "completed": True,
                               "state_dict": build_model(config).state_dict(), "optimizer": None, "history": []})
        start = time.perf_counter()
        model, config = load_checkpoint(ckpt)
        out["load_s"] = time.perf_counter() - start
        model.eval().to(device)
        backends = ["torch"] + (["onnx"] if device.type == "cpu" and onnxruntime_available() else [])
        transform, codec = build_transform(config, augment=False), build_codec_for(config)
        for backend in backends:
            start = time.perf_counter()
            choice = select_backend(model, backend, device, (size, size), cache=cache)
            setup_s = time.perf_counter() - start
            predict_images(model, config, images[:1], device=device, backend=choice)  # warm-up
            start = time.perf_counter()
            predict_images(model, config, images, device=device, backend=choice)
            total = time.perf_counter() - start
            parts = dict.fromkeys(("decode", "crop_and_item", "alpha"), 0.0)
            with torch.no_grad():
                for path in images:
                    t0 = time.perf_counter()
                    image = load_image(path)
                    t1 = time.perf_counter()
                    h, w = image.shape[:2]
                    center, scale = box_to_center_scale([0, 0, w, h], (size, size), config.data.padding)
                    record = PoseRecord(image=image, joints=np.zeros((NUM_JOINTS, 2)), visible=np.zeros(NUM_JOINTS),
                                        center=center, scale=scale, image_id=str(path))
                    item = PoseDataset([record], transform, codec)[0]
                    t2 = time.perf_counter()
                    choice.runner.recognize(item["image"][None].to(device))
                    _sync(device)
                    t3 = time.perf_counter()
                    for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                        parts[key] += dt
            n = len(images)
            per_image = {k: 1e3 * v / n for k, v in parts.items()}
            per_image["rest"] = max(0.0, 1e3 * total / n - sum(per_image.values()))
            out["backends"][backend] = {"images_per_s": n / total, "setup_s": setup_s, "ms_per_image": per_image,
                                        "export_s": getattr(choice.runner, "export_seconds", 0.0),
                                        "cached": getattr(choice.runner, "cached", None)}
            log(f"  predict {recognizer} {size}×{size} {backend:5s}: {n / total:6.2f} images/s; "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in per_image.items()))
        best = max(out["backends"], key=lambda b: out["backends"][b]["images_per_s"])
        argv = ["predict", str(ckpt), *map(str, images), "--out", str(Path(tmp) / "preds.json"), "--no-progress",
                "--backend", best] + (["--cpu"] if device.type == "cpu" else [])
        # A fresh process, as a user runs it: Python's start, the imports and the checkpoint load
        # count; the export made above is found in the cache.
        env = dict(os.environ, MIRRORNET_CACHE_DIR=str(cache.parent), OMP_NUM_THREADS=str(plan.threads),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "mirrornet.cli", *argv], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        out["command"] = {"backend": best, "status": proc.returncode, "wall_s": wall, "images_per_s": len(images) / wall}
        if proc.returncode:
            out["command"]["stderr"] = proc.stderr[-2000:]
        log(f"  mirrornet predict --backend {best} on {len(images)} photos: {wall:.1f} s "
            f"(process start, imports and checkpoint load included), status {proc.returncode}")
    return out


# ------------------------------------------------------------------------------------------------
# Targets and the report


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the speed issue: the measured value, met / missed by how much, what bounds it."""
    device = results["meta"]["device"]
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float | None, target: float, unit: str, higher: bool = True, bound: str = "",
            note: str = "") -> None:
        met, text = verdict(value, target, higher)
        targets.append({"target": name, "value": value, "goal": target, "unit": unit, "met": met, "verdict": text,
                        "bound": bound if met is False else "", "note": note})

    training = results.get("training") or {}
    rows = training.get("rows", [])
    if device == "cuda":
        hrnet = [r for r in rows if r["recognizer"] == "hrnet_w32" and r["kind"] == MIRRORNET_KIND and VARIANTS[r["variant"]].bf16]
        best = max(hrnet, key=lambda r: r["images_per_s"], default=None)
        add("GPU bf16: MirrorNet-HRNet labelled step at 256×256 ≥ 1,500 images/s",
            best["images_per_s"] if best else None, TARGET_GPU_STEP, "images/s",
            bound=_top_text(best.get("profile")) if best else "",
            note=(f"{best['variant']}, batch {best['batch']}" + (f", MFU {100 * best['mfu']:.1f} %" if best and best.get("mfu") else ""))
            if best else "")
        ratios = [r for r in training.get("ratios", []) if r["recognizer"] == "hrnet_w32" and r["time_over_flops"]]
        ratio = min(ratios, key=lambda r: r["time_over_flops"], default=None)
        add("GPU: MirrorNet ÷ baseline step-time ratio ≤ 1.1 × their FLOP ratio (HRNet)",
            ratio["time_over_flops"] if ratio else None, TARGET_RATIO_SLACK, "× FLOP ratio", higher=False,
            bound="the VAE nets' small convolutions and elementwise densities run below the recognizer's FLOP rate",
            note=(f"{ratio['variant']}: step ratio {ratio['time_ratio']:.2f}, FLOP ratio {ratio['flop_ratio']:.2f}, "
                  f"Table 8 {ratio['table8_ratio']:.2f}") if ratio else "")
        inf = [(row, b, v) for row in (results.get("inference") or {}).get("rows", []) if row["recognizer"] == "hrnet_w32"
               for b, v in row["batches"].items()]
        best_inf = max(inf, key=lambda t: t[2]["images_per_s"], default=None)
        add("GPU: α (HRNet) inference ≥ 5,000 images/s", best_inf[2]["images_per_s"] if best_inf else None,
            TARGET_GPU_INFERENCE, "images/s",
            note=f"{best_inf[0]['backend']}, batch {best_inf[1]}" if best_inf else "")
    if "data" in results:
        data = results["data"]
        row256 = best_data_row(data)
        slowest = max(row256["ms_per_image"].items(), key=lambda kv: kv[1]) if row256 else None
        add("data pipeline ≥ 500 images/s per worker at 256×256 (real LSPET)", row256["images_per_s"] if row256 else None,
            TARGET_DATA, "images/s",
            bound=("per image: " + ", ".join(f"{k} {v:.2f} ms" for k, v in row256["ms_per_image"].items())
                   + f"; the largest part is {slowest[0]}") if row256 else "",
            note=data.get("skipped") or (f"image backend {row256.get('image_backend', 'pillow')}" if row256 else ""))
    if device == "cpu":
        inference = (results.get("inference") or {}).get("rows", [])
        by = {(r["recognizer"], r["backend"]): r for r in inference}
        for (recognizer, backend), row in by.items():
            if backend != "onnx" or (recognizer, "torch") not in by:
                continue
            eager = by[(recognizer, "torch")]["batches"].get("1")
            ort = row["batches"].get("1")
            if not eager or not ort:
                continue
            add(f"CPU {results['meta']['threads']} threads: ONNX Runtime α latency at batch 1 ≤ ½ PyTorch eager's ({recognizer})",
                ort["latency_ms"] / eager["latency_ms"], TARGET_ORT_LATENCY, "× eager", higher=False,
                bound=_top_text(by[(recognizer, "torch")].get("profile")),
                note=f"{ort['latency_ms']:.1f} ms against {eager['latency_ms']:.1f} ms")
        predict = results.get("predict") or {}
        if predict.get("backends"):
            best = max(predict["backends"].items(), key=lambda kv: kv[1]["images_per_s"])
            parts = best[1]["ms_per_image"]
            gflops = predict.get("gflops_per_image")
            compute = ""
            if gflops and parts.get("alpha"):
                compute = (f"; α is {gflops:.1f} GFLOP per image, run at {gflops * 1e3 / parts['alpha']:.0f} GFLOP/s: "
                           f"{TARGET_PREDICT:g} images/s needs {TARGET_PREDICT * gflops:.0f} GFLOP/s from "
                           f"{results['meta']['threads']} threads")
            add(f"CPU: mirrornet predict ≥ 10 images/s ({predict['recognizer']} at {predict['input']}×{predict['input']}, "
                "decode included, drawing off)", best[1]["images_per_s"], TARGET_PREDICT, "images/s",
                bound="per image: " + ", ".join(f"{k} {v:.1f} ms" for k, v in parts.items()) + compute,
                note=f"backend {best[0]}")
    return targets


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _significant(value: float) -> str:
    """Three significant digits, thousands separated (1,470; 88.3; 0.0331)."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def busy_note(meta: dict[str, Any]) -> str:
    """A warning when other jobs already loaded the machine's cores before the run."""
    try:
        load = float(str(meta.get("load_average", "")).split("/")[0])
    except ValueError:
        return ""
    cores = meta.get("cores") or os.cpu_count() or 1
    if load < cores - 0.5:
        return ""
    return (f"- Note: other jobs loaded the machine (load average {load:.1f} on {cores} cores) before the run: "
            "multi-threaded CPU figures suffer most (PyTorch's threads wait on each other while the other jobs hold "
            "the cores); compare figures within this section only, and rerun on an idle machine for absolute speeds")


def _section_start(lines: list[str], section: dict[str, Any], figures: str, title: str) -> bool:
    """Append the title of a section that has ``figures`` or was skipped (and then the reason);
    True when its figures follow."""
    if not (section.get(figures) or section.get("skipped")):
        return False
    lines += [f"### {title}", ""]
    if section.get("skipped"):
        lines += [f"Not measured: {section['skipped']}.", ""]
        return False
    return True


def render_markdown(results: dict[str, Any]) -> str:
    """The RESULTS.md section of a run."""
    meta = results["meta"]
    lines = [f"## Throughput: `{meta['command']}` ({meta['date']})", ""]
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {meta['machine']}; load average before the run {meta['load_average']}",
        f"- Versions: torch {meta['torch']}, onnxruntime {meta['onnxruntime']}, Python {meta['python']}",
        f"- Command: `{meta['command']}` ({meta['wall_s'] / 60:.1f} min wall clock)",
        f"- Device: {meta['device_name']}; CPU threads: {meta['threads']} for inference and predict"
        + (f", {meta['train_threads']} for the training steps" if meta.get("train_threads") else "")
        + ", 1 per data worker",
    ]
    note = busy_note(meta) if meta.get("device") == "cpu" else ""
    lines += ([note] if note else []) + [""]
    training = results.get("training") or {}
    rows = training.get("rows", [])
    if rows:
        lines += ["### Training steps (synthetic tensors, no data pipeline)", "",
                  "Images/s of one optimiser step (median of interleaved rounds; MFU against the device's dense "
                  "peak where known). Every stage kind's step reads back its loss and terms as the Lightning "
                  "module does; `train.alpha_grad_norm_every` diagnostics are off.", ""]
        kinds = [(k, label) for k, label in STAGE_KINDS if any(r["kind"] == k for r in rows)]
        lines.append("| network | input | batch | variant | " + " | ".join(label for _, label in kinds) + " |")
        lines.append("|---|---:|---:|---|" + "---:|" * len(kinds))
        keys = list(dict.fromkeys((r["setup"], r["variant"]) for r in rows))
        for setup, variant in keys:
            sub = {r["kind"]: r for r in rows if r["setup"] == setup and r["variant"] == variant}
            first = next(iter(sub.values()))
            cells = []
            for k, _ in kinds:
                r = sub.get(k)
                if r is None:
                    cells.append("")
                    continue
                mfu = f" ({100 * r['mfu']:.1f} %)" if r.get("mfu") is not None else ""
                cells.append(_fmt(r["images_per_s"]) + mfu)
            lines.append(f"| {setup} | {first['input']} | {first['batch']} | {variant} | " + " | ".join(cells) + " |")
        lines.append("")
        flops = training.get("flops", {})
        if flops:
            lines += ["FLOPs per image of one step (forward + backward, FlopCounterMode):", ""]
            lines.append("| network | " + " | ".join(label for _, label in STAGE_KINDS) + " |")
            lines.append("|---|" + "---:|" * len(STAGE_KINDS))
            for setup, f in flops.items():
                lines.append(f"| {setup} | " + " | ".join(f"{f[k] / 1e9:.2f} G" if f.get(k) else "–" for k, _ in STAGE_KINDS) + " |")
            lines.append("")
        ratios = training.get("ratios", [])
        if ratios:
            lines += ["MirrorNet (labelled bound) ÷ baseline (α alone), per image:", "",
                      "| network | variant | step-time ratio | FLOP ratio (measured) | Table 8 ratio (forward MACs) | step ÷ FLOP ratio |",
                      "|---|---|---:|---:|---:|---:|"]
            for r in ratios:
                lines.append(f"| {r['setup']} | {r['variant']} | {_fmt(r['time_ratio'], 2)} | {_fmt(r['flop_ratio'], 2)} | "
                             f"{_fmt(r['table8_ratio'], 2)} | {_fmt(r['time_over_flops'], 2)} |")
            lines.append("")
        options = [r for r in rows if r["kind"] in (BASELINE_KIND, MIRRORNET_KIND)]
        variants = list(dict.fromkeys(r["variant"] for r in options))
        if len(variants) > 1:
            lines += ["Speed options, α alone / labelled bound, images/s (× fp32):", "",
                      "| network | variant | α alone | × fp32 | labelled bound | × fp32 |", "|---|---|---:|---:|---:|---:|"]
            index = {(r["setup"], r["variant"], r["kind"]): r for r in options}
            for setup in dict.fromkeys(r["setup"] for r in options):
                for variant in variants:
                    a = index.get((setup, variant, BASELINE_KIND))
                    m = index.get((setup, variant, MIRRORNET_KIND))
                    if not a and not m:
                        continue
                    fa = index.get((setup, "fp32", BASELINE_KIND))
                    fm = index.get((setup, "fp32", MIRRORNET_KIND))
                    sa = a["images_per_s"] / fa["images_per_s"] if a and fa else None
                    sm = m["images_per_s"] / fm["images_per_s"] if m and fm else None
                    lines.append(f"| {setup} | {variant} | {_fmt(a['images_per_s'] if a else None)} | {_fmt(sa, 2)} | "
                                 f"{_fmt(m['images_per_s'] if m else None)} | {_fmt(sm, 2)} |")
            lines.append("")
        profiled = next((r for r in rows if r.get("profile")), None)
        if profiled:
            lines += [f"Profile of the labelled-bound step ({profiled['setup']}, {profiled['variant']}): "
                      f"{_top_text(profiled['profile'], 5)}.", ""]
    data = results.get("data") or {}
    if _section_start(lines, data, "rows", "Data pipeline (real LSPET photos, one worker process, one thread)"):
        parts = list(data["rows"][0]["ms_per_image"])
        lines.append("| input | image backend | images | images/s per worker | " + " | ".join(f"{p} ms" for p in parts) + " |")
        lines.append("|---:|---|---:|---:|" + "---:|" * len(parts))
        for r in data["rows"]:
            lines.append(f"| {r['input']}×{r['input']} | {r.get('image_backend', 'pillow')} | {r['images']} | "
                         f"{_fmt(r['images_per_s'], 0)} | "
                         + " | ".join(f"{r['ms_per_image'][p]:.2f}" for p in parts) + " |")
        lines.append("")
        workers = data.get("workers_needed")
        if workers:
            lines += [f"Workers needed to feed the fastest measured MirrorNet-HRNet step: {workers['workers']} "
                      f"({workers['images_per_s']:.0f} images/s ÷ {workers['per_worker']:.0f} per worker; "
                      f"{workers['cores']} cores on this machine).", ""]
    inference = results.get("inference") or {}
    if inference.get("rows"):
        batches = sorted({int(b) for r in inference["rows"] for b in r["batches"]})
        lines += ["### Inference: α alone", "",
                  "Milliseconds per batch / images/s (median); GFLOP: one forward pass per image; best GFLOP/s: "
                  "the fastest batch's arithmetic rate.", "",
                  "| network | input | GFLOP | backend | threads | " + " | ".join(f"batch {b}" for b in batches)
                  + " | best GFLOP/s | export s |", "|---|---:|---:|---|---:|" + "---:|" * len(batches) + "---:|---:|"]
        for r in inference["rows"]:
            cells = []
            for b in batches:
                v = r["batches"].get(str(b))
                cells.append(f"{v['latency_ms']:.1f} / {v['images_per_s']:.1f}" if v else "–")
            rate = max((v["images_per_s"] for v in r["batches"].values()), default=None)
            g = r.get("gflops_per_image")
            lines.append(f"| {r['recognizer']} | {r['input']} | {_fmt(g, 2)} | {r['backend']} | {r.get('threads') or '–'} | "
                         + " | ".join(cells) + f" | {_fmt(g * rate if g and rate else None, 0)} | {_fmt(r.get('export_s'))} |")
        lines.append("")
    predict = results.get("predict") or {}
    if _section_start(lines, predict, "backends", "`mirrornet predict` on real photos (drawing off)"):
        parts = list(next(iter(predict["backends"].values()))["ms_per_image"])
        lines += [f"{predict['images']} LSPET photos, {predict['recognizer']} at {predict['input']}×{predict['input']}, "
                  "one box per photo (the whole photo); the checkpoint loaded and α exported beforehand.", "",
                  "| backend | images/s | " + " | ".join(f"{p} ms" for p in parts) + " |",
                  "|---|---:|" + "---:|" * len(parts)]
        for backend, v in predict["backends"].items():
            lines.append(f"| {backend} | {v['images_per_s']:.2f} | " + " | ".join(f"{v['ms_per_image'][p]:.1f}" for p in parts) + " |")
        cmd = predict.get("command")
        if cmd:
            lines += ["", f"The whole command in a fresh process (`--backend {cmd['backend']}`; Python's start, the imports and the checkpoint load included, the export cached): "
                      f"{cmd['wall_s']:.1f} s for {predict['images']} photos, {cmd['images_per_s']:.2f} images/s."]
        lines.append("")
    skipped = [s for key in ("training", "inference") for s in (results.get(key) or {}).get("skipped", [])]
    if skipped:
        lines += ["Not measured:", ""] + [f"- {s['what']}: {s['reason']}" for s in skipped] + [""]
    targets = results.get("targets", [])
    if targets:
        lines += ["### Targets", "", "| target | measured | verdict | what bounds it / notes |", "|---|---:|---|---|"]
        for t in targets:
            value = "–" if t["value"] is None else f"{_significant(t['value'])} {t['unit']}"
            notes = "; ".join(x for x in (t.get("note"), t.get("bound")) if x)
            lines.append(f"| {t['target']} | {value} | {t['verdict']} | {notes} |")
        if results["meta"]["device"] == "cpu":
            lines += ["", "The GPU targets (HRNet step ≥ 1,500 images/s in bf16, MirrorNet ÷ baseline ≤ 1.1 × the FLOP "
                      "ratio, α ≥ 5,000 images/s) are measured by `--device cuda`."]
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# The run


def _onnxruntime_version() -> str:
    try:
        import onnxruntime

        return onnxruntime.__version__
    except ImportError:
        return "not installed"


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available, else cpu")
    p.add_argument("--quick", action="store_true", help="few steps and the smallest useful set (< 5 min on 2 CPU cores)")
    p.add_argument("--smoke", action="store_true", help="tiny networks, one step: the tests' setting; writes nothing")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="folder holding lspet/ (default: ../shared/data)")
    p.add_argument("--threads", type=int, default=2,
                   help="CPU intra-op threads of PyTorch and ONNX Runtime for inference and predict (default 2)")
    p.add_argument("--train-threads", type=int, default=1,
                   help="CPU intra-op threads of the training steps (default 1, as the CPU presets train: with two, "
                        "small networks on a shared 2-core machine run up to 20× slower, their threads spinning "
                        "against each other)")
    p.add_argument("--recognizers", nargs="+", help="measure these recognizers instead of the plan's")
    p.add_argument("--batch-size", type=int, help="training batch size instead of the plan's")
    p.add_argument("--results-md", type=Path, help="append the section here (default: benchmarks/RESULTS.md; --smoke: nowhere)")
    p.add_argument("--json-out", type=Path, help="raw figures (default: benchmarks/results/throughput-<device>.json; --smoke: nowhere)")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p


def run(argv: Sequence[str] | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark with ``argv``; returns the results dict (also written unless told not to).

    Raises:
        SystemExit: ``--device cuda`` without a CUDA device (status 2, saying so).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    log = log or (lambda message: print(message, flush=True))
    device_type = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device_type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda: no CUDA device is visible (torch.cuda.is_available() is False); "
                         "the GPU rows need a GPU")
    device = torch.device(device_type)
    if device.type == "cpu":
        torch.set_num_threads(max(1, args.threads))
    else:
        torch.backends.cudnn.benchmark = True  # the fastest convolution algorithms for fixed shapes
    plan = make_plan(device_type, quick=args.quick, smoke=args.smoke, threads=args.threads,
                     recognizers=args.recognizers, batch_size=args.batch_size)
    command = "python benchmarks/throughput.py " + " ".join(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "load_average": " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "–",
        "torch": torch.__version__, "onnxruntime": _onnxruntime_version(), "python": platform.python_version(),
        "command": command.strip(), "device": device_type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "cores": os.cpu_count(), "threads": args.threads,
        "train_threads": args.train_threads if device_type == "cpu" else None,
        "quick": args.quick, "smoke": args.smoke, "sections": args.sections,
        "plan": asdict(plan),
    }}
    log(f"MirrorNet throughput on {results['meta']['device_name']} ({device_type}), torch {torch.__version__}")
    with tempfile.TemporaryDirectory(prefix="mirrornet-onnx-cache-") as cache_root:
        cache = Path(cache_root) / "onnx"
        if "training" in args.sections or "options" in args.sections:
            log("training steps")
            with _cpu_threads(device, args.train_threads):
                results["training"] = run_training(plan, device, args.sections, log)
        if "data" in args.sections:
            log("data pipeline")
            results["data"] = run_data(plan, args.data_root, log)
            if results["data"].get("skipped"):
                log(f"  skipped: {results['data']['skipped']}")
        if "inference" in args.sections:
            log("inference")
            results["inference"] = run_inference(plan, device, cache, log)
        if "predict" in args.sections:
            log("mirrornet predict")
            results["predict"] = run_predict(plan, device, args.data_root, cache, log)
            if results["predict"].get("skipped"):
                log(f"  skipped: {results['predict']['skipped']}")
    _workers_needed(results)
    results["meta"]["wall_s"] = time.perf_counter() - started
    results["targets"] = evaluate_targets(results)
    markdown = render_markdown(results)
    log("")
    log(markdown)
    write = not args.no_write
    md_path = args.results_md or (None if args.smoke else REPO / "benchmarks" / "RESULTS.md")
    json_path = args.json_out or (None if args.smoke else REPO / "benchmarks" / "results" / f"throughput-{device_type}.json")
    if write and md_path is not None:
        previous = md_path.read_text(encoding="utf-8") if md_path.is_file() else ""
        write_text_atomic(md_path, previous + "\n" + markdown + "\n")  # a kill leaves the old file whole
        log(f"appended to {md_path}")
    if write and json_path is not None:
        write_text_atomic(json_path, json.dumps(json_safe(results), indent=1, ensure_ascii=False) + "\n")
        log(f"wrote {json_path}")
    return results


@contextlib.contextmanager
def _cpu_threads(device: torch.device, threads: int) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` inside the block (CPU runs only)."""
    previous = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _workers_needed(results: dict[str, Any]) -> None:
    """Data-loading workers that feed the fastest measured HRNet labelled step (GPU runs)."""
    rows = (results.get("training") or {}).get("rows", [])
    data = results.get("data") or {}
    row256 = best_data_row(data)
    steps = [r for r in rows if r["recognizer"] == "hrnet_w32" and r["kind"] == MIRRORNET_KIND]
    if results["meta"]["device"] != "cuda" or not row256 or not steps:
        return
    rate = max(r["images_per_s"] for r in steps)
    data["workers_needed"] = {"workers": math.ceil(rate / row256["images_per_s"]), "images_per_s": rate,
                              "per_worker": row256["images_per_s"], "cores": os.cpu_count()}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, print, write; returns the exit status."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
