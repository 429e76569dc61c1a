"""Tests of export_synthetic: round trips through the real-format readers, and atomicity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mirrornet.data.synthetic.export as synthetic_export
from mirrornet.data import load_image, load_silhouette, read_lsp, read_lspet, read_mpii
from mirrornet.data.synthetic import SyntheticPeople, export_synthetic
from mirrornet.skeleton import JOINT_INDEX, LSP_TO_MPII

LSP14 = list(LSP_TO_MPII)
CENTRE = [JOINT_INDEX["pelvis"], JOINT_INDEX["thorax"]]


def _check_common(rec, sample) -> None:
    """Silhouette identical to the mask; JPEG image close to the generated one."""
    mask = load_silhouette(rec.silhouette)
    assert np.array_equal(mask, sample["mask"])
    image = load_image(rec.image)
    assert image.shape == sample["image"].shape
    # JPEG at quality 95 (4:4:4) of noisy difficulty-1 scenes: ~3 grey levels off on average,
    # against ~50 for a different image.
    assert np.abs(image.astype(float) - sample["image"]).mean() < 6.0


def test_lsp_round_trip(tmp_path: Path) -> None:
    out = export_synthetic(tmp_path / "lsp", "lsp", num=6, size=64, seed=3, difficulty=1.0, progress=False)
    people = SyntheticPeople(6, image_size=64, seed=3, difficulty=1.0)
    train, test = read_lsp(out, "train"), read_lsp(out, "test")
    assert [r.image_id for r in train] == ["im0001.jpg", "im0002.jpg", "im0003.jpg"]
    assert [r.image_id for r in test] == ["im0004.jpg", "im0005.jpg", "im0006.jpg"]
    hidden = 0
    for i, rec in enumerate(train + test):
        s = people[i]
        np.testing.assert_allclose(rec.joints, s["joints"], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(rec.visible[LSP14], s["visible"][LSP14])
        # LSP stores no pelvis / thorax flag: the reader's (min of the parents) is never stricter.
        assert (rec.visible[CENTRE] >= s["visible"][CENTRE]).all()
        np.testing.assert_array_equal(rec.labelled, np.ones(16))
        hidden += int((s["visible"][LSP14] == 0).sum())
        _check_common(rec, s)
    assert hidden > 0  # the occlusion flag was exercised


def test_lspet_round_trip(tmp_path: Path) -> None:
    out = export_synthetic(tmp_path / "lspet", "lspet", num=3, size=48, seed=5, difficulty=1.0, progress=False)
    assert (out / "images" / "im00003.jpg").is_file() and (out / "images" / "im00003_segmentation.png").is_file()
    people = SyntheticPeople(3, image_size=48, seed=5, difficulty=1.0)
    records = read_lspet(out)
    assert len(records) == 3
    hidden = 0
    for i, rec in enumerate(records):
        s = people[i]
        # LSPET's flag 0 means "not annotated": occluded synthetic joints, written with flag 0,
        # come back unlabelled (as the real LSPET's placeholders do); the others are exact.
        np.testing.assert_array_equal(rec.labelled[LSP14], s["visible"][LSP14])
        keep = rec.labelled > 0
        np.testing.assert_allclose(rec.joints[keep], s["joints"][keep], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(rec.visible[LSP14], s["visible"][LSP14])
        hidden += int((rec.labelled[LSP14] == 0).sum())
        _check_common(rec, s)
    assert hidden > 0


def test_mpii_round_trip(tmp_path: Path) -> None:
    out = export_synthetic(tmp_path / "mpii", "mpii", num=10, size=64, seed=2, difficulty=1.0, progress=False)
    people = SyntheticPeople(10, image_size=64, seed=2, difficulty=1.0, return_factors=True)
    train, valid = read_mpii(out, "train"), read_mpii(out, "valid")
    assert len(train) == 8 and len(valid) == 2
    outside = 0
    for i, rec in enumerate(train + valid):
        s = people[i]
        ref = people.record(i)
        xy = s["joints"]
        inside = ((xy >= -0.5) & (xy < 63.5)).all(axis=1)
        outside += int((~inside).sum())
        # MPII annotates joints inside the frame; the HRNet files carry no occlusion flag.
        np.testing.assert_array_equal(rec.labelled, inside.astype(float))
        np.testing.assert_array_equal(rec.visible, inside.astype(float))
        np.testing.assert_allclose(rec.joints[inside], xy[inside], rtol=0, atol=1e-9)
        np.testing.assert_allclose(rec.center, ref.center, rtol=0, atol=1e-9)
        assert rec.scale == pytest.approx(ref.scale, abs=1e-12)
        _check_common(rec, s)
        if i >= 8:
            np.testing.assert_allclose(rec.head_box, ref.head_box, rtol=0, atol=1e-9)
    assert outside > 0  # difficulty 1 cuts some people: the missing-joint path was exercised


@pytest.mark.parametrize("format, files", [
    ("lspet", ("joints.mat", "images/im00001.jpg", "images/im00002_segmentation.png")),
    ("mpii", ("annot/gt_valid.mat", "annot/train.json")),
])
def test_export_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format: str,
                                 files: tuple[str, ...]) -> None:
    import time

    # scipy stamps a MAT file's header with the time of writing: the two exports get different clocks.
    clocks = iter(["Thu Dec  3 13:49:01 2026", "Thu Dec  3 13:49:02 2026"] * 4)
    monkeypatch.setattr(time, "asctime", lambda *_: next(clocks))
    a = export_synthetic(tmp_path / "a", format, num=5, size=32, seed=4, progress=False)
    b = export_synthetic(tmp_path / "b", format, num=5, size=32, seed=4, progress=False)
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_interrupted_export_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = synthetic_export._write_image

    def failing(image: np.ndarray, path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated interruption")
        real(image, path)

    monkeypatch.setattr(synthetic_export, "_write_image", failing)
    for fmt in ("lsp", "mpii"):
        calls["n"] = 0
        with pytest.raises(KeyboardInterrupt):
            export_synthetic(tmp_path / fmt, fmt, num=6, size=32, seed=0, progress=False)
        assert not (tmp_path / fmt).exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left either


def test_refuses_to_overwrite_a_non_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        export_synthetic(out, "lsp", num=2, size=32, progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        export_synthetic(a_file, "lsp", num=2, size=32, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    export_synthetic(empty, "lsp", num=2, size=32, progress=False)
    assert (empty / "joints.mat").is_file()


@pytest.mark.parametrize("fmt, num, match", [("coco", 4, "format"), ("lsp", 1, "num"), ("lspet", 0, "num")])
def test_bad_arguments(tmp_path: Path, fmt: str, num: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        export_synthetic(tmp_path / "x", fmt, num=num, size=32, progress=False)
    assert not (tmp_path / "x").exists()
