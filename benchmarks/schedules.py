"""Which learning-rate schedule? Constant, step decay and cosine compared on validation.

On the label-scarce LSP testbed (``configs/cpu/lsp_scarce.yaml``) with its largest pool (900
annotated LSP images) and the budget the label curve chose for it (``benchmarks.label_curve``),
α is trained once per schedule, each with the preset's linear warm-up (100 steps):

* ``constant``: the paper's fixed learning rate;
* ``step``: × ``train.lr_gamma`` (0.1) at 70 % and 90 % of the steps (``train.lr_milestones``);
* ``cosine``: half a cosine down to 1 % of the rate (the preset's, and the default model's).

Only the validation split is scored (the best round's PCK@0.1 and PCK@0.2): the choice is made
there, and the test split stays for the runs that report. The cosine run is the label curve's
own run of the same settings, read back. Resumable: each run lives in ``--out/<schedule>`` and its
JSON in ``benchmarks/results/schedules/``, keyed by its resolved config; the section
``schedules`` of ``benchmarks/RESULTS.md`` is rewritten after every run.

Usage:
    python -m benchmarks.schedules --root ../shared/data
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._runs import run_script
from benchmarks.cli_runs import REPO, finished_run
from benchmarks.lsp_table import replace_section

CONFIG = REPO / "configs" / "cpu" / "lsp_scarce.yaml"
RESULTS = REPO / "benchmarks" / "results" / "schedules"
CURVE = REPO / "benchmarks" / "results" / "label-curve"
SCHEDULES = ("constant", "step", "cosine")
LABELS = 900
STEPS = 1200


def overrides(root: Path, schedule: str) -> list[str]:
    """The settings of one schedule's run (the label curve's run when ``schedule`` is cosine)."""
    base = [f"data.root={root / 'lsp'}", f"data.lspet_root={root / 'lspet'}", f"data.annotated_count={LABELS}",
            f"train.steps.alpha_pretrain={STEPS}", "data.split_seed=0", "train.seed=0"]
    return base if schedule == "cosine" else [*base, f"train.lr_schedule={schedule}", "eval.final=false"]


def run(root: Path, out: Path, schedule: str) -> dict[str, Any]:
    """One schedule's record (trained, or read back when it exists with the same settings)."""
    curve = CURVE / f"n{LABELS}_t{STEPS}_s0.json" if schedule == "cosine" else None
    return finished_run(RESULTS / f"{schedule}.json", CONFIG, out / schedule, overrides(root, schedule), read_from=curve,
                        schedule=schedule, labels=LABELS, steps=STEPS)


def report(records: dict[str, dict[str, Any]]) -> str:
    """The section's markdown: each schedule's best validation round."""
    lines = [f"α alone, {LABELS} annotated LSP images, {STEPS} steps, seed 0, warm-up 100 steps; validation split "
             "(100 LSP training people), the best round of each run:", "",
             "| schedule | val PCK@0.1 | val PCK@0.2 | minutes |", "|---|---|---|---|"]
    for schedule, record in records.items():
        row = record["results"]["baseline"]
        lines.append(f"| {schedule} | {row.get('totals', {}).get('PCK@0.1', float('nan')):.2f} | "
                     f"{row['groups']['Total']:.2f} | {record['seconds'] / 60:.1f} |")
    if len(records) == len(SCHEDULES):
        best = max(records, key=lambda s: records[s]["results"]["baseline"]["totals"]["PCK@0.1"])
        lines += ["", f"Chosen on validation PCK@0.1: **{best}**."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder holding lsp/ and lspet/")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "schedules")
    args = parser.parse_args(argv)
    records: dict[str, dict[str, Any]] = {}
    for schedule in SCHEDULES:
        records[schedule] = run(args.root.resolve(), args.out, schedule)
        replace_section(REPO / "benchmarks" / "RESULTS.md", "schedules",
                        "Learning-rate schedules compared on validation", report(records) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "schedules"))
