"""`mirrornet predict` for real photos: detector boxes, COCO output, folders, globs, lists, videos,
drawing thresholds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mirrornet.cli import main
from mirrornet.coco import COCO_FROM_MPII, COCO_KEYPOINT_NAMES
from mirrornet.skeleton import JOINT_NAMES


def _photo(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    """A random RGB image of (width, height)."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture()
def photos(tmp_path) -> list[Path]:
    folder = tmp_path / "photos"
    folder.mkdir()
    return [_photo(folder / "000000000042.png", (200, 120)), _photo(folder / "street.png", (160, 100), seed=1),
            _photo(folder / "empty.png", (90, 80), seed=2)]


def _run(argv: list[str]) -> int:
    return main(["predict", *argv, "--no-progress"])


def test_coco_detections_give_each_person_and_none_for_an_image_without_boxes(tmp_path, checkpoint, photos,
                                                                              capsys) -> None:
    detections = [
        {"image_id": 42, "category_id": 1, "bbox": [10, 5, 40, 100], "score": 0.9},
        {"image_id": 42, "category_id": 1, "bbox": [80, 10, 50, 105], "score": 0.8},
        {"image_id": 42, "category_id": 1, "bbox": [150, 20, 30, 90], "score": 0.1},   # below --bbox-thr
        {"image_id": 42, "category_id": 3, "bbox": [0, 0, 60, 60], "score": 0.99},    # a car
        {"file_name": "street.png", "category_id": 1, "bbox": [20, 10, 60, 80], "score": 0.7},
    ]
    det = tmp_path / "det.json"
    det.write_text(json.dumps(detections))
    out = tmp_path / "preds.json"
    assert _run([str(checkpoint), *map(str, photos), "--boxes", str(det), "--bbox-thr", "0.5", "--out", str(out)]) == 0
    preds = json.loads(out.read_text())
    assert [(Path(p["image"]).name, p["bbox"]) for p in preds] == [
        ("000000000042.png", [10.0, 5.0, 40.0, 100.0]),
        ("000000000042.png", [80.0, 10.0, 50.0, 105.0]),
        ("street.png", [20.0, 10.0, 60.0, 80.0]),
    ]  # empty.png has no detection: no people, no error
    assert [p.get("image_id") for p in preds] == [42, 42, None]
    assert [p["bbox_score"] for p in preds] == [0.9, 0.8, 0.7]
    for p in preds:
        kp = np.asarray(p["keypoints"]).reshape(16, 3)
        assert p["keypoint_names"] == list(JOINT_NAMES)
        assert p["score"] == pytest.approx(kp[:, 2].mean() * p["bbox_score"], rel=1e-6)
    assert "note: no --boxes" not in capsys.readouterr().err


def test_simple_boxes_file_with_an_empty_list_gives_no_people(tmp_path, checkpoint, photos) -> None:
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"000000000042.png": [[0, 0, 50, 60]], "street.png": [], "empty.png": []}))
    out = tmp_path / "preds.json"
    assert _run([str(checkpoint), *map(str, photos), "--boxes", str(boxes), "--out", str(out)]) == 0
    assert [Path(p["image"]).name for p in json.loads(out.read_text())] == ["000000000042.png"]


def test_without_boxes_the_whole_image_is_said_on_stderr(tmp_path, checkpoint, photos, capsys) -> None:
    assert _run([str(checkpoint), str(photos[0]), "--out", str(tmp_path / "p.json")]) == 0
    assert "whole image is taken as one person's box" in capsys.readouterr().err


def test_format_coco_writes_17_keypoints_that_pycocotools_reads(tmp_path, checkpoint, photos) -> None:
    images_list = tmp_path / "images.json"
    images_list.write_text(json.dumps({"images": [
        {"id": 7, "file_name": "street.png", "width": 160, "height": 100},
        {"id": 42, "file_name": "000000000042.png", "width": 200, "height": 120},
    ]}))
    det = tmp_path / "det.json"
    det.write_text(json.dumps([{"image_id": 7, "bbox": [20, 10, 60, 80], "score": 0.9},
                               {"image_id": 42, "bbox": [10, 5, 40, 100], "score": 0.6}]))
    out, ours = tmp_path / "coco.json", tmp_path / "ours.json"
    common = [str(checkpoint), str(photos[1]), str(photos[0]), "--boxes", str(det), "--images-list", str(images_list)]
    assert _run([*common, "--format", "coco", "--out", str(out)]) == 0
    assert _run([*common, "--out", str(ours)]) == 0
    results, mine = json.loads(out.read_text()), json.loads(ours.read_text())
    assert [r["image_id"] for r in results] == [7, 42]
    for r, m in zip(results, mine):
        assert r["category_id"] == 1 and len(r["keypoints"]) == 17 * 3
        kp, src = np.asarray(r["keypoints"]).reshape(17, 3), np.asarray(m["keypoints"]).reshape(16, 3)
        assert (kp[:5] == 0).all()  # nose, eyes, ears: not predicted
        for i, j in enumerate(COCO_FROM_MPII):
            if j is not None:
                assert COCO_KEYPOINT_NAMES[i].replace("left_", "l_").replace("right_", "r_") == JOINT_NAMES[j]
                np.testing.assert_allclose(kp[i], src[j])
        assert r["score"] == pytest.approx(m["score"])
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = {"images": json.loads(images_list.read_text())["images"], "annotations": [],
                  "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES), "skeleton": []}]}
    gt.createIndex()
    loaded = gt.loadRes(str(out))
    assert sorted(loaded.getImgIds()) == [7, 42] and len(loaded.getAnnIds()) == 2


def test_keypoints_outside_the_image_are_kept_and_flagged(tmp_path, checkpoint) -> None:
    from mirrornet.boxes import ImageBoxes
    from mirrornet.predict import person_entries

    coords = np.full((1, 16, 2), 10.0)
    coords[0, 3] = [-4.0, 10.0]   # l_hip left of the image
    coords[0, 9] = [10.0, 100.0]  # head_top below a 100-pixel-high image
    entry = person_entries("x.png", ImageBoxes([[0, 0, 50, 100]], [None]), coords, np.ones((1, 16)), (50, 100))[0]
    assert entry["outside"] == ["l_hip", "head_top"]
    assert entry["keypoints"][9:11] == [-4.0, 10.0]  # kept as predicted


def test_folder_glob_and_list_expand_to_the_same_sorted_images(tmp_path, checkpoint, photos) -> None:
    (photos[0].parent / "notes.md").write_text("not an image")
    listing = tmp_path / "list.txt"
    listing.write_text("# photos\nphotos/street.png\n\nphotos/empty.png\n")
    names = {}
    for key, inputs in {"folder": [str(photos[0].parent)], "glob": [str(photos[0].parent / "*.png")],
                        "list": [str(listing)]}.items():
        out = tmp_path / f"{key}.json"
        assert _run([str(checkpoint), *inputs, "--out", str(out)]) == 0
        names[key] = [Path(p["image"]).name for p in json.loads(out.read_text())]
    assert names["folder"] == names["glob"] == ["000000000042.png", "empty.png", "street.png"]
    assert names["list"] == ["street.png", "empty.png"]  # the list's order, relative to its folder


def test_video_gives_one_entry_per_frame_and_a_drawn_video(tmp_path, checkpoint) -> None:
    cv2 = pytest.importorskip("cv2")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, dtype=np.uint8))
    writer.release()
    out, draw = tmp_path / "video.json", tmp_path / "drawn"
    assert _run([str(checkpoint), str(video), "--out", str(out), "--draw", str(draw)]) == 0
    preds = json.loads(out.read_text())
    assert [p["frame"] for p in preds] == [0, 1, 2, 3, 4]
    assert [p["time"] for p in preds] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert all(p["image"] == str(video) and p["bbox"] == [0.0, 0.0, 64.0, 48.0] for p in preds)
    drawn = cv2.VideoCapture(str(draw / "clip.mp4"))
    assert int(drawn.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and int(drawn.get(cv2.CAP_PROP_FRAME_WIDTH)) == 64
    drawn.release()


def test_kpt_thr_hides_low_score_joints_in_the_drawing(tmp_path, checkpoint, photos) -> None:
    image = photos[1]
    pixels = np.asarray(Image.open(image))
    drawings = {}
    for thr in ("-1", "1e9"):
        draw = tmp_path / f"drawn{thr}"
        assert _run([str(checkpoint), str(image), "--out", str(tmp_path / "p.json"), "--draw", str(draw),
                     "--kpt-thr", thr, "--radius", "3", "--line-width", "2"]) == 0
        drawings[thr] = np.asarray(Image.open(draw / image.name))
    legend = np.zeros(pixels.shape[:2], bool)
    legend[:40, :60] = True  # the colour legend in the top-left corner
    changed = (drawings["-1"] != pixels).any(axis=2)
    assert changed[~legend].sum() > 50  # every joint and limb drawn
    # Above every score nothing is drawn: no joint, no limb, and no box (it is the whole image).
    assert ((drawings["1e9"] != pixels).any(axis=2) & ~legend).sum() == 0
    preds = json.loads((tmp_path / "p.json").read_text())
    assert len(preds[0]["keypoints"]) == 48  # the JSON keeps every joint


def test_a_box_is_drawn_unless_it_is_the_whole_image(tmp_path) -> None:
    from mirrornet.drawing import DrawStyle, draw_people

    image = np.zeros((60, 80, 3), np.uint8)
    person = {"bbox": [10, 10, 30, 30], "keypoints": [0.0] * 48}
    hidden = DrawStyle(kpt_thr=2.0, legend=False)
    assert (draw_people(image, [person], hidden)[10, 10:40] == (255, 255, 0)).all()
    whole = {**person, "bbox": [0, 0, 80, 60]}
    assert (draw_people(image, [whole], hidden) == 0).all()


def test_a_folder_shows_a_progress_bar_on_a_terminal(tmp_path, checkpoint, photos, capsys, monkeypatch) -> None:
    import mirrornet.console as console

    monkeypatch.setattr(console, "stderr_is_terminal", lambda: True)
    monkeypatch.delenv("MIRRORNET_NO_PROGRESS", raising=False)
    assert main(["predict", str(checkpoint), str(photos[0].parent), "--out", str(tmp_path / "p.json"),
                 "--backend", "torch"]) == 0
    err = capsys.readouterr().err
    assert "predict" in err and "3/3" in err  # tqdm's bar over the three images
