"""The baseline's label curve on the label-scarce real-LSP testbed (``configs/cpu/lsp_scarce.yaml``).

α alone (the baseline) is trained on 18, 45, 90, 180 and 900 annotated LSP training images with
the demo's networks at 64×64. For every pool size the step budget is chosen on the validation
split (seed 0, best validation round's PCK@0.2 among ``--budgets``); that budget is then run
with ``--seeds`` seeds at 45 and 90 labels and with seed 0 elsewhere. A seed draws the annotated
pool and everything random in training together (``data.split_seed`` = ``train.seed``).

Reported per pool size (LSP test split, once per run, with the image-blind floor beside it):
PCK@0.1 and PCK@0.2, mean ± standard deviation over seeds, and at 45 and 90 labels the
seed-to-seed spread that bounds the smallest effect a 5-seed paired comparison can detect.

Resumable: each run lives in ``--out/n<labels>_t<steps>_s<seed>`` and its JSON in
``benchmarks/results/label-curve/``, keyed by its settings (a changed setting is rerun); the
section ``label-curve`` of ``benchmarks/RESULTS.md`` is rewritten after every run.

Usage:
    python -m benchmarks.label_curve --root ../shared/data
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._runs import run_script
from benchmarks.cli_runs import REPO, finished_run, load_record

from benchmarks.lsp_table import replace_section

CONFIG = REPO / "configs" / "cpu" / "lsp_scarce.yaml"
RESULTS = REPO / "benchmarks" / "results" / "label-curve"
POOLS = (18, 45, 90, 180, 900)
BUDGETS = (400, 1200, 3600)
SEEDED_POOLS = (45, 90)
# Two-sided 95 % Student t quantiles by degrees of freedom (paired intervals over seeds).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def _overrides(root: Path, labels: int, steps: int, seed: int) -> list[str]:
    return [f"data.root={root / 'lsp'}", f"data.lspet_root={root / 'lspet'}", f"data.annotated_count={labels}",
            f"train.steps.alpha_pretrain={steps}", f"data.split_seed={seed}", f"train.seed={seed}"]


def run(root: Path, out: Path, labels: int, steps: int, seed: int) -> dict[str, Any]:
    """One run's record (trained, or read back when it exists with the same settings)."""
    name = f"n{labels}_t{steps}_s{seed}"
    return finished_run(RESULTS / f"{name}.json", CONFIG, out / name, _overrides(root, labels, steps, seed),
                        labels=labels, steps=steps, seed=seed)


def _figures(record: dict[str, Any]) -> dict[str, float]:
    row = record["results"]["baseline"]
    test = row["final"]["test"]
    return {
        "val": float(row["groups"]["Total"]),
        "test@0.1": float(test["metrics"]["PCK@0.1"]["Total"]),
        "test@0.2": float(test["metrics"]["PCK@0.2"]["Total"]),
        "floor@0.1": float(test["floor"]["PCK@0.1"]),
        "floor@0.2": float(test["floor"]["PCK@0.2"]),
        "jitter@0.2": float(row["final"].get("test_jitter", test)["metrics"]["PCK@0.2"]["Total"]),
        "minutes": float(record["seconds"]) / 60.0,
    }


def _mean_sd(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


def report(records: dict[tuple[int, int, int], dict[str, Any]], chosen: dict[int, int]) -> str:
    """The section's markdown: the budget choice, then the curve."""
    lines = ["Step budget chosen on validation (seed 0; best round's val PCK@0.2):", "",
             "| labels | " + " | ".join(f"{b} steps" for b in BUDGETS) + " | chosen |",
             "|---|" + "---|" * (len(BUDGETS) + 1)]
    for labels in POOLS:
        cells = [f"{_figures(records[(labels, b, 0)])['val']:.2f}" if (labels, b, 0) in records else "-" for b in BUDGETS]
        lines.append(f"| {labels} | " + " | ".join(cells) + f" | {chosen.get(labels, '-')} |")
    lines += ["", "LSP test split (1,000 people), the chosen budget, mean ± sd over seeds:", "",
              "| labels | steps | seeds | PCK@0.1 | floor@0.1 | PCK@0.2 | floor@0.2 | PCK@0.2, jittered boxes | min/run |",
              "|---|---|---|---|---|---|---|---|---|"]
    spreads = []
    for labels in POOLS:
        if labels not in chosen:
            continue
        runs = [_figures(r) for (n, t, _), r in sorted(records.items()) if n == labels and t == chosen[labels]]
        if not runs:
            continue
        col = {k: [r[k] for r in runs] for k in runs[0]}
        lines.append(f"| {labels} | {chosen[labels]} | {len(runs)} | {_mean_sd(col['test@0.1'])} | "
                     f"{np.mean(col['floor@0.1']):.2f} | {_mean_sd(col['test@0.2'])} | {np.mean(col['floor@0.2']):.2f} | "
                     f"{_mean_sd(col['jitter@0.2'])} | {np.mean(col['minutes']):.1f} |")
        if labels in SEEDED_POOLS and len(runs) > 1:
            sd = float(np.std(col["test@0.1"], ddof=1))
            # Two arms with this seed-to-seed spread, paired by seed: the difference's spread is
            # at most √2·sd (no pairing benefit), and its 95 % half-width over n seeds is t·√2·sd/√n.
            half = T975.get(len(runs) - 1, 1.96) * math.sqrt(2.0) * sd / math.sqrt(len(runs))
            spreads.append(f"{labels} labels: sd {sd:.2f} PCK@0.1 points over {len(runs)} seeds; "
                           f"a paired difference needs about ±{half:.2f} to exclude 0")
    if spreads:
        lines += ["", "Seed-to-seed spread (PCK@0.1, test): " + "; ".join(spreads) + "."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder holding lsp/ and lspet/")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "label-curve")
    parser.add_argument("--seeds", type=int, default=5, help="seeds at 45 and 90 labels")
    parser.add_argument("--report", action="store_true", help="write the table from the finished runs only")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    records: dict[tuple[int, int, int], dict[str, Any]] = {}
    chosen: dict[int, int] = {}

    def write() -> None:
        replace_section(REPO / "benchmarks" / "RESULTS.md", "label-curve",
                        "The baseline's label curve on the label-scarce LSP testbed", report(records, chosen) + "\n")

    if args.report:
        for path in sorted(RESULTS.glob("n*_t*_s*.json")):
            record = load_record(path, None)
            if record is not None:
                records[(record["labels"], record["steps"], record["seed"])] = record
        for labels in POOLS:
            if all((labels, b, 0) in records for b in BUDGETS):
                chosen[labels] = max(BUDGETS, key=lambda b: _figures(records[(labels, b, 0)])["val"])
        write()
        return 0
    for labels in POOLS:
        for steps in BUDGETS:
            records[(labels, steps, 0)] = run(root, args.out, labels, steps, 0)
            write()
        chosen[labels] = max(BUDGETS, key=lambda b: _figures(records[(labels, b, 0)])["val"])
        write()
    for labels in SEEDED_POOLS:
        for seed in range(1, args.seeds):
            records[(labels, chosen[labels], seed)] = run(root, args.out, labels, chosen[labels], seed)
            write()
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "label_curve"))
