"""Which change makes the mirrors help α? An ablation on real LSP (``lsp_small``).

Each variant is the faithful MirrorNet with some config keys changed (``VARIANTS`` below; the
options are documented in docs/model.md). Every variant trains the whole curriculum at 20 % and
60 % annotated × 3 seeds through ``benchmarks.lsp_table`` (same runs, same per-run JSON, under
the label ``mirror-<variant>``; the faithful reading and λ = 1 reuse the labels of the real-LSP
table, ``lsp_small`` and ``lsp_small-lam1``, when their JSON files exist).

The table reports, per variant and ratio, paired by seed: (A) supervised − baseline and (B)
semi-supervised − supervised, and the best MirrorNet method − baseline, on the validation split
(the mean of the last epochs: what a variant is chosen on) and on the test split (reported once),
with the number of positive seeds, and the bone-ratio violations of the semi-supervised α on the
test split (the plausibility measure). A variant is *shipped* only if a MirrorNet method beats the
baseline on validation at both ratios with every seed.

Resumable, like lsp_table.py: finished runs are read back. Usage:
    python -m benchmarks.mirror_ablation --root ../shared/data                  # every variant
    python -m benchmarks.mirror_ablation --root ../shared/data --variants bottleneck prior
    python -m benchmarks.mirror_ablation --root ../shared/data --report        # table only
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks import lsp_table
from benchmarks._runs import read_run, run_script
from benchmarks.common import machine_description, mean_std
from mirrornet.curriculum import CURRICULUM

REPO = Path(__file__).resolve().parents[1]

#: variant → (results label, config overrides, what it tests). Every override is a documented key.
VARIANTS: dict[str, tuple[str, list[str], str]] = {
    "faithful": ("lsp_small", [], "the paper's reading (the defaults)"),
    "lam1": ("lsp_small-lam1", ["model.lam=1"], "λ = 1: α's supervision at the scale of the baseline's"),
    "bottleneck": ("mirror-bottleneck", ["model.pose_bottleneck=coordinates"],
                   "the mirrors see a pose only through its joints' coordinates"),
    "prior": ("mirror-prior", ["model.pose_variance=0.01"], "σ²_φ = 0.01: an informative pose VAE"),
    "ramp": ("mirror-ramp", ["train.unlabeled_rampup_epochs=4"],
             "the unlabelled bound ramped up over the semi-supervised stage's 4 epochs"),
    "recognizer": ("mirror-recognizer", ["model.pose_source=recognizer", "model.lam=1"],
                   "λ = 1 and the mirrors evaluated at s ~ q_α on annotated images too"),
    "plus": ("mirror-plus", ["model.lam=1", "model.pose_source=recognizer", "model.pose_bottleneck=coordinates",
                             "model.pose_variance=0.01", "train.unlabeled_rampup_epochs=4"],
             "every change together"),
    "fresh": ("lsp_small-fresh-adam", ["train.fresh_optimizer_stages=[baseline,supervised_first]"],
              "a fresh Adam for α in both methods: λ = 0.01 then only scales α's loss, which Adam undoes"),
    "bottleneck_fresh": ("mirror-bottleneck-fresh", ["train.fresh_optimizer_stages=[baseline,supervised_first]",
                                                     "model.pose_bottleneck=coordinates"],
                         "the bottleneck where the faithful semi-supervised stage collapses (fresh Adam)"),
    "plus_annotation": ("mirror-plus-annotation", ["model.lam=1", "model.pose_bottleneck=coordinates",
                                                   "model.pose_variance=0.01", "train.unlabeled_rampup_epochs=4"],
                        "every change but the pose source: s = annotation on annotated images (Eqs. 26–27)"),
}
RATIOS = (0.2, 0.6)
SEEDS = (0, 1, 2)
#: The methods whose α learns through the mirrors (their final stage trains more than α).
MIRROR_METHODS = tuple(s.method for s in CURRICULUM if s.method and not s.optional and set(s.trains) != {"alpha"})


def load_runs(json_dir: Path, label: str) -> dict[tuple[float, int], dict]:
    """The finished runs of one label: (ratio, seed) → per-run JSON."""
    runs = {}
    for ratio in RATIOS:
        for seed in SEEDS:
            path = json_dir / label / f"r{int(round(ratio * 100)):02d}_s{seed}.json"
            run = read_run(path, None)  # a truncated file is a run still to do
            if run is not None:
                runs[(ratio, seed)] = run
    return runs


def paired(runs: Mapping[tuple[float, int], dict], ratio: float, a: str, b: str, split: str) -> list[float]:
    """Per seed: Total of method ``a`` − Total of method ``b`` on ``split``."""
    return [runs[(ratio, s)][a][split]["Total"] - runs[(ratio, s)][b][split]["Total"]
            for s in SEEDS if (ratio, s) in runs and a in runs[(ratio, s)] and b in runs[(ratio, s)]]


def best_minus_baseline(runs: Mapping[tuple[float, int], dict], ratio: float, split: str) -> list[float]:
    """Per seed: the better MirrorNet method (chosen on validation) − baseline, on ``split``."""
    out = []
    for s in SEEDS:
        run = runs.get((ratio, s))
        if not run or "baseline" not in run or not all(m in run for m in MIRROR_METHODS):
            continue
        best = max(MIRROR_METHODS, key=lambda m: run[m]["val_last_epochs"]["Total"])
        out.append(run[best][split]["Total"] - run["baseline"][split]["Total"])
    return out


def cell(diffs: Sequence[float]) -> str:
    """'mean ± sd (positive/seeds)'."""
    return f"{mean_std(diffs)} ({sum(d > 0 for d in diffs)}/{len(diffs)})" if diffs else "–"


def ships(runs: Mapping[tuple[float, int], dict]) -> bool:
    """A MirrorNet method beats the baseline on validation at both ratios with every seed."""
    for ratio in RATIOS:
        diffs = best_minus_baseline(runs, ratio, "val_last_epochs")
        if len(diffs) < len(SEEDS) or not all(d > 0 for d in diffs):
            return False
    return True


def report(json_dir: Path, results: Path, command: str) -> str:
    """Write the ablation section of RESULTS.md; returns its markdown body."""
    lines = [f"- **date**: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
             f"- **machine**: {machine_description()}",
             "- **command**: `python -m benchmarks.mirror_ablation --root ../shared/data` (every variant; "
             f"this table written by `{command}`)",
             "- **preset**: `configs/cpu/lsp_small.yaml` (LSP's 1,000 training images, 100 of them the "
             "validation split; the 1,000 test people), seeds 0, 1, 2, each run the whole curriculum",
             "- cells: mean ± sd over seeds of a paired difference of PCK@0.2 Total (points), "
             "(positive seeds/seeds); **best − base** is the MirrorNet method with the higher validation "
             "score minus the baseline", ""]
    lines += ["| variant | overrides | annotated | (A) sup − base, val | (B) semi − sup, val | best − base, val "
              "| (A) test | (B) test | best − base, test | semi violations, % | shipped |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, (label, overrides, _) in VARIANTS.items():
        runs = load_runs(json_dir, label)
        if not runs:
            lines.append(f"| {name} | `{' '.join(overrides) or '–'}` | – | not run |" + " |" * 7)
            continue
        for ratio in RATIOS:
            have = [s for s in SEEDS if (ratio, s) in runs]
            viol = [runs[(ratio, s)]["violations_pct"].get("semi_supervised") for s in have]
            viol = [v for v in viol if v is not None]
            lines.append(
                f"| {name} | `{' '.join(overrides) or '–'}` | {ratio:.0%} "
                f"| {cell(paired(runs, ratio, 'supervised', 'baseline', 'val_last_epochs'))} "
                f"| {cell(paired(runs, ratio, 'semi_supervised', 'supervised', 'val_last_epochs'))} "
                f"| {cell(best_minus_baseline(runs, ratio, 'val_last_epochs'))} "
                f"| {cell(paired(runs, ratio, 'supervised', 'baseline', 'test'))} "
                f"| {cell(paired(runs, ratio, 'semi_supervised', 'supervised', 'test'))} "
                f"| {cell(best_minus_baseline(runs, ratio, 'test'))} "
                f"| {mean_std(viol) if viol else '–'} | {'yes' if ships(runs) else 'no'} |")
    lines += ["", "Variants: " + "; ".join(f"**{n}**: {d}" for n, (_, _, d) in VARIANTS.items()) + ".",
              "Per-run JSON: `benchmarks/results/<label>/` with the labels " +
              ", ".join(f"`{label}`" for label, _, _ in VARIANTS.values()) + "."]
    body = "\n".join(lines) + "\n"
    lsp_table.replace_section(results, "mirror-ablation", "Mirror ablation on real LSP (lsp_small)", body)
    return body


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen variants (resumable) and write the ablation table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--root", type=Path, help="folder holding lsp/, e.g. ../shared/data")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=None,
                        help="variants to run (default: all)")
    parser.add_argument("--report", action="store_true", help="only rewrite the table from the JSON files")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--json-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.mirror_ablation " + " ".join(argv if argv is not None else sys.argv[1:])
    if not args.report:
        if args.root is None:
            parser.error("--root is required unless --report")
        for name in args.variants or list(VARIANTS):
            label, overrides, _ = VARIANTS[name]
            if len(load_runs(args.json_dir, label)) == len(RATIOS) * len(SEEDS):
                # Done (the faithful and λ = 1 runs come from the real-LSP table: re-running its
                # script for two ratios would rewrite that table's section with two ratios only).
                continue
            grid = ["--root", str(args.root), "--preset", "lsp_small", "--label", label, "--no-progress",
                    "--results", str(args.results), "--json-dir", str(args.json_dir),
                    "--ratios", *[str(int(r * 100)) for r in RATIOS], "--seeds", *map(str, SEEDS)]
            for override in overrides:
                grid += ["--override", override]
            print(f"[ablation] {name}: {' '.join(overrides) or 'defaults'}", file=sys.stderr, flush=True)
            lsp_table.main(grid)
    print(report(args.json_dir, args.results, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "ablation"))
