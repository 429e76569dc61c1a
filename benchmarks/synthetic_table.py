"""Tables 2–4 and Table 9 of the paper, measured on SyntheticPeople with error bars over seeds.

The grid: annotation ratios (20/40/60/80 %) × the three methods (baseline, supervised MirrorNet,
semi-supervised MirrorNet) × seeds, with the ``medium`` CPU preset (larger images and networks
than the demo), and Table 9's batch compositions (32+96 … 96+32 of 128, scaled to the preset's
batch size) at 20 %. One dataset of synthetic people is exported once in the LSP format and read
back by the LSP reader; a seed draws the annotated subset (``data.split_seed``) and everything
random in training (``train.seed``), as the paper draws one split per run.

It answers the paper's two claims with paired differences (same seed, same split):
(A) supervised MirrorNet − baseline > 0 at every ratio; (B) semi-supervised − supervised > 0 at
60–80 %. A markdown section (mean ± standard deviation over seeds, the per-seed values, date,
machine, command, what was not run) replaces the section of the same ``--label`` in
``benchmarks/RESULTS.md``.

Every run goes to its own folder under ``--out`` and is skipped when its ``results.json``
exists, so an interrupted grid continues where it stopped.

Usage:
    python -m benchmarks.synthetic_table                      # full grid: 0.5–2 h on 2 CPU cores
    python -m benchmarks.synthetic_table --ratios 0.2 0.8 --seeds 0 1 2 --no-compositions
    python -m benchmarks.synthetic_table --quick              # demo preset, 20 % and 80 %, 3 seeds
    python -m benchmarks.synthetic_table --override model.pose_source=recognizer --label recognizer
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import mean_std, run_header
from mirrornet.curriculum import METHOD_LABELS as LABELS
from mirrornet.curriculum import METHODS
from mirrornet.fileio import write_text_atomic

from benchmarks._runs import finished_results, run_script
GROUPS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total")
# Table 9's compositions of a 128-image batch: (annotated, non-annotated).
PAPER_COMPOSITIONS = ((32, 96), (48, 80), (64, 64), (80, 48), (96, 32))
REPO = Path(__file__).resolve().parents[1]


def scale_composition(n_annotated: int, n_unannotated: int, batch_size: int) -> tuple[int, int]:
    """A composition of 128 scaled to ``batch_size`` (at least one image of each kind)."""
    a = int(round(batch_size * n_annotated / (n_annotated + n_unannotated)))
    a = min(max(a, 1), batch_size - 1)
    return a, batch_size - a


def grid_markdown(grid: Mapping[tuple[float, int], Mapping[str, Any]],
                  compositions: Mapping[tuple[int, int], Mapping[int, Mapping[str, Any]]],
                  header: Mapping[str, str], not_run: Sequence[str], metric: str = "PCK@0.2") -> str:
    """The markdown body of a results section.

    Args:
        grid: (ratio, seed) -> results dict of ``run_experiment`` ({method: {"groups": ...}}).
        compositions: (n_annotated, n_unannotated) -> seed -> results of the semi-supervised run.
        header: lines "key: value" printed first (date, machine, command, preset, ...).
        not_run: sentences saying what was not measured.
        metric: the metric's name for the headings.
    """
    lines = [f"- **{k}**: {v}" for k, v in header.items()]
    ratios = sorted({r for r, _ in grid})
    lines += ["", f"#### {metric}, mean ± standard deviation over seeds (Tables 2–4 layout)", "",
              "| annotated | method | " + " | ".join(GROUPS) + " | Total per seed |",
              "|---|---|" + "---|" * len(GROUPS) + "---|"]
    for ratio in ratios:
        seeds = sorted(s for r, s in grid if r == ratio)
        for m in METHODS:
            have = [s for s in seeds if m in grid[(ratio, s)]]
            if not have:
                continue
            cells = [mean_std([grid[(ratio, s)][m]["groups"][g] for s in have]) for g in GROUPS]
            per_seed = ", ".join(f"{grid[(ratio, s)][m]['groups']['Total']:.2f}" for s in have)
            lines.append(f"| {ratio:.0%} | {LABELS[m]} | " + " | ".join(cells) + f" | {per_seed} |")
    lines += ["", "#### The paper's claims, paired by seed (difference of Total, points)", "",
              "| annotated | seeds | (A) supervised − baseline | seeds > 0 | (B) semi-supervised − supervised | seeds > 0 |",
              "|---|---|---|---|---|---|"]
    for ratio in ratios:
        seeds = sorted(s for r, s in grid if r == ratio)
        runs = [grid[(ratio, s)] for s in seeds]
        a = [r["supervised"]["groups"]["Total"] - r["baseline"]["groups"]["Total"]
             for r in runs if "supervised" in r and "baseline" in r]
        b = [r["semi_supervised"]["groups"]["Total"] - r["supervised"]["groups"]["Total"]
             for r in runs if "semi_supervised" in r and "supervised" in r]
        lines.append(f"| {ratio:.0%} | {len(seeds)} | {mean_std(a)} | {sum(x > 0 for x in a)}/{len(a)} | "
                     f"{mean_std(b)} | {sum(x > 0 for x in b)}/{len(b)} |")
    if compositions:
        lines += ["", "#### Table 9: batch composition of the semi-supervised stage at 20 % annotated", "",
                  "| composition (annotated + non-annotated) | seeds | Total | semi − supervised (paired) |",
                  "|---|---|---|---|"]
        sup = {s: grid[(0.2, s)]["supervised"]["groups"]["Total"]
               for r, s in grid if abs(r - 0.2) < 1e-9 and "supervised" in grid[(r, s)]}
        if sup:
            lines.append(f"| supervised MirrorNet (reference) | {len(sup)} | {mean_std(list(sup.values()))} | – |")
        for (na, nu), by_seed in sorted(compositions.items()):
            totals = {s: r["semi_supervised"]["groups"]["Total"] for s, r in by_seed.items() if "semi_supervised" in r}
            diffs = [totals[s] - sup[s] for s in totals if s in sup]
            lines.append(f"| {na} + {nu} | {len(totals)} | {mean_std(list(totals.values()))} | {mean_std(diffs)} |")
    if not_run:
        lines += ["", "Not run: " + " ".join(not_run)]
    return "\n".join(lines) + "\n"


def replace_section(path: Path, label: str, title: str, body: str) -> None:
    """Put ``body`` between this label's markers in ``path`` (appending the section if absent).

    Only the text between ``<!-- synthetic-table:LABEL:start -->`` and ``...:end -->`` changes,
    so other sections of the shared file are left as they are.
    """
    start, end = f"<!-- synthetic-table:{label}:start -->", f"<!-- synthetic-table:{label}:end -->"
    block = f"{start}\n### {title}\n\n{body}{end}"
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_text_atomic(path, text)


def _run(config: Any, run_dir: Path, stages: list[str] | None, progress: bool) -> dict[str, Any]:
    from mirrornet.training import run_experiment

    # Read back only a finished run of this very config; another config in the folder is refused.
    done = finished_results(run_dir, config.to_dict())
    if done is not None and all(m in done for m in (stages or METHODS)):
        return done
    return run_experiment(config, run_dir, resume=True, stages=stages, progress=progress)


def _run_record(result: dict[str, Any]) -> dict[str, Any]:
    """What ``grid.json`` keeps of one run: each method's figures and what it fed α."""
    return {
        m: {
            "groups": result[m]["groups"],
            "final_test": result[m].get("final", {}).get("test", {}).get("groups"),
            "alpha_steps": result[m].get("alpha_steps"),
            "annotated_draws": result[m].get("annotated_draws"),
        }
        for m in METHODS
        if m in result
    }


def _run_compositions(preset: Path, common: list[str], batch: int, seeds: Sequence[int], out: Path,
                      progress: bool, compositions: dict, record: dict[str, Any], write: Any) -> None:
    """Table 9: step 3 at 20 % annotated with each batch composition, from the 20 % run's step 2a."""
    from mirrornet.config import load_config
    from mirrornet.curriculum import stage_chain

    for na128, nu128 in PAPER_COMPOSITIONS:
        na, nu = scale_composition(na128, nu128, batch)
        for seed in seeds:
            src = out / f"r20_s{seed}"
            run_dir = out / f"comp{na128}+{nu128}_s{seed}"
            # Step 3 starts from step 2a: reuse the 20 % run's earlier stages.
            (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
            for stage in stage_chain("semi_supervised")[:-1]:
                ckpt = src / "checkpoints" / f"{stage.name}.ckpt"
                if ckpt.is_file() and not (run_dir / "checkpoints" / ckpt.name).is_file():
                    shutil.copy2(ckpt, run_dir / "checkpoints" / ckpt.name)
            config = load_config(preset, [*common, "data.annotated_ratio=0.2", f"data.split_seed={seed}",
                                          f"train.seed={seed}", f"train.n_annotated={na}",
                                          f"train.n_unannotated={nu}"])
            print(f"[grid] composition {na}+{nu} (paper {na128}+{nu128}), seed {seed}", file=sys.stderr, flush=True)
            res = _run(config, run_dir, ["semi_supervised"], progress)
            compositions.setdefault((na128, nu128), {})[seed] = res
            record["runs"][run_dir.name] = {"semi_supervised": res["semi_supervised"]["groups"]}
            write()


def _grid_header(argv: Sequence[str] | None, args: argparse.Namespace, preset: Path, base: Any, seeds: Sequence[int],
                 n_people: int, n_eval: int, seconds: float) -> dict[str, str]:
    """The "key: value" lines that open a results section (date, machine, command, setting …)."""
    minutes = seconds / 60
    return {
        **run_header("synthetic_table", argv, preset, args.override, base,
                     f"{{batch}}, {n_people} training people (the annotated share is the row's ratio), "
                     f"{n_eval} test people"),
        "seeds": ", ".join(map(str, seeds)) + " (a seed draws the annotated split and the training randomness)",
        "wall time": f"{minutes:.1f} min for the runs of this invocation" if minutes >= 0.1
                     else "– (every run was finished before; their results were read back)",
    }


def _build_parser() -> argparse.ArgumentParser:
    """The command line of the grid."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=None, help="preset name (medium; demo with --quick) or a YAML path")
    parser.add_argument("--ratios", type=float, nargs="+", default=None, help="annotated ratios (default 0.2 0.4 0.6 0.8)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    parser.add_argument("--compositions", dest="compositions", action="store_true", default=None,
                        help="run Table 9's batch compositions at 20 %% (default unless --quick)")
    parser.add_argument("--no-compositions", dest="compositions", action="store_false")
    parser.add_argument("--quick", action="store_true",
                        help="reduced grid: demo preset, ratios 0.2 0.8, seeds 0 1 2, no compositions")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="config override applied to every run (repeatable)")
    parser.add_argument("--label", default=None, help="name of the results section and run folder (default: preset)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "synthetic_table", help="run folders")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "RESULTS.md", help="markdown file")
    parser.add_argument("--json-dir", type=Path, default=REPO / "benchmarks" / "results",
                        help="where the per-run figures go as JSON (a folder per label)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid and write the markdown section; returns the exit status."""
    args = _build_parser().parse_args(argv)

    from mirrornet.config import load_config
    from mirrornet.demo import _export_data, find_preset

    preset_name = args.preset or ("demo" if args.quick else "medium")
    preset = Path(preset_name) if preset_name.endswith(".yaml") else find_preset(preset_name)
    ratios = args.ratios or ([0.2, 0.8] if args.quick else [0.2, 0.4, 0.6, 0.8])
    seeds = args.seeds or [0, 1, 2]
    do_comp = (not args.quick) if args.compositions is None else args.compositions
    label = args.label or preset.stem
    out = args.out / label
    progress = not args.no_progress
    started = time.perf_counter()

    # One dataset for the whole grid: exported once, read back through the LSP reader.
    base = load_config(preset, args.override)
    data_dir = (args.out / f"data_{label}").resolve()  # one export per grid: parallel grids never share a folder
    _export_data(base, data_dir, progress)
    common = [*args.override, "data.format=lsp", f"data.root={data_dir}"]

    grid: dict[tuple[float, int], dict[str, Any]] = {}
    compositions: dict[tuple[int, int], dict[int, dict[str, Any]]] = {}
    record: dict[str, Any] = {"preset": str(preset), "overrides": common, "runs": {}}

    n_people = max(base.data.synthetic_num_train, base.data.synthetic_num_test)
    n_eval = n_people if base.train.max_eval_batches is None else min(
        n_people, base.train.max_eval_batches * (base.train.eval_batch_size or base.train.batch_size))

    def write() -> None:
        header = _grid_header(argv, args, preset, base, seeds, n_people, n_eval, time.perf_counter() - started)
        not_run = []
        missing = [f"{r:.0%}/seed {s}" for r in ratios for s in seeds if (r, s) not in grid]
        if missing:
            not_run.append(f"runs {', '.join(missing)} (stopped or pending).")
        if set(ratios) != {0.2, 0.4, 0.6, 0.8}:
            skipped = sorted({0.2, 0.4, 0.6, 0.8} - set(ratios))
            if skipped:
                not_run.append(f"ratios {', '.join(f'{r:.0%}' for r in skipped)}.")
        if not do_comp:
            not_run.append("Table 9's batch compositions.")
        body = grid_markdown(grid, compositions, header, not_run)
        replace_section(args.results, label, f"SyntheticPeople grid — {label}", body)
        write_text_atomic(out / "grid.json", json.dumps(record, indent=2))
        # The per-run figures, committed beside the table (the run folders are not).
        json_dir = args.json_dir / f"synthetic-{label}"
        json_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(json_dir / "grid.json", json.dumps(record, indent=2))

    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:  # seeds outermost: a stopped grid still has every ratio for the first seeds
        for ratio in ratios:
            run_dir = out / f"r{int(round(ratio * 100)):02d}_s{seed}"
            config = load_config(preset, [*common, f"data.annotated_ratio={ratio}", f"data.split_seed={seed}",
                                          f"train.seed={seed}"])
            t0 = time.perf_counter()
            print(f"[grid] {ratio:.0%} annotated, seed {seed} -> {run_dir}", file=sys.stderr, flush=True)
            grid[(ratio, seed)] = _run(config, run_dir, None, progress)
            record["runs"][run_dir.name] = _run_record(grid[(ratio, seed)])
            print(f"[grid] done in {time.perf_counter() - t0:.0f} s: "
                  + ", ".join(f"{m} {grid[(ratio, seed)][m]['groups']['Total']:.2f}" for m in METHODS
                              if m in grid[(ratio, seed)]), file=sys.stderr, flush=True)
            write()

    if do_comp and 0.2 in ratios:
        _run_compositions(preset, common, base.train.batch_size, seeds, out, progress, compositions,
                          record, write)
    write()
    print(args.results.read_text().split(f"<!-- synthetic-table:{label}:start -->")[1].split("<!--")[0])
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "grid"))
