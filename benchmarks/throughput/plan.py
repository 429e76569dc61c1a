"""What a throughput run measures: the stage kinds, speed-option variants, setups and plans,
the device peaks and the targets, and when a variant is skipped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
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
TARGET_PREDICT_DEFAULT_MODEL = 20.0  # images/s, the packaged default model, decode included, drawing off


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
    #: A checkpoint for the predict section (its recognizer and input size) instead of random
    #: weights of predict_recognizer at predict_size: the packaged default model with ``--predict-model default``.
    predict_checkpoint: str | None = None


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
    if smoke:
        plan = _smoke_plan(threads)
    elif device == "cuda":
        plan = _cuda_plan(quick, threads)
    else:
        plan = _cpu_plan(quick, threads)
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


def _smoke_plan(threads: int) -> Plan:
    """The tests' setting: tiny networks, one step."""
    return Plan(
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


def _cuda_plan(quick: bool, threads: int) -> Plan:
    """The paper's three recognizers with the paper's VAEs at 256×256, batch 128."""
    setups = [TrainSetup(f"{r} (paper VAEs)", r, "paper", 256, 128) for r in ("hrnet_w32", "resnet50", "hourglass")]
    return Plan(
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


def _cpu_plan(quick: bool, threads: int) -> Plan:
    """The CPU presets' networks; PyTorch eager against ONNX Runtime for inference."""
    demo = TrainSetup("CPU presets at 64×64 (hourglass_1x32, small VAEs)", "hourglass_1x32", "small", 64, 32, "gaussian")
    medium = TrainSetup("medium preset at 96×96 (hourglass_1x32, small VAEs)", "hourglass_1x32", "small", 96, 32, "gaussian")
    paper = ("hrnet_w32", "resnet50", "hourglass")
    return Plan(
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
