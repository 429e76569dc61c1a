"""What several benchmarks share: the machine's description for a results header and the
mean ± standard deviation over seeds."""

from __future__ import annotations

import os
import platform
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
