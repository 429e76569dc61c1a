"""The quick demo end to end through the command line, the demo's preset lookup, and the benchmark
tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mirrornet import demo, viz

FIGURES = ("learning_curves", "poses", "image_vae", "pose_vae", "masks", "prior_samples")


def test_presets_are_found_and_quick_overrides_are_valid(tmp_path, monkeypatch) -> None:
    from mirrornet.config import load_config

    monkeypatch.chdir(tmp_path)  # the lookup must not depend on the working directory
    path = demo.find_preset("demo")
    assert path.is_file() and path.suffix == ".yaml"
    quick = load_config(path, list(demo.QUICK_OVERRIDES))
    full = load_config(path)
    assert quick.data.synthetic_num_train < full.data.synthetic_num_train
    assert quick.train.n_annotated + quick.train.n_unannotated == quick.train.batch_size
    with pytest.raises(FileNotFoundError, match="no_such_preset"):
        demo.find_preset("no_such_preset")


@dataclass
class DemoRun:
    """One ``mirrornet demo --quick --json`` process: its exit status, output and results.json."""

    out: Path
    status: int
    stdout: str
    stderr: str

    @property
    def results(self) -> dict:
        return json.loads((self.out / "results.json").read_text())


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory) -> list[DemoRun]:
    """Two quick demos with the same seed in two folders, as a user runs them (a process each,
    progress on), side by side: they take one thread each, so the pair costs about one run on
    two free cores."""
    root = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "MIRRORNET_NO_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = []
    try:
        for name in ("demo out", "again"):
            out, stdout, stderr = root / name, root / f"{name}.stdout", root / f"{name}.stderr"
            with stdout.open("w") as o, stderr.open("w") as e:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "mirrornet.cli", "demo", "--quick", "--out", str(out), "--json"],
                    cwd=root, env=env, stdout=o, stderr=e,
                )
            started.append((proc, out, stdout, stderr))
        runs = []
        for proc, out, stdout, stderr in started:
            status = proc.wait(timeout=600)
            runs.append(DemoRun(out, status, stdout.read_text(), stderr.read_text()))
    finally:
        for proc, *_ in started:
            if proc.poll() is None:
                proc.kill()
    for run in runs:
        assert run.status == 0, run.stderr
    return runs


def _printed_tables(stderr: str) -> str:
    """The tables the demo printed (to standard error with --json), without the timing line."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "PCK@0.2")
    end = next(i for i, line in enumerate(lines) if line.startswith("results: "))
    return "\n".join(lines[start:end]).rstrip()


def test_quick_demo_output_is_quiet_and_stdout_is_the_results(demo_runs) -> None:
    run = demo_runs[0]
    # Quiet: a line per stage and per epoch, no banners, tips, adverts or font fallbacks.
    assert len(run.stderr.splitlines()) <= 80, run.stderr
    for noise in ("GPU available", "TPU available", "litlogger", "Tip:", "findfont", "Trainer.fit", "it/s", "Warning"):
        assert noise not in run.stderr + run.stdout, noise
    assert "pretrain_alpha epoch 1/" in run.stderr
    assert json.loads(run.stdout) == run.results  # with --json, standard output is the results alone
    assert run.results["demo"]["quick"] is True


def test_quick_demo_prints_the_tables_it_writes(demo_runs) -> None:
    from mirrornet.metrics import format_table
    from mirrornet.plausibility import format_plausibility
    from mirrornet.training.results import format_final_table

    results = demo_runs[0].results
    methods = ["baseline", "supervised", "semi_supervised"]
    labels = ["Baseline", "Supervised MirrorNet", "Semi-supervised MirrorNet"]
    table = format_table({label: results[m]["groups"] for label, m in zip(labels, methods, strict=True)}, "PCK@0.2")
    plausibility = format_plausibility(results["plausibility"], [*methods, "annotation"])
    final = format_final_table({label: results[m] for label, m in zip(labels, methods, strict=True)})
    assert "floor (image-blind mean pose)" in final
    assert _printed_tables(demo_runs[0].stderr) == f"{table}\n\n{final}\n\n{plausibility}"


def test_quick_demo_rows_are_fresh_evaluations_of_the_checkpoints(demo_runs, capsys) -> None:
    from mirrornet.cli import main

    run = demo_runs[0]
    results = run.results
    for method in ("baseline", "supervised", "semi_supervised"):
        row = results[method]
        checkpoint = run.out / "checkpoints" / f"{method}.ckpt"
        assert Path(row["checkpoint"]) == checkpoint
        status = main(["evaluate", str(checkpoint), "--data-format", "lsp", "--root", str(run.out / "data"),
                       "--backend", "torch", "--json"])
        assert status == 0
        fresh = json.loads(capsys.readouterr().out)
        # The quick demo reports its last epoch, evaluated on the whole test split.
        assert row["epochs"] == 1 and row["final"]["test"]["people"] == fresh["num_people"]
        assert row["groups"] == pytest.approx(fresh["groups"], abs=1e-9), method
        assert row["final"]["test"]["groups"] == pytest.approx(fresh["groups"], abs=1e-9), method
        # The plausibility of a method is measured on the same people.
        assert results["plausibility"][method]["num_poses"] == fresh["num_people"]
    assert results["plausibility"]["annotation"]["num_poses"] == results["baseline"]["final"]["test"]["people"]


def test_quick_demo_is_reproducible(demo_runs) -> None:
    first, again = demo_runs
    assert _printed_tables(again.stderr) == _printed_tables(first.stderr)
    a, b = first.results, again.results
    for method in ("baseline", "supervised", "semi_supervised"):
        assert {k: v for k, v in a[method].items() if k != "checkpoint"} == \
            {k: v for k, v in b[method].items() if k != "checkpoint"}, method
    assert a["plausibility"] == b["plausibility"]


def test_quick_demo_draws_every_figure(demo_runs) -> None:
    run = demo_runs[0]
    assert sorted(run.results["demo"]["figures"]) == sorted(FIGURES)
    for name in FIGURES:
        path = run.out / "figures" / f"{name}.png"
        assert Path(run.results["demo"]["figures"][name]) == path
        assert viz.is_png(path), f"not a PNG: {path}"


def _benchmark_module():
    from benchmarks import synthetic_table

    return synthetic_table


def test_benchmark_tables_and_sections(tmp_path) -> None:
    bench = _benchmark_module()
    assert bench.scale_composition(32, 96, 32) == (8, 24)
    assert bench.scale_composition(96, 32, 128) == (96, 32)
    assert bench.scale_composition(1, 127, 16) == (1, 15)  # at least one of each kind
    assert bench.mean_std([1.0, 3.0]) == "2.00 ± 1.41"
    assert bench.mean_std([5.0]) == "5.00"

    def run(base: float, sup: float, semi: float) -> dict:
        return {m: {"groups": {g: v for g in bench.GROUPS}}
                for m, v in (("baseline", base), ("supervised", sup), ("semi_supervised", semi))}

    grid = {(0.2, 0): run(70.0, 71.0, 69.0), (0.2, 1): run(72.0, 75.0, 74.0)}
    text = bench.grid_markdown(grid, {}, {"date": "today"}, ["ratios 40 %."])
    # Paired differences: (71 - 70, 75 - 72) = 2.00 ± 1.41; (69 - 71, 74 - 75) = -1.50 ± 0.71.
    assert "| 20% | 2 | 2.00 ± 1.41 | 2/2 | -1.50 ± 0.71 | 0/2 |" in text
    assert "| 20% | Baseline | " + " | ".join(["71.00 ± 1.41"] * 8) + " | 70.00, 72.00 |" in text
    assert text.rstrip().endswith("Not run: ratios 40 %.")

    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Someone else's section\nkeep me\n")
    bench.replace_section(results, "x", "first", "body one\n")
    bench.replace_section(results, "x", "second", "body two\n")
    content = results.read_text()
    assert "keep me" in content and "body two" in content and "body one" not in content
    assert content.count("synthetic-table:x:start") == 1


def test_lsp_benchmark_table_pairs_by_seed(tmp_path) -> None:
    from benchmarks import lsp_table as bench

    assert bench.parse_ratio("20") == 0.2 and bench.parse_ratio("0.6") == 0.6

    def run(base: float, sup: float, semi: float) -> dict:
        row = {"violations_pct": {"baseline": 10.0, "supervised": 12.0, "semi_supervised": 14.0, "annotation": 2.0}}
        for m, v in (("baseline", base), ("supervised", sup), ("semi_supervised", semi)):
            groups = {g: v for g in bench.GROUPS}
            row[m] = {"val_last_epochs": groups, "test": groups, "test_flip": groups, "test_people": 1000,
                      "alpha_steps": 100, "annotated_draws": 3000}
        return row

    runs = {(0.2, 0): run(70.0, 71.0, 69.0), (0.2, 1): run(72.0, 75.0, 74.0)}
    text = bench.table_markdown(runs, {"date": "today"}, [])
    # (71 - 70, 75 - 72) = 2.00 ± 1.41, both positive; (69 - 71, 74 - 75) = -1.50 ± 0.71, none.
    assert "| 20% | test | 2.00 ± 1.41 | 2/2 | -1.50 ± 0.71 | 0/2 |" in text
    assert "| 20% | Baseline | " + " | ".join(["71.00 ± 1.41"] * 8) + " | 70.00, 72.00 | 71.00 ± 1.41 |" in text
    assert "| 20% | (test annotation) | – | 2.00 ± 0.00 | – | – |" in text
    results = tmp_path / "RESULTS.md"
    bench.replace_section(results, "lsp_small", "Real LSP", text)
    bench.replace_section(results, "lsp_small", "Real LSP", "again\n")
    assert results.read_text().count("lsp-table:lsp_small:start") == 1 and "again" in results.read_text()
