"""fp32 against bf16 autocast: the same curriculum, the same seeds, on SyntheticPeople.

Trains ``configs/cpu/demo.yaml`` (data.format synthetic) with ``train.precision`` 32-true and
bf16-mixed for each seed, and reports each method's final test-split PCK@0.2 Total, the paired
difference bf16 − fp32 per method (mean ± sd, and how many seeds are positive) and the minutes
per run. On a CPU without bfloat16 matrix units bf16 is slower; the question here is only
whether the numbers agree.

Resumable: each run lives in ``--out/<precision>-s<seed>`` and a finished one (its
``results.json``) is read back. Per-run JSON goes to ``benchmarks/results/precision-ab/``; the
section ``precision-ab`` of ``benchmarks/RESULTS.md`` is rewritten after every run.

Usage:
    python -m benchmarks.precision_ab                 # seeds 0 1 2
    python -m benchmarks.precision_ab --seeds 0
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
from collections.abc import Sequence
from pathlib import Path


from benchmarks import lsp_table
from benchmarks._runs import finished_results, read_run, run_script, write_run
from benchmarks.common import machine_description, mean_std
from mirrornet.curriculum import METHODS

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("32-true", "bf16-mixed")


def run_one(precision: str, seed: int, out: Path) -> dict:
    """Train (or read back) one run; returns {method: test Total, "minutes": …}."""
    from mirrornet.config import load_config
    from mirrornet.training import run_experiment

    run_dir = out / f"{precision}-s{seed}"
    results_path = run_dir / "results.json"
    minutes = None
    config = load_config(REPO / "configs" / "cpu" / "demo.yaml",
                         [f"train.precision={precision}", f"train.seed={seed}", f"data.split_seed={seed}"])
    results = finished_results(run_dir, config.to_dict())  # only a finished run of this config
    if results is None:
        started = time.perf_counter()
        results = run_experiment(config, run_dir, resume=True, progress=False)
        minutes = round((time.perf_counter() - started) / 60, 2)
    if minutes is None:  # trained earlier (or by `mirrornet train` with the same keys): its files' times
        minutes = round((results_path.stat().st_mtime - (run_dir / "config.yaml").stat().st_mtime) / 60, 2)
    row = {m: results[m]["final"]["test"]["groups"]["Total"] for m in METHODS if m in results}
    row["minutes"] = minutes
    return row


def table(runs: dict[tuple[str, int], dict], seeds: Sequence[int], command: str) -> str:
    """The markdown body of the section."""
    lines = [f"- **date**: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
             f"- **machine**: {machine_description()}",
             f"- **command**: `{command}`",
             "- **setting**: `configs/cpu/demo.yaml` (SyntheticPeople, 64×64, hourglass_1x32, the whole "
             "curriculum), final α on the whole test split (384 people), PCK@0.2 Total", "",
             "| method | fp32 | bf16 | bf16 − fp32, paired | seeds > 0 |", "|---|---|---|---|---|"]
    for m in METHODS:
        have = [s for s in seeds if m in runs.get(("32-true", s), {}) and m in runs.get(("bf16-mixed", s), {})]
        if not have:
            continue
        fp32 = [runs[("32-true", s)][m] for s in have]
        bf16 = [runs[("bf16-mixed", s)][m] for s in have]
        diffs = [b - a for a, b in zip(fp32, bf16)]
        lines.append(f"| {m} | {mean_std(fp32)} | {mean_std(bf16)} | {mean_std(diffs)} | "
                     f"{sum(d > 0 for d in diffs)}/{len(diffs)} |")
    for p in PRECISIONS:
        minutes = [runs[(p, s)]["minutes"] for s in seeds if (p, s) in runs and runs[(p, s)]["minutes"]]
        if minutes:
            lines.append(f"\nMinutes per run, {p}: {mean_std(minutes)} (from writing config.yaml to writing results.json).")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the A/B (resumable) and write its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "precision_ab")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--json-dir", type=Path, default=REPO / "benchmarks" / "results" / "precision-ab")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.precision_ab " + " ".join(argv if argv is not None else sys.argv[1:])
    args.json_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[tuple[str, int], dict] = {}
    for seed in args.seeds:
        for precision in PRECISIONS:
            path = args.json_dir / f"{precision}-s{seed}.json"
            keys = {"precision": precision, "seed": seed}  # what tells this grid's runs apart
            done = read_run(path, keys)
            if done is not None:
                runs[(precision, seed)] = done
            else:
                runs[(precision, seed)] = run_one(precision, seed, args.out)
                write_run(path, keys, runs[(precision, seed)])
            lsp_table.replace_section(args.results, "precision-ab", "fp32 against bf16 on SyntheticPeople",
                                      table(runs, args.seeds, command.strip()))
    print(table(runs, args.seeds, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "precision"))
