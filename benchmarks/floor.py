"""The image-blind floor of LSP's test split: the mean training pose placed in every test crop.

No image is read: the floor needs the people's boxes and joints only (:func:`mirrornet.floor.records_floor`).
Printed for the training sets and crops of the presets whose tables the README shows (64×64 and
128×128 crops with the margin 1.25: the floor does not depend on the crop's size, only on its
margin); written to ``benchmarks/results/floor.json`` and the section ``floor`` of
``benchmarks/RESULTS.md``.

Usage:
    python -m benchmarks.floor --root ../shared/data
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.cli_runs import REPO, save_record

from benchmarks.lsp_table import replace_section

TRAINING_SETS = {
    "LSP train (1,000)": ("lsp",),
    "LSP train + LSPET (11,000)": ("lsp", "lspet"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder holding lsp/ and lspet/")
    args = parser.parse_args(argv)
    from mirrornet.data import read_lsp, read_lspet
    from mirrornet.floor import records_floor

    lsp_train, test = read_lsp(args.root / "lsp", "train"), read_lsp(args.root / "lsp", "test")
    readers = {"lsp": lambda: list(lsp_train), "lspet": lambda: list(read_lspet(args.root / "lspet"))}
    rows = {}
    for name, parts in TRAINING_SETS.items():
        train = [r for part in parts for r in readers[part]()]
        for size in (64, 128):
            rows[f"{name}, {size}×{size}"] = records_floor(train, test, (size, size), 1.25)
    save_record(REPO / "benchmarks" / "results" / "floor.json", None, {"results": rows, "test_people": len(test)})
    names = list(next(iter(rows.values())))
    lines = ["The mean annotated training pose placed in each of LSP's 1,000 test crops (crop from the "
             "annotated joints' box, margin 1.25), without looking at the image:", "",
             "| training poses, crop | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {row} | " + " | ".join(f"{v:.2f}" for v in figures.values()) + " |" for row, figures in rows.items()]
    text = "\n".join(lines) + "\n\nCommand: `python -m benchmarks.floor --root ../shared/data`.\n"
    print(text)
    replace_section(REPO / "benchmarks" / "RESULTS.md", "floor", "The image-blind floor on LSP's test split", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
