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


def test_quick_demo_via_cli(tmp_path, monkeypatch, capsys) -> None:
    from mirrornet.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo out"
    status = main(["demo", "--quick", "--out", str(out)])
    assert status in (0, None)
    printed = capsys.readouterr().out
    for group in skeleton.GROUP_NAMES:  # the Table 2 layout was printed
        assert group in printed

    results = json.loads((out / "results.json").read_text())
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
