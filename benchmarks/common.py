"""What several benchmarks share: the machine's description for a results header and the
mean ± standard deviation over seeds."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["machine_description", "mean_std"]


def mean_std(values: Sequence[float]) -> str:
    """'m ± s' with the sample standard deviation (ddof=1); 'm' alone for one value."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return "–"
    if v.size == 1:
        return f"{v[0]:.2f}"
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"


def machine_description() -> str:
    """CPU / GPU, core count and thread settings, for the results header."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {gpu}, Python {platform.python_version()}")


def run_header(script: str, argv: Sequence[str] | None, preset: Path, overrides: Sequence[str], base: object,
               setting: str) -> dict[str, str]:
    """The "key: value" lines that open a results section: date, machine, command, preset, setting.

    ``setting`` continues the line that names ``base``'s recognizer, input size, codec, pose source,
    λ and batch composition; a table adds its own lines (seeds, minutes …) after these.
    """
    repo = Path(__file__).resolve().parents[1]
    command = f"python -m benchmarks.{script} " + " ".join(argv if argv is not None else sys.argv[1:])
    m, d, t = base.model, base.data, base.train  # type: ignore[attr-defined]
    batch = f"batch {t.batch_size} ({t.n_annotated}+{t.n_unannotated})"
    return {
        "date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": machine_description(),
        "command": f"`{command.strip()}`",
        "preset": f"`{preset.relative_to(repo) if preset.is_relative_to(repo) else preset}`"
                  + (f" with `{' '.join(overrides)}`" if overrides else ""),
        "setting": f"{m.recognizer}, {d.input_size[0]}×{d.input_size[1]} input, {d.codec} targets, "
                   f"pose source {m.pose_source}, λ={m.lam}, " + setting.format(batch=batch),
    }
