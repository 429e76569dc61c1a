"""Timing and profiling helpers shared by the sections."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import torch

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


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
