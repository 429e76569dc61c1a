"""Bar charts of the benchmark tables, drawn from the per-run JSON under ``benchmarks/results``.

One chart per results folder: PCK@0.2 Total of the three methods at each annotated ratio, the
bar the mean over seeds and the whisker the standard deviation, each seed a dot. For the real
LSP tables (``benchmarks.lsp_table``) the figure is the final α on the test split; for the
SyntheticPeople grids (``benchmarks.synthetic_table``) the paper's mean of the last epochs.

Usage:
    python -m benchmarks.plot_tables                     # every folder under benchmarks/results
    python -m benchmarks.plot_tables lsp_small synthetic-medium-annotation --out docs/images
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mirrornet.curriculum import METHOD_LABELS as LABELS
from mirrornet.curriculum import METHODS
from mirrornet.fileio import save_figure

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
COLOURS = {"baseline": "#7f7f7f", "supervised": "#1f77b4", "semi_supervised": "#d62728"}
RUN_NAME = re.compile(r"^r(\d+)_s(\d+)$")


def load_totals(folder: Path) -> dict[int, dict[str, list[float]]]:
    """ratio (%) → method → Total per seed, from a results folder of either benchmark."""
    totals: dict[int, dict[str, list[float]]] = {}
    runs: dict[str, dict] = {}
    grid = folder / "grid.json"
    if grid.is_file():  # synthetic_table: one file, the last-epochs figure per method
        for name, row in json.loads(grid.read_text())["runs"].items():
            runs[name] = {m: (v["groups"] if "groups" in v else v)["Total"] for m, v in row.items()}
    for path in sorted(folder.glob("r*_s*.json")):  # lsp_table: one file per run, the test figure
        row = json.loads(path.read_text())
        runs[path.stem] = {m: row[m]["test"]["Total"] for m in METHODS if m in row}
    for name, by_method in runs.items():
        match = RUN_NAME.match(name)
        if not match:
            continue
        ratio = int(match.group(1))
        for method, total in by_method.items():
            totals.setdefault(ratio, {}).setdefault(method, []).append(float(total))
    return totals


def plot(folder: Path, out: Path) -> Path:
    """Draw one folder's chart into ``out/<folder name>.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = load_totals(folder)
    if not totals:
        raise SystemExit(f"{folder}: no finished run to plot")
    ratios = sorted(totals)
    fig, ax = plt.subplots(figsize=(1.9 * len(ratios) + 2.0, 3.4))
    width = 0.26
    for i, method in enumerate(METHODS):
        xs, means, sds = [], [], []
        for j, ratio in enumerate(ratios):
            values = totals[ratio].get(method, [])
            if not values:
                continue
            x = j + (i - 1) * width
            xs.append(x)
            means.append(np.mean(values))
            sds.append(np.std(values, ddof=1) if len(values) > 1 else 0.0)
            ax.scatter([x] * len(values), values, s=9, color="black", zorder=3)
        ax.bar(xs, means, width, yerr=sds, capsize=3, color=COLOURS[method], label=LABELS[method])
    every = [v for r in totals.values() for vs in r.values() for v in vs]
    ax.set_ylim(max(0.0, min(every) - 8.0), min(100.0, max(every) + 4.0))
    ax.set_xticks(range(len(ratios)), [f"{r} %" for r in ratios])
    ax.set_xlabel("annotated training images")
    ax.set_ylabel("PCK@0.2 Total")
    seeds = max(len(vs) for r in totals.values() for vs in r.values())
    ax.set_title(f"{folder.name}: mean ± sd over {seeds} seeds (dots)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, out / f"{folder.name}.png", dpi=110)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", help="folder names under benchmarks/results (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "benchmarks", help="where the PNGs go")
    args = parser.parse_args(argv)
    folders = [RESULTS / f for f in args.folders] or sorted(p for p in RESULTS.iterdir() if p.is_dir())
    for folder in folders:
        print(plot(folder, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
