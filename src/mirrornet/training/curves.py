"""Learning curves like the paper's Fig. 9 (α's "Total" score per epoch for the three methods)
and the diagnostic view of the joint stages (which term of the bound drives α)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from mirrornet.curriculum import METHOD_LABELS
from mirrornet.fileio import save_figure
from mirrornet.objectives import ALPHA_DRIVING_TERMS

__all__ = ["learning_curve", "plot_learning_curves", "plot_joint_diagnostics"]


def learning_curve(records: Sequence[dict], group: str = "Total") -> tuple[list[int], list[float]]:
    """(α epochs, score of ``group``) of the evaluated records, oldest first."""
    xs, ys = [], []
    for r in records:
        if r.get("eval"):
            xs.append(int(r["alpha_epoch"]))
            ys.append(float(r["eval"]["groups"].get(group, math.nan)))
    return xs, ys


#: Each method's colour, line and marker: distinct hues and shapes, so that a line hidden under
#: another (supervised and semi-supervised share their first epochs) still shows.
METHOD_STYLES: dict[str, dict[str, object]] = {
    "baseline": {"color": "#222222", "linestyle": "-", "marker": "o"},
    "supervised": {"color": "#1f77b4", "linestyle": "--", "marker": "s"},
    "semi_supervised": {"color": "#ff7f0e", "linestyle": ":", "marker": "^"},
}


def plot_learning_curves(
    curves: Mapping[str, Sequence[dict]], path: str | Path, metric: str = "PCK@0.2", title: str | None = None,
    split: str | None = None,
) -> Path:
    """Draw the Total score against α's epochs, one line per method, to a PNG (Agg backend).

    Args:
        curves: method name → its per-epoch records (the stages of ``method_chain``).
        path: the PNG file to write (atomically).
        metric: y-axis label.
        title: optional figure title (default: the split evaluated, when given).
        split: the split evaluated after every epoch (``test split``, ``validation split``),
            named on the y axis.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for i, (method, records) in enumerate(curves.items()):
        xs, ys = learning_curve(records)
        if xs:
            style = dict(METHOD_STYLES.get(method, {}))
            if len(xs) >= 30:
                style["marker"] = None
            # Later methods drawn thinner and on top, so that the one beneath shows at its edges.
            ax.plot(xs, ys, label=METHOD_LABELS.get(method, method), linewidth=2.4 - 0.6 * i, markersize=6 - i,
                    zorder=2 + i, **style)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epochs of the recognizer α")
    ax.set_ylabel(f"{metric} Total (%)" + (f", {split}" if split else ""))
    title = title or (f"α's score on the {split} after every epoch" if split else None)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def plot_joint_diagnostics(stages: Mapping[str, Sequence[dict]], path: str | Path, metric: str = "PCK@0.2") -> Path | None:
    """Per epoch of the joint stages: the gradient norm into α of each term of the bound, the
    pose VAE's KL(q_δ ‖ p(z)) and α's score — one column per stage.

    Args:
        stages: stage name → its per-epoch records (only stages that logged ``alpha_grad/*``
            are drawn).
        path: the PNG file to write (atomically).
        metric: the score's name.

    Returns:
        The path written, or None when no stage logged gradient norms.
    """
    joint = {name: records for name, records in stages.items()
             if any(k.startswith("alpha_grad/") for r in records for k in (r.get("train") or {}))}
    if not joint:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, len(joint), figsize=(3.2 * len(joint) + 0.6, 6.6), dpi=100, squeeze=False)
    for col, (name, records) in enumerate(joint.items()):
        epochs = [int(r["alpha_epoch"]) for r in records]
        grads, kl, score = axes[0][col], axes[1][col], axes[2][col]
        for term in ALPHA_DRIVING_TERMS:
            values = [(r.get("train") or {}).get(f"alpha_grad/{term}", math.nan) for r in records]
            # A term that never reaches α (0 on a log axis) is drawn at the bottom, labelled so.
            shown = [v if v > 0 else math.nan for v in values]
            label = term if any(v > 0 for v in values) else f"{term} (0: does not reach α)"
            grads.plot(epochs, shown, marker=".", label=label)
        grads.set_yscale("log")
        grads.set_title(name, fontsize=9)
        kl_keys = sorted({k for r in records for k in (r.get("train") or {}) if k.endswith("kl_z")})
        for key in kl_keys:
            kl.plot(epochs, [(r.get("train") or {}).get(key, math.nan) for r in records], marker=".",
                    label=key.split("/", 1)[1] if "/" in key else key)
        scores = [(r.get("eval") or {}).get("groups", {}).get("Total", math.nan) for r in records]
        score.plot(epochs, scores, marker=".", color="black")
        score.set_xlabel("epochs of α")
        if col == 0:
            grads.set_ylabel("‖∇α term‖")
            kl.set_ylabel("KL(q_δ ‖ p(z)), nats")
            score.set_ylabel(f"{metric} Total")
        grads.legend(fontsize=6)
        kl.legend(fontsize=6)
        for ax in (grads, kl, score):
            ax.grid(alpha=0.3)
    return save_figure(fig, path)
