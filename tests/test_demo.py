"""The quick demo end to end through the command line, and the demo's preset lookup."""

from __future__ import annotations

import json
import math

import pytest

from mirrornet import demo, skeleton, viz

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


def test_quick_demo_via_cli(tmp_path, monkeypatch, capfd) -> None:
    from mirrornet.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIRRORNET_NO_PROGRESS", "0")  # the output a user sees
    out = tmp_path / "demo out"
    status = main(["demo", "--quick", "--out", str(out), "--json"])
    assert status in (0, None)
    captured = capfd.readouterr()  # file descriptors: Lightning's and matplotlib's loggers too
    # Quiet: a line per stage and per epoch, no banners, tips, adverts or font fallbacks.
    assert len(captured.err.splitlines()) <= 80, captured.err
    for noise in ("GPU available", "TPU available", "litlogger", "Tip:", "findfont", "Trainer.fit", "it/s"):
        assert noise not in captured.err + captured.out, noise
    assert "pretrain_alpha epoch 1/" in captured.err
    for group in skeleton.GROUP_NAMES:  # the Table 2 layout was printed (to stderr with --json)
        assert group in captured.err

    results = json.loads((out / "results.json").read_text())
    assert json.loads(captured.out) == results  # with --json, standard output is the results alone
    for method in ("baseline", "supervised", "semi_supervised"):
        groups = results[method]["groups"]
        assert set(skeleton.GROUP_NAMES) <= set(groups)
        assert all(0.0 <= groups[g] <= 100.0 for g in skeleton.GROUP_NAMES)
    plaus = results["plausibility"]
    for name in ("baseline", "supervised", "semi_supervised", "annotation"):
        entry = plaus[name]
        assert 0.0 <= entry["violations"] <= 1.0
        assert entry["symmetry_violations"] <= entry["violations"] + 1e-12
        assert math.isfinite(entry["log_p_lower_bound"])
        assert entry["num_poses"] > 0
    assert results["demo"]["quick"] is True

    for name in FIGURES:
        path = out / "figures" / f"{name}.png"
        assert path.is_file(), f"missing figure {path}"
        assert viz.is_png(path), f"not a PNG: {path}"


def _benchmark_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_table.py"
    spec = importlib.util.spec_from_file_location("synthetic_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "lsp_table.py"
    spec = importlib.util.spec_from_file_location("lsp_table", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
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
