"""Tables 2–4 of the paper on real Leeds Sports Pose, with seeds: baseline, supervised and
semi-supervised MirrorNet at 20/40/60/80 % annotated.

Every run trains the whole curriculum of a CPU preset (``lsp_small``: LSP's 1,000 training
images; ``lsp``: LSP + LSPET, 11,000) on the real files, which are not part of MirrorNet: pass
the folder holding ``lsp/`` and ``lspet/`` with ``--root``. A seed draws the annotated split and
everything random in training together (``data.split_seed`` = ``train.seed``); the validation
split (10 % of the training images, ``data.val_seed`` 0) is the same in every run.

What is reported, per method:

* **validation**: the paper's figure — the mean of the last ``eval.last_k_epochs`` per-epoch
  evaluations — computed on the validation split. Settings are chosen on this number only.
* **test**: the final α of the method on all 1,000 LSP test people, once, without and with the
  flip test (``results.json``: ``final.test``, ``final.test_flip``).
* **bone-ratio violations**: the share of test predictions with a bone-length ratio outside the
  [1, 99] percentiles of the run's annotated training poses (``mirrornet.plausibility``).

The paper's claims as paired differences (same seed, same split) on the test split: (A)
supervised − baseline, (B) semi-supervised − supervised, mean ± standard deviation and how many
seeds are positive.

Resumable: each run lives in ``--out/<label>/r<ratio>_s<seed>`` and continues where it stopped
(``run_experiment(resume=True)``); a finished run is read back, not retrained. Each finished
run's figures are written as JSON to ``benchmarks/results/<label>/r<ratio>_s<seed>.json`` beside
the table, with the run's resolved config: a rerun reads back only a run of the same config (another
``--override`` under the same ``--label`` is refused) and redoes a truncated file. The section ``<label>`` of ``benchmarks/RESULTS.md`` is rewritten after every run.

Usage:
    python -m benchmarks.lsp_table --root ../shared/data                         # lsp_small, 4 ratios × 3 seeds
    python -m benchmarks.lsp_table --preset lsp_small --ratios 20 60 --seeds 0 --root ../shared/data
    python -m benchmarks.lsp_table --preset lsp --ratios 20 60 --root ../shared/data
    python -m benchmarks.lsp_table --root ../shared/data --override model.lam=1 --label lsp_small-lam1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import mean_std, run_header
from mirrornet.curriculum import METHOD_LABELS as LABELS
from mirrornet.curriculum import METHODS
from mirrornet.fileio import write_text_atomic

from benchmarks._runs import read_run, run_script, write_run
GROUPS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total")
REPO = Path(__file__).resolve().parents[1]


def parse_ratio(text: str) -> float:
    """'20' or '0.2' → 0.2."""
    value = float(text)
    ratio = value / 100.0 if value > 1.0 else value
    if not 0.0 < ratio <= 1.0:
        raise argparse.ArgumentTypeError(f"an annotated ratio must be in (0, 100] %, got {text}")
    return ratio


def mean_count(values: Sequence[float]) -> str:
    """A count over seeds: the integer when all seeds agree, else the mean and the range."""
    v = [int(x) for x in values if x is not None]
    if not v:
        return "–"
    return f"{v[0]}" if min(v) == max(v) else f"{np.mean(v):.0f} ({min(v)}–{max(v)})"


def replace_section(path: Path, label: str, title: str, body: str) -> None:
    """Put ``body`` between the markers ``<!-- lsp-table:LABEL:start/end -->`` of ``path``."""
    import re

    start, end = f"<!-- lsp-table:{label}:start -->", f"<!-- lsp-table:{label}:end -->"
    block = f"{start}\n### {title}\n\n{body}{end}"
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    write_text_atomic(path, text)


def bone_violations(config: Any, results: Mapping[str, Any], run_dir: Path) -> dict[str, float]:
    """Share of each method's test predictions that break the bone-ratio statistics of the
    run's annotated training poses (and of the test annotation itself, for reference)."""
    return checkpoint_violations(config, {m: run_dir / "checkpoints" / f"{m}.ckpt" for m in METHODS if m in results})


def checkpoint_violations(config: Any, checkpoints: Mapping[str, Path]) -> dict[str, float]:
    """Share (%) of each checkpoint's test predictions that break the bone-ratio statistics of the
    run's annotated training poses, and ``annotation``: the test annotation's own share."""
    from torch.utils.data import DataLoader

    from mirrornet.checkpoints import load_checkpoint
    from mirrornet.data.builders import build_codec_for
    from mirrornet.inference import collect_predictions
    from mirrornet.plausibility import BoneStatistics
    from mirrornet.training.datamodule import build_training_data

    data = build_training_data(config)
    records = [r for r, a in zip(data.train.records, data.annotated) if a]
    stats = BoneStatistics.fit(np.stack([r.joints for r in records]), np.stack([r.labelled for r in records]))
    codec = build_codec_for(config)
    out: dict[str, float] = {}
    batch = config.train.eval_batch_size or config.train.batch_size
    for name, path in checkpoints.items():
        model, _ = load_checkpoint(path)
        pred = collect_predictions(model, DataLoader(data.test, batch_size=batch), codec)
        out[name] = 100.0 * stats.violations(pred.pred_image, pred.mask)["any"]
        if "annotation" not in out:
            out["annotation"] = 100.0 * stats.violations(pred.gt_image, pred.mask)["any"]
    return out


def summarise_run(results: Mapping[str, Any], violations: Mapping[str, float], seconds: float | None) -> dict:
    """The per-run JSON written beside the table."""
    row: dict[str, Any] = {"violations_pct": dict(violations), "train_minutes": seconds and round(seconds / 60, 2)}
    for method in METHODS:
        if method not in results:
            continue
        r = results[method]
        row[method] = {
            "val_last_epochs": r["groups"],
            "test": r["final"]["test"]["groups"],
            "test_flip": r["final"]["test_flip"]["groups"],
            "test_people": r["final"]["test"]["people"],
            "alpha_steps": r.get("alpha_steps"),
            "annotated_draws": r.get("annotated_draws"),
            "unannotated_draws": r.get("unannotated_draws"),
        }
    return row


def table_markdown(runs: Mapping[tuple[float, int], Mapping[str, Any]], header: Mapping[str, str],
                   not_run: Sequence[str]) -> str:
    """The markdown body: header lines, the test table, the paired claims, validation, plausibility."""
    lines = [f"- **{k}**: {v}" for k, v in header.items()]
    ratios = sorted({r for r, _ in runs})

    def seeds_of(ratio: float) -> list[int]:
        return sorted(s for r, s in runs if r == ratio)

    lines += ["", "#### Test split (all LSP test people, final α, no flip test): PCK@0.2, mean ± sd over seeds", "",
              "| annotated | method | " + " | ".join(GROUPS) + " | Total per seed | Total, flip test |",
              "|---|---|" + "---|" * len(GROUPS) + "---|---|"]
    for ratio in ratios:
        for m in METHODS:
            have = [s for s in seeds_of(ratio) if m in runs[(ratio, s)]]
            if not have:
                continue
            cells = [mean_std([runs[(ratio, s)][m]["test"][g] for s in have]) for g in GROUPS]
            per_seed = ", ".join(f"{runs[(ratio, s)][m]['test']['Total']:.2f}" for s in have)
            flip = mean_std([runs[(ratio, s)][m]["test_flip"]["Total"] for s in have])
            lines.append(f"| {ratio:.0%} | {LABELS[m]} | " + " | ".join(cells) + f" | {per_seed} | {flip} |")

    def paired(ratio: float, a: str, b: str, split: str) -> tuple[str, str]:
        diffs = [runs[(ratio, s)][a][split]["Total"] - runs[(ratio, s)][b][split]["Total"]
                 for s in seeds_of(ratio) if a in runs[(ratio, s)] and b in runs[(ratio, s)]]
        return mean_std(diffs), f"{sum(d > 0 for d in diffs)}/{len(diffs)}"

    lines += ["", "#### The paper's claims, paired by seed (difference of Total, points)", "",
              "| annotated | split | (A) supervised − baseline | seeds > 0 | (B) semi-supervised − supervised | seeds > 0 |",
              "|---|---|---|---|---|---|"]
    for ratio in ratios:
        for split, name in (("test", "test"), ("val_last_epochs", "validation (last epochs)")):
            a, a_pos = paired(ratio, "supervised", "baseline", split)
            b, b_pos = paired(ratio, "semi_supervised", "supervised", split)
            lines.append(f"| {ratio:.0%} | {name} | {a} | {a_pos} | {b} | {b_pos} |")

    lines += ["", "#### Validation split (mean of the last epochs) and plausibility", "",
              "| annotated | method | validation Total | bone-ratio violations on test, % | α steps | annotated draws |",
              "|---|---|---|---|---|---|"]
    for ratio in ratios:
        for m in METHODS:
            have = [s for s in seeds_of(ratio) if m in runs[(ratio, s)]]
            if not have:
                continue
            val = mean_std([runs[(ratio, s)][m]["val_last_epochs"]["Total"] for s in have])
            bad = mean_std([runs[(ratio, s)]["violations_pct"][m] for s in have])
            steps = mean_count([runs[(ratio, s)][m]["alpha_steps"] for s in have])
            draws = mean_count([runs[(ratio, s)][m]["annotated_draws"] for s in have])
            lines.append(f"| {ratio:.0%} | {LABELS[m]} | {val} | {bad} | {steps} | {draws} |")
        ann = [runs[(ratio, s)]["violations_pct"].get("annotation") for s in seeds_of(ratio)]
        ann = [a for a in ann if a is not None]
        if ann:
            lines.append(f"| {ratio:.0%} | (test annotation) | – | {mean_std(ann)} | – | – |")
    if not_run:
        lines += ["", "Not run: " + " ".join(not_run)]
    return "\n".join(lines) + "\n"


def _build_parser() -> argparse.ArgumentParser:
    """The command line of the grid."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--root", type=Path, required=True,
                        help="folder holding lsp/ (and lspet/ for the lsp preset), e.g. ../shared/data")
    parser.add_argument("--preset", default="lsp_small", help="lsp_small (default), lsp, or a YAML path")
    parser.add_argument("--ratios", type=parse_ratio, nargs="+", default=None,
                        help="annotated ratios in %% or as fractions (default 20 40 60 80)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="config override applied to every run (repeatable)")
    parser.add_argument("--label", default=None, help="results section, run and JSON folder name (default: preset)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "lsp_table", help="run folders")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "RESULTS.md", help="markdown file")
    parser.add_argument("--json-dir", type=Path, default=REPO / "benchmarks" / "results",
                        help="where the per-run JSON files go (a folder per label)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _grid_run(config: Any, ratio: float, seed: int, out: Path, json_dir: Path, progress: bool) -> dict[str, Any]:
    """One run of the grid: read back when its JSON holds this very config, trained (or resumed)
    otherwise; its summary."""
    name = f"r{int(round(ratio * 100)):02d}_s{seed}"
    summary_path, run_dir = json_dir / f"{name}.json", out / name
    # Read back only a run of this very config (another --override under the same label is
    # refused); a truncated file is trained (resumed) again.
    done = read_run(summary_path, config.to_dict(), run_dir)
    if done is not None:
        return done
    print(f"[lsp] {ratio:.0%} annotated, seed {seed} -> {run_dir}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    from mirrornet.training import run_experiment

    results = run_experiment(config, run_dir, resume=True, progress=progress)
    seconds = time.perf_counter() - t0
    summary = summarise_run(results, bone_violations(config, results, run_dir), seconds)
    write_run(summary_path, config.to_dict(), summary)
    print(f"[lsp] done in {seconds / 60:.1f} min: test Total "
          + ", ".join(f"{m} {summary[m]['test']['Total']:.2f}" for m in METHODS if m in summary),
          file=sys.stderr, flush=True)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid on real LSP and write the table; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)

    from mirrornet.config import load_config
    from mirrornet.demo import find_preset

    preset = Path(args.preset) if args.preset.endswith(".yaml") else find_preset(args.preset)
    root = args.root.resolve()
    if not (root / "lsp" / "joints.mat").is_file():
        parser.error(f"--root {args.root}: no lsp/joints.mat there (the folder must hold lsp/ and lspet/)")
    ratios = args.ratios or [0.2, 0.4, 0.6, 0.8]
    seeds = args.seeds or [0, 1, 2]
    label = args.label or preset.stem
    out, json_dir = args.out / label, args.json_dir / label
    out.mkdir(parents=True, exist_ok=True)
    json_dir.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    started = time.perf_counter()

    data_keys = [f"data.root={root / 'lsp'}"]
    base = load_config(preset, [*args.override, *data_keys])
    if base.data.lspet_root:
        data_keys.append(f"data.lspet_root={root / 'lspet'}")
        base = load_config(preset, [*args.override, *data_keys])
    runs: dict[tuple[float, int], dict[str, Any]] = {}

    def write() -> None:
        minutes = [r["train_minutes"] for r in runs.values() if r.get("train_minutes")]
        header = {
            **run_header("lsp_table", argv, preset, args.override, base,
                         f"generator variance {base.model.generator_variance}, {{batch}}, mixed epoch "
                         f"{base.train.mixed_epoch}, validation {base.data.val_ratio:.0%} of the training images"),
            "seeds": ", ".join(map(str, seeds)) + " (a seed draws the annotated split and the training randomness)",
            "minutes per run": f"{mean_std(minutes)} (runs trained in this invocation)" if minutes else "–",
            "per-run JSON": f"`{json_dir.relative_to(REPO) if json_dir.is_relative_to(REPO) else json_dir}/`",
        }
        missing = [f"{r:.0%}/seed {s}" for r in ratios for s in seeds if (r, s) not in runs]
        not_run = [f"runs {', '.join(missing)} (stopped or pending)."] if missing else []
        skipped = sorted({0.2, 0.4, 0.6, 0.8} - set(ratios))
        if skipped:
            not_run.append(f"ratios {', '.join(f'{r:.0%}' for r in skipped)}.")
        replace_section(args.results, label, f"Real LSP — {label}", table_markdown(runs, header, not_run))

    for seed in seeds:  # seeds outermost: a stopped grid still has every ratio for the first seeds
        for ratio in ratios:
            config = load_config(preset, [*args.override, *data_keys, f"data.annotated_ratio={ratio}",
                                          f"data.split_seed={seed}", f"train.seed={seed}"])
            runs[(ratio, seed)] = _grid_run(config, ratio, seed, out, json_dir, progress)
            write()
    write()
    print(f"[lsp] {len(runs)} runs in {(time.perf_counter() - started) / 60:.1f} min; table in {args.results}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "lsp"))
