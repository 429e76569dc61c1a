"""Bad inputs to `mirrornet predict` / `export`: exit status 2, the culprit named, no traceback, no
half-written output; images decoded as a person sees them (16-bit grey, EXIF orientation)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mirrornet.cli import main
from mirrornet.data.images import DatasetFormatError, load_image
from mirrornet.predict import predict_images, read_boxes
from mirrornet.checkpoints import CheckpointError, load_checkpoint, read_checkpoint
from mirrornet.training.checkpoint import save_checkpoint


def _png(path: Path, h: int = 40, w: int = 30, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _strict_json(text: str):
    def refuse(constant: str):
        raise AssertionError(f"bare {constant} in the JSON output")

    return json.loads(text, parse_constant=refuse)


def _clean_error(err: str, *needles: str) -> None:
    assert err.startswith("error: ") or "\nerror: " in err, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture()
def no_model_load(monkeypatch):
    """Fail the test if the command reads the checkpoint: output paths are checked before."""

    def refuse(path):
        raise AssertionError(f"the checkpoint {path} was loaded before the output paths were checked")

    monkeypatch.setattr("mirrornet.checkpoints.load_checkpoint", refuse)


# ---------------------------------------------------------------------------------------------
# 1. Images


def test_decompression_bomb_is_a_clear_error_naming_the_image(tmp_path, checkpoint, capsys, monkeypatch) -> None:
    image = _png(tmp_path / "huge.png", 20, 20)  # 400 pixels > 2 × 100: Pillow's DecompressionBombError
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    out = tmp_path / "p.json"
    assert main(["predict", str(checkpoint), str(image), "--out", str(out), "--no-progress"]) == 2
    _clean_error(capsys.readouterr().err, "huge.png")
    assert not out.exists()


def test_decompression_bomb_warning_escalated_to_an_error_names_the_image(tmp_path, monkeypatch) -> None:
    image = _png(tmp_path / "big.png", 12, 12)  # 144 pixels: between 100 and 200, a warning
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DatasetFormatError, match="big.png"):
            load_image(image)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_is_scaled_to_8_bits_not_saturated(tmp_path, suffix) -> None:
    values = np.array([[0, 257, 1000], [32768, 60000, 65535]], dtype=np.uint16)
    path = tmp_path / f"grey16{suffix}"
    img = Image.fromarray(values)  # mode I;16
    (img if suffix == ".png" else img.convert("I")).save(path)  # TIFF as 32-bit "I"
    assert Image.open(path).mode in ("I;16", "I")
    rgb = load_image(path)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    expected = np.rint(values / 257.0).astype(np.uint8)
    assert np.array_equal(rgb[..., 0], expected) and np.array_equal(rgb[..., 2], expected)


def test_exif_orientation_is_applied(tmp_path) -> None:
    # Stored 30 wide × 20 high, left half red; orientation 6 = turn 90° clockwise to display.
    stored = np.zeros((20, 30, 3), dtype=np.uint8)
    stored[:, :15, 0] = 255
    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.png"
    img.save(path, exif=exif)
    upright = load_image(path)
    assert upright.shape == (30, 20, 3)  # 20 wide × 30 high once turned
    assert (upright[:15, :, 0] == 255).all() and (upright[15:, :, 0] == 0).all()  # red on top
    # Dataset readers keep the stored pixels (their annotations are in those coordinates).
    assert load_image(path, exif_orientation=False).shape == (20, 30, 3)


# ---------------------------------------------------------------------------------------------
# 2. predict: one bad image among many, one file name in two folders


def test_one_bad_image_is_reported_and_the_others_are_written(tmp_path, checkpoint, capsys) -> None:
    good_a = _png(tmp_path / "a.png")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    good_b = _png(tmp_path / "b.png", seed=1)
    out, draw = tmp_path / "p.json", tmp_path / "drawn"
    code = main(["predict", str(checkpoint), str(good_a), str(bad), str(good_b), "--out", str(out),
                 "--draw", str(draw), "--no-progress"])
    assert code == 2
    _clean_error(capsys.readouterr().err, "broken.jpg")
    preds = _strict_json(out.read_text())
    assert [p["image"] for p in preds] == [str(good_a), str(good_b)]
    assert sorted(p.name for p in draw.iterdir()) == ["a.png", "b.png"]


def test_same_file_name_in_two_folders_does_not_collide(tmp_path, checkpoint, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _png(Path("left/x.png"), 40, 30, seed=0)
    _png(Path("right/x.png"), 50, 60, seed=1)
    boxes = Path("boxes.json")
    boxes.write_text(json.dumps({"left/x.png": [1, 2, 20, 30], "right/x.png": [[3, 4, 40, 40], [5, 5, 10, 10]]}))
    assert main(["predict", str(checkpoint), "left/x.png", "right/x.png", "--boxes", str(boxes),
                 "--out", "p.json", "--draw", "drawn", "--no-progress"]) == 0
    preds = _strict_json(Path("p.json").read_text())
    assert [(p["image"], p["bbox"]) for p in preds] == [
        ("left/x.png", [1.0, 2.0, 20.0, 30.0]),
        ("right/x.png", [3.0, 4.0, 40.0, 40.0]),
        ("right/x.png", [5.0, 5.0, 10.0, 10.0]),
    ]
    drawn = {p.name: Image.open(p).size for p in Path("drawn").iterdir()}
    assert drawn == {"left__x.png": (30, 40), "right__x.png": (60, 50)}


def test_drawing_names_are_distinct() -> None:
    from mirrornet.predict import drawing_names

    assert drawing_names(["a/x.png", "b/y.png"]) == ["x.png", "y.png"]
    assert drawing_names(["a/x.png", "b/X.png", "a__x.png"]) == ["a__x.png", "b__X.png", "a__x-2.png"]
    assert drawing_names(["/abs/x.png", "../x.png"]) == ["abs__x.png", "x.png"]


# ---------------------------------------------------------------------------------------------
# 3. Output paths are checked before any work; export writes the opset asked or refuses


@pytest.mark.parametrize(
    "layout,option",
    [
        ("out_is_a_folder", "--out"),
        ("out_under_a_file", "--out"),
        ("out_with_trailing_slash", "--out"),
        ("out_is_the_image", "--out"),
        ("draw_is_a_file", "--draw"),
        ("draw_under_a_file", "--draw"),
        ("drawing_is_a_folder", "--draw"),
        ("draw_over_the_image", "--draw"),
    ],
)
def test_predict_bad_output_paths_fail_before_any_work(tmp_path, checkpoint, capsys, no_model_load, layout, option) -> None:
    image = _png(tmp_path / "img" / "a.png")
    (tmp_path / "file").write_text("x")
    out, draw = str(tmp_path / "p.json"), str(tmp_path / "drawn")
    culprit = {
        "out_is_a_folder": str(tmp_path / "img"),
        "out_under_a_file": str(tmp_path / "file" / "p.json"),
        "out_with_trailing_slash": str(tmp_path / "newdir") + "/",
        "out_is_the_image": str(image),
        "draw_is_a_file": str(tmp_path / "file"),
        "draw_under_a_file": str(tmp_path / "file" / "drawn"),
        "drawing_is_a_folder": draw,
        "draw_over_the_image": str(tmp_path / "img"),
    }[layout]
    if layout == "drawing_is_a_folder":
        (tmp_path / "drawn" / "a.png").mkdir(parents=True)
    if option == "--out":
        out = culprit
    else:
        draw = culprit
    assert main(["predict", str(checkpoint), str(image), "--out", out, "--draw", draw, "--no-progress"]) == 2
    _clean_error(capsys.readouterr().err, option, culprit.rstrip("/"))
    assert Image.open(image).size == (30, 40)  # the input is untouched
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "newdir").exists()


def test_unwritable_output_folder_fails_before_any_work(tmp_path, checkpoint, capsys, no_model_load, monkeypatch) -> None:
    # Root may write anywhere, so the permission is simulated.
    image = _png(tmp_path / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real_access(p, mode, **kw))
    assert main(["predict", str(checkpoint), str(image), "--out", str(locked / "p.json")]) == 2
    _clean_error(capsys.readouterr().err, "--out", str(locked))
    assert main(["predict", str(checkpoint), str(image), "--out", str(tmp_path / "p.json"), "--draw", str(locked)]) == 2
    _clean_error(capsys.readouterr().err, "--draw", str(locked))
    assert main(["export", str(checkpoint), "--onnx", str(locked / "sub" / "a.onnx")]) == 2
    _clean_error(capsys.readouterr().err, "--onnx", str(locked))


@pytest.mark.parametrize("layout", ["a_folder", "under_a_file", "the_checkpoint"])
def test_export_bad_onnx_path_fails_before_any_work(tmp_path, checkpoint, capsys, no_model_load, layout) -> None:
    (tmp_path / "file").write_text("x")
    onnx_path = {"a_folder": str(tmp_path), "under_a_file": str(tmp_path / "file" / "a.onnx"),
                 "the_checkpoint": str(checkpoint)}[layout]
    assert main(["export", str(checkpoint), "--onnx", onnx_path]) == 2
    _clean_error(capsys.readouterr().err, "--onnx", onnx_path)


@pytest.mark.parametrize("opset", [0, 99])
def test_export_refuses_an_opset_out_of_range(tmp_path, checkpoint, capsys, no_model_load, opset) -> None:
    out = tmp_path / "a.onnx"
    assert main(["export", str(checkpoint), "--onnx", str(out), "--opset", str(opset)]) == 2
    _clean_error(capsys.readouterr().err, f"--opset {opset}")
    assert not out.exists()


def test_export_writes_the_opset_asked(tmp_path, checkpoint) -> None:
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "a.onnx"
    assert main(["export", str(checkpoint), "--onnx", str(out), "--opset", "13"]) == 0
    opsets = {o.domain: o.version for o in onnx.load(str(out)).opset_import}
    assert opsets.get("", opsets.get("ai.onnx")) == 13
    assert not list(tmp_path.glob(".a.*"))  # no temporary file left


# ---------------------------------------------------------------------------------------------
# 4. Numbers: non-finite predictions, weights and boxes


def test_non_finite_keypoints_are_null_with_a_warning(tmp_path, checkpoint, capsys, monkeypatch) -> None:
    import mirrornet.inference as inference

    real = inference.predict_batch

    def nan_joints(*args, **kwargs):
        coords, scores = real(*args, **kwargs)
        coords[:, 3] = float("nan")  # l_hip's position
        scores[:, 5] = float("inf")  # l_ankle's score
        return coords, scores

    monkeypatch.setattr(inference, "predict_batch", nan_joints)
    image = _png(tmp_path / "a.png")
    out = tmp_path / "p.json"
    assert main(["predict", str(checkpoint), str(image), "--out", str(out), "--draw", str(tmp_path / "d"),
                 "--no-progress"]) == 0
    (entry,) = _strict_json(out.read_text())
    kp = entry["keypoints"]
    assert kp[9] is None and kp[10] is None and kp[17] is None and entry["score"] is None
    assert sum(v is None for v in kp) == 3
    assert entry["warnings"] and "l_hip" in entry["warnings"][0] and "l_ankle" in entry["warnings"][0]
    assert "warning" in capsys.readouterr().err
    assert (tmp_path / "d" / "a.png").is_file()


def test_checkpoint_with_non_finite_weights_is_refused(tmp_path, checkpoint, capsys) -> None:
    payload = read_checkpoint(checkpoint)
    payload.pop("format")
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point() and k.startswith("alpha."))
    payload["state_dict"] = dict(payload["state_dict"])
    payload["state_dict"][key] = payload["state_dict"][key].clone()
    payload["state_dict"][key].view(-1)[0] = float("nan")
    bad = tmp_path / "nan.ckpt"
    save_checkpoint(bad, payload)
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
        load_checkpoint(bad)
    image = _png(tmp_path / "a.png")
    assert main(["predict", str(bad), str(image), "--out", str(tmp_path / "p.json")]) == 2
    _clean_error(capsys.readouterr().err, "nan.ckpt", key)
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    "box",
    [
        "[0, 0, 1e308, 1e308]",
        "[1e308, 0, 10, 10]",
        "[0, 0, 1e400, 10]",
        "[0, 0, NaN, 10]",
        "[0, 0, -5, 10]",
        "[0, 0, 10, 0]",
        "[true, 0, 10, 10]",
        '{"x": 1}',
        "5",
        "[0, 0, 1e-300, 10]",
        "[-100, -100, 50, 50]",
    ],
)
def test_bad_boxes_are_refused_naming_the_image(tmp_path, checkpoint, capsys, box) -> None:
    image = _png(tmp_path / "person.png")
    boxes = tmp_path / "boxes.json"
    boxes.write_text('{"person.png": ' + box + "}")
    out = tmp_path / "p.json"
    assert main(["predict", str(checkpoint), str(image), "--boxes", str(boxes), "--out", str(out), "--no-progress"]) == 2
    _clean_error(capsys.readouterr().err, "person.png")
    assert not out.exists()


def test_image_without_a_boxes_entry_is_reported(tmp_path, checkpoint, capsys) -> None:
    listed, unlisted = _png(tmp_path / "listed.png"), _png(tmp_path / "unlisted.png", seed=1)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"listed.png": [0, 0, 20, 30]}))
    out = tmp_path / "p.json"
    assert main(["predict", str(checkpoint), str(listed), str(unlisted), "--boxes", str(boxes), "--out", str(out),
                 "--no-progress"]) == 2
    _clean_error(capsys.readouterr().err, "unlisted.png")
    assert [p["image"] for p in _strict_json(out.read_text())] == [str(listed)]


def test_read_boxes_names_a_folder_or_binary_file(tmp_path) -> None:
    from mirrornet.predict import PredictError

    with pytest.raises(PredictError, match="boxes file"):
        read_boxes(tmp_path)
    binary = tmp_path / "boxes.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(PredictError, match="boxes.bin"):
        read_boxes(binary)


def test_predict_images_on_error_skips_the_bad_image(tmp_path, checkpoint) -> None:
    model, config = load_checkpoint(checkpoint)
    good = _png(tmp_path / "good.png")
    errors: list[tuple[str, str]] = []
    results = predict_images(model, config, [str(tmp_path / "missing.png"), str(good)],
                             on_error=lambda image, exc: errors.append((image, str(exc))))
    assert [r["image"] for r in results] == [str(good)]
    assert errors and errors[0][0].endswith("missing.png") and "missing.png" in errors[0][1]
