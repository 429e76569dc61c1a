"""The ``training`` and ``options`` sections: one optimiser step of every stage kind, timed in
interleaved rounds, with its FLOPs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from benchmarks.throughput.plan import (
    BASELINE_KIND,
    MIRRORNET_KIND,
    STAGE_KINDS,
    VARIANTS,
    Plan,
    TrainSetup,
    Variant,
    device_peak_tflops,
    paper_flop_ratio,
    variant_skip_reason,
)
from benchmarks.throughput.timing import _error_text, _free, _is_oom, _sync, profile_top
from mirrornet.stage_objectives import stage_terms
from mirrornet.training.run import apply_speed_options

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
    """As the training module: the stage's nets train (:meth:`~mirrornet.curriculum.Stage.apply`),
    the frozen ones are in eval mode; returns the parameters the stage updates."""
    model.train()
    params = stage.apply(model)
    stage.eval_frozen(model)
    return params


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
