"""The reported rows of a run (Tables 2–7) and the files that record it.

The per-epoch figures of a method are averaged over its last ``eval.last_k_epochs`` epochs (10 in
the paper) to give the reported row (:func:`mean_of_last_epochs`, :func:`collect_results`);
:func:`final_evaluation` adds its final α's figure on every person of the split, with and without
the flip test. :func:`write_run_outputs` writes ``metrics.csv`` (one row per stage epoch,
:func:`write_metrics_csv`), ``results.json`` and the figures.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mirrornet.checkpoints import build_model, read_checkpoint
from mirrornet.config import Config
from mirrornet.curriculum import ALL_METHODS, CURRICULUM, method_chain
from mirrornet.fileio import atomic_path, json_safe, write_json_atomic
from mirrornet.training.curves import plot_joint_diagnostics, plot_learning_curves
from mirrornet.training.selection import best_checkpoint_path, best_record

__all__ = ["format_final_table", "collect_results", "final_evaluation", "mean_of_last_epochs", "write_metrics_csv", "write_run_outputs"]


def mean_of_last_epochs(records: Sequence[dict], k: int) -> dict:
    """The reported row: each group's score averaged over the last ``k`` evaluated epochs.

    Args:
        records: per-epoch records (oldest first) holding ``eval`` = {"metric", "groups"}.
        k: number of last epochs (fewer if the method has fewer).

    Returns:
        {"metric": name, "groups": {group: mean %}, "epochs": number averaged,
        "alpha_epochs": [α epoch of each averaged record]}.
    """
    evaluated = [r for r in records if r.get("eval")]
    if not evaluated:
        raise ValueError("no evaluated epoch to report")
    last = evaluated[-k:]
    groups: dict[str, float] = {}
    for name in last[-1]["eval"]["groups"]:
        values = [float(r["eval"]["groups"][name]) for r in last]
        finite = [v for v in values if math.isfinite(v)]
        groups[name] = float(np.mean(finite)) if finite else float("nan")
    totals: dict[str, float] = {}
    for name in last[-1]["eval"].get("totals") or {}:
        values = [float(r["eval"].get("totals", {}).get(name, float("nan"))) for r in last]
        finite = [v for v in values if math.isfinite(v)]
        totals[name] = float(np.mean(finite)) if finite else float("nan")
    return {
        "metric": last[-1]["eval"]["metric"],
        "groups": groups,
        "totals": totals,
        "epochs": len(last),
        "alpha_epochs": [int(r["alpha_epoch"]) for r in last],
    }


def final_evaluation(config: Config, data, codec, payload: dict, metric: tuple[str, float]) -> dict:
    """Evaluate a method's final α on the whole test split (and the validation split, if any).

    Every person of the split counts (no ``train.max_eval_batches`` cap), with and without the
    flip test; this is the figure a method is reported with on a test split, beside the paper's
    mean over the last epochs. Each entry holds every metric of
    :func:`mirrornet.inference.metric_names` and, beside it, the image-blind floor on the same
    people (:mod:`mirrornet.floor`). With ``eval.box_jitter_scale`` or ``_shift`` above 0 the
    test split is also scored with detector-like boxes (``test_jitter``, ``test_jitter_flip``).

    Returns:
        {"test": {...}, "test_flip": {...}[, "val": ..., "val_flip": ...][, "test_jitter": ...,
        "test_jitter_flip": ...]}, each with the paper's metric name and group scores
        (``metric``, ``groups``), ``metrics`` (every metric's groups by name), ``floor`` (the
        floor's Total by metric name) and ``people``.
    """
    from mirrornet.floor import floor_report, training_crop_pose

    model = build_model(config)
    model.load_state_dict(payload["state_dict"])
    splits = {"test": data.test}
    if data.val is not None:
        splits["val"] = data.val
    e = config.eval
    if e.box_jitter_scale > 0 or e.box_jitter_shift > 0:
        splits["test_jitter"] = _jittered(config, data.test)
    crop_pose = training_crop_pose(data, config)
    out: dict[str, dict] = {}
    for name, dataset in splits.items():
        for flip in (False, True):
            predictions = _predictions(config, model, dataset, codec, flip)
            report = predictions.report(*metric)
            paper = next(iter(report.values()))
            out[name + ("_flip" if flip else "")] = {
                "metric": paper["metric"],
                "groups": paper["groups"],
                "metrics": {key: result["groups"] for key, result in report.items()},
                "floor": floor_report(predictions, crop_pose, *metric),
                "people": len(dataset),
                "flip_test": flip,
            }
    return out


def _predictions(config: Config, model, dataset, codec, flip: bool):
    from torch.utils.data import DataLoader

    from mirrornet.inference import collect_predictions

    batch = config.train.eval_batch_size or config.train.batch_size
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=config.data.num_workers)
    return collect_predictions(model, loader, codec, flip_test=flip)


def _jittered(config: Config, test):
    """The test split's people with the detector-like boxes of ``eval.box_jitter_*``."""
    from mirrornet.data import PoseDataset
    from mirrornet.data.builders import build_transform

    return PoseDataset(test.records, build_transform(config, False, box_jitter=True), test.codec, seed=test.seed)


def format_final_table(rows: dict[str, dict], split: str = "test") -> str:
    """The final figures of each method on ``split`` (every metric's Total, with and without the
    flip test) and, as the last row, the image-blind floor on the same people and metrics.

    Args:
        rows: method label → its results row (holding ``final``); rows without it are skipped.
        split: ``test``, ``val`` or ``test_jitter``.

    Returns:
        The table as text ("" when no row has final figures on ``split``).
    """
    finals = {label: row["final"][split] for label, row in rows.items() if split in (row.get("final") or {})}
    if not finals:
        return ""
    first = next(iter(finals.values()))
    names = list(first["metrics"])
    header = ["", *names, f"{first['metric']} flip"]
    body = []
    for label, final in finals.items():
        flip = next(r for lab, r in rows.items() if lab == label)["final"].get(f"{split}_flip", {})
        flip_total = (flip.get("groups") or {}).get("Total", float("nan"))
        body.append([label, *(f"{final['metrics'][n]['Total']:.2f}" for n in names), f"{flip_total:.2f}"])
    body.append(["floor (image-blind mean pose)", *(f"{first['floor'][n]:.2f}" for n in names), "-"])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in [header, *body]]
    title = f"final α on the {split.replace('_', ' ')} split ({first['people']} people), Total"
    return "\n".join([title, lines[0], "-" * len(lines[0]), *lines[1:]])


def _final_summary(final: dict) -> str:
    test, flip = final["test"], final["test_flip"]
    others = ", ".join(
        f"{name} {groups['Total']:.2f} (floor {test['floor'][name]:.2f})"
        for name, groups in test["metrics"].items()
    )
    return f"{others}; {test['metric']} with flip test {flip['groups']['Total']:.2f}; {test['people']} people"


def _payload_of(name: str, finals: dict[str, dict], ckpt_dir: Path) -> dict | None:
    """A stage's final payload: from this run's memory, else from its checkpoint, else None."""
    payload = finals.get(name)
    path = ckpt_dir / f"{name}.ckpt"
    if payload is None and path.is_file():
        payload = read_checkpoint(path)
    return payload


def _all_records(out_dir: Path, finals: dict[str, dict]) -> dict[str, list[dict]]:
    records: dict[str, list[dict]] = {}
    for stage in CURRICULUM:
        payload = _payload_of(stage.name, finals, out_dir / "checkpoints")
        if payload is not None:
            records[stage.name] = list(payload.get("history") or [])
            records[stage.name + ".completed"] = [{"completed": bool(payload.get("completed"))}]
    return records


def collect_results(config: Config, out_dir: str | Path, finals: dict[str, dict] | None = None) -> dict:
    """The reported row of every method whose final stage has completed in ``out_dir``.

    Each row averages every group over the method's last ``eval.last_k_epochs`` evaluated epochs
    (across stages when its last stage is shorter), and counts what α was fed in the method's
    stages: ``alpha_steps`` (optimiser steps), ``annotated_draws`` and ``unannotated_draws``
    (images drawn), so that methods can be compared at equal exposure.
    """
    out_dir = Path(out_dir)
    records = _all_records(out_dir, finals or {})
    results: dict[str, dict] = {}
    for method in ALL_METHODS:
        chain = method_chain(method)
        final = chain[-1]
        if not records.get(final.name + ".completed", [{}])[0].get("completed"):
            continue
        history = [r for s in chain for r in records.get(s.name, [])]
        if not any(r.get("eval") for r in history):
            continue
        if config.eval.select == "best_val":
            row = _selected_row(history, out_dir)
        else:
            row = mean_of_last_epochs(history, config.eval.last_k_epochs)
            row["checkpoint"] = str(out_dir / "checkpoints" / f"{final.name}.ckpt")
        # What α was fed on the way (its stages only): optimiser steps and images drawn.
        row["alpha_steps"] = sum(int(r.get("steps", 0)) for r in history)
        row["annotated_draws"] = sum(int(r.get("annotated_draws", 0)) for r in history)
        row["unannotated_draws"] = sum(int(r.get("unannotated_draws", 0)) for r in history)
        results[method] = row
    return results


def _selected_row(history: list[dict], out_dir: Path) -> dict:
    """The reported row of ``eval.select: best_val``: the evaluation with the best validation
    score among the method's α stages, and the checkpoint holding its weights."""
    best = best_record(history)
    return {
        "metric": best["eval"]["metric"],
        "groups": dict(best["eval"]["groups"]),
        "totals": dict(best["eval"].get("totals") or {}),
        "epochs": 1,
        "alpha_epochs": [int(best["alpha_epoch"])],
        "selected": {"stage": best["stage"], "epoch": int(best["epoch"]), "alpha_epoch": int(best["alpha_epoch"])},
        "checkpoint": str(best_checkpoint_path(out_dir / "checkpoints" / f"{best['stage']}.ckpt")),
    }


def write_metrics_csv(path: str | Path, records: list[dict]) -> None:
    """One row per stage epoch: stage, epoch, α epoch, optimiser steps and images drawn, every
    objective term (and gradient norm into α), every group."""
    train_keys = sorted({k for r in records for k in (r.get("train") or {})})
    eval_keys: list[str] = []
    for r in records:
        for k in (r.get("eval") or {}).get("groups", {}):
            if k not in eval_keys:
                eval_keys.append(k)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["stage", "epoch", "alpha_epoch", "steps", "annotated_draws", "unannotated_draws", "metric"]
            + [f"train/{k}" for k in train_keys]
            + [f"eval/{k}" for k in eval_keys]
        )
        for r in records:
            ev = r.get("eval") or {}
            writer.writerow(
                [r["stage"], r["epoch"], r["alpha_epoch"], r.get("steps", ""), r.get("annotated_draws", ""),
                 r.get("unannotated_draws", ""), ev.get("metric", "")]
                + [r["train"].get(k, "") for k in train_keys]
                + [ev.get("groups", {}).get(k, "") for k in eval_keys]
            )


def write_run_outputs(config: Config, out_dir: Path, results: dict, finals: dict, kind: str, threshold: float) -> None:
    """Write ``metrics.csv``, ``results.json`` and the figures of a run from its stages' records."""
    records = _all_records(out_dir, finals)
    flat = [r for s in CURRICULUM for r in records.get(s.name, [])]
    write_metrics_csv(out_dir / "metrics.csv", flat)
    write_json_atomic(out_dir / "results.json", json_safe(results))
    curves = {}
    for method in ALL_METHODS:
        chain = method_chain(method)
        history = [r for s in chain for r in records.get(s.name, [])]
        if any(r.get("eval") for r in history):
            curves[method] = history
    split = "validation split" if config.eval.epoch_split == "val" else "test split"
    if curves:
        metric = next(iter(results.values()))["metric"] if results else f"{kind.upper()}@{threshold:g}"
        plot_learning_curves(curves, out_dir / "figures" / "learning_curves.png", metric=metric, split=split)
    # Which term of the bound drives α, per epoch of the joint stages (docs/model.md).
    joint = {s.name: records[s.name] for s in CURRICULUM if records.get(s.name)}
    plot_joint_diagnostics(joint, out_dir / "figures" / "joint_diagnostics.png",
                           metric=f"{kind.upper()}@{threshold:g}, {split}")
