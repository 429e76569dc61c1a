"""Learning curves like the paper's Fig. 9: α's "Total" score per epoch for the three methods."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["METHOD_LABELS", "learning_curve", "plot_learning_curves"]

#: Legend labels of the three methods (Tables 2–7).
METHOD_LABELS: dict[str, str] = {
    "baseline": "Baseline",
    "supervised": "Supervised MirrorNet",
    "semi_supervised": "Semi-supervised MirrorNet",
}


def learning_curve(records: Sequence[dict], group: str = "Total") -> tuple[list[int], list[float]]:
    """(α epochs, score of ``group``) of the evaluated records, oldest first."""
    xs, ys = [], []
    for r in records:
        if r.get("eval"):
            xs.append(int(r["alpha_epoch"]))
            ys.append(float(r["eval"]["groups"].get(group, math.nan)))
    return xs, ys


def plot_learning_curves(
    curves: Mapping[str, Sequence[dict]], path: str | Path, metric: str = "PCK@0.2", title: str | None = None
) -> Path:
    """Draw the Total score against α's epochs, one line per method, to a PNG (Agg backend).

    Args:
        curves: method name → its per-epoch records (the stages of ``method_chain``).
        path: the PNG file to write (atomically).
        metric: y-axis label.
        title: optional figure title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for method, records in curves.items():
        xs, ys = learning_curve(records)
        if xs:
            ax.plot(xs, ys, marker="." if len(xs) < 30 else None, label=METHOD_LABELS.get(method, method))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epochs of the recognizer α")
    ax.set_ylabel(f"{metric} Total (%)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path
