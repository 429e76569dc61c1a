"""`mirrornet predict`: images of any size, PNG and JPEG, COCO layout, drawn skeletons, boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mirrornet.cli import main
from mirrornet.predict import PredictError, box_to_center_scale, read_boxes



@pytest.fixture()
def images(tmp_path) -> list[Path]:
    rng = np.random.default_rng(0)
    png = tmp_path / "tall.png"
    jpg = tmp_path / "wide.jpg"
    Image.fromarray(rng.integers(0, 255, (123, 77, 3), dtype=np.uint8)).save(png)
    Image.fromarray(rng.integers(0, 255, (300, 517, 3), dtype=np.uint8)).save(jpg)
    return [png, jpg]


def test_predict_png_and_jpeg_writes_coco_json_and_drawings(tmp_path, checkpoint, images) -> None:
    out = tmp_path / "preds.json"
    draw = tmp_path / "drawn"
    assert main(["predict", str(checkpoint), *map(str, images), "--out", str(out), "--draw", str(draw), "--no-progress"]) == 0
    preds = json.loads(out.read_text())
    assert [p["image"] for p in preds] == [str(image) for image in images]  # the paths as given
    sizes = {"tall.png": (77, 123), "wide.jpg": (517, 300)}
    for p in preds:
        w, h = sizes[Path(p["image"]).name]
        assert p["bbox"] == [0.0, 0.0, float(w), float(h)]  # the whole image without boxes
        kp = np.asarray(p["keypoints"]).reshape(16, 3)
        assert np.isfinite(kp).all()
        # The square crop around the whole image (longer side × 1.25) maps back around its centre.
        half = 1.25 * max(w, h) / 2 + 1e-3
        assert (np.abs(kp[:, 0] - w / 2) <= half).all() and (np.abs(kp[:, 1] - h / 2) <= half).all()
        assert p["score"] == pytest.approx(kp[:, 2].mean(), rel=1e-6)
    for image in images:
        drawn = Image.open(draw / image.name)
        assert drawn.size == Image.open(image).size
    assert not list(tmp_path.glob(".preds.json*"))  # no temporary file left


def test_boxes_file_gives_one_entry_per_box(tmp_path, checkpoint, images) -> None:
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"wide.jpg": [[10, 20, 100, 200], [300, 50, 80, 160]], "tall.png": [5, 5, 50, 100]}))
    out = tmp_path / "preds.json"
    assert main(["predict", str(checkpoint), *map(str, images), "--boxes", str(boxes), "--out", str(out)]) == 0
    preds = json.loads(out.read_text())
    assert [(Path(p["image"]).name, p["bbox"]) for p in preds] == [
        ("tall.png", [5.0, 5.0, 50.0, 100.0]),
        ("wide.jpg", [10.0, 20.0, 100.0, 200.0]),
        ("wide.jpg", [300.0, 50.0, 80.0, 160.0]),
    ]


def test_box_to_center_scale_fits_the_box() -> None:
    # A 100 × 200 box in a 64 × 64 input: the longer side (200) times 1.25 spans the crop.
    center, scale = box_to_center_scale([10, 20, 100, 200], (64, 64), 1.25)
    assert center.tolist() == [60.0, 120.0]
    assert 200.0 * scale == pytest.approx(200.0)
    # 256 × 192 input (MPII): the box must fit the narrower width too.
    _, scale = box_to_center_scale([0, 0, 192, 128], (256, 192), 1.25)
    zoom = 192 / (200 * scale * 1.25)
    assert 192 * zoom * 1.25 == pytest.approx(192) and 128 * zoom * 1.25 <= 256


def test_bad_inputs_are_clear_errors(tmp_path, checkpoint, capsys) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    assert main(["predict", str(checkpoint), str(bad), "--out", str(tmp_path / "p.json")]) == 2
    assert "broken.jpg" in capsys.readouterr().err
    assert main(["predict", str(checkpoint), str(tmp_path / "missing.png"), "--out", str(tmp_path / "p.json")]) == 2
    assert "missing.png" in capsys.readouterr().err
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"a.png": [1, 2, 3]}))
    with pytest.raises(PredictError, match="a.png"):
        read_boxes(boxes)
    assert not (tmp_path / "p.json").exists()
