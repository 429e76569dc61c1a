"""MPII (HRNet layout) reader on tiny files written in the real layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures_formats import MPII_NAMES, dataset_joints_cell, write_mask, write_mpii

from mirrornet.data import DatasetFileNotFoundError, DatasetFormatError, read_dataset, read_mpii


def person(image: str, seed: int, missing: tuple[int, ...] = ()) -> dict:
    rng = np.random.default_rng(seed)
    joints = rng.uniform(2, 28, size=(16, 2)).round(1)
    vis = np.ones(16)
    for j in missing:
        joints[j] = -1
        vis[j] = 0
    return {"image": image, "center": [15.0, 12.0], "scale": 0.1, "joints": joints.tolist(), "joints_vis": vis.tolist()}


def gt_for(people: list[dict], missing: dict[int, list[int]] | None = None) -> dict:
    n = len(people)
    pos = np.stack([np.asarray(p["joints"]) for p in people], axis=-1)  # (16, 2, N)
    jnt_missing = np.zeros((16, n))
    for i, js in (missing or {}).items():
        jnt_missing[js, i] = 1
    boxes = np.zeros((2, 2, n))
    boxes[:, :, :] = np.array([[10.0, 4.0], [16.0, 12.0]])[..., None]  # ((x1, y1), (x2, y2))
    return {"dataset_joints": dataset_joints_cell(), "jnt_missing": jnt_missing, "pos_gt_src": pos, "headboxes_src": boxes}


def test_train_conventions(tmp_path):
    p0, p1 = person("a.jpg", 0, missing=(6, 9)), person("a.jpg", 1)
    write_mpii(tmp_path, {"train": [p0, p1]})
    recs = read_mpii(tmp_path, "train")
    assert len(recs) == 2 and recs[0].image == recs[1].image == tmp_path / "images" / "a.jpg"
    r = recs[0]
    # HRNet: centre y + 15·scale, then 1-based -> 0-based; scale kept (the crop pads ×1.25).
    np.testing.assert_allclose(r.center, [15.0 - 1, 12.0 + 15 * 0.1 - 1])
    assert r.scale == pytest.approx(0.1)
    j = np.asarray(p0["joints"])
    np.testing.assert_allclose(r.joints[0], j[0] - 1)
    assert r.labelled[6] == 0 and r.labelled[9] == 0 and r.labelled.sum() == 14
    np.testing.assert_array_equal(r.visible, r.labelled)
    np.testing.assert_array_equal(r.joints[6], [0, 0])
    assert r.head_box is None and r.image_id == "a.jpg" and [x.index for x in recs] == [0, 1]


def test_valid_uses_gt_valid(tmp_path):
    people = [person("a.jpg", 0), person("b.jpg", 1)]
    write_mpii(tmp_path, {"valid": people}, gt_valid=gt_for(people, {1: [3, 4]}))
    recs = read_dataset("mpii", tmp_path, "valid")
    np.testing.assert_allclose(recs[1].head_box, [[9.0, 3.0], [15.0, 11.0]])
    assert recs[1].labelled[3] == 0 and recs[1].labelled[4] == 0 and recs[1].labelled.sum() == 14
    np.testing.assert_allclose(recs[0].joints, np.asarray(people[0]["joints"]) - 1)


def test_test_split_without_joints(tmp_path):
    rec = {"image": "c.jpg", "center": [-1, -1], "scale": 0.2}
    write_mpii(tmp_path, {"test": [rec]})
    r = read_mpii(tmp_path, "test")[0]
    assert r.labelled.sum() == 0
    np.testing.assert_allclose(r.center, [-2, -2])  # an unknown centre (-1) is not shifted


def test_silhouette_attached(tmp_path):
    write_mpii(tmp_path, {"train": [person("a.jpg", 0), person("b.jpg", 1)]})
    write_mask(tmp_path / "images" / "b_segmentation.png", np.ones((40, 30), bool))
    recs = read_mpii(tmp_path, "train")
    assert recs[0].silhouette is None and recs[1].silhouette == tmp_path / "images" / "b_segmentation.png"


def test_bad_inputs(tmp_path):
    with pytest.raises(DatasetFileNotFoundError, match="train.json"):
        read_mpii(tmp_path, "train")
    bad = person("a.jpg", 0)
    del bad["scale"]
    write_mpii(tmp_path, {"train": [person("a.jpg", 1), bad]})
    with pytest.raises(DatasetFormatError, match=r"train.json: record 1 has no field 'scale'"):
        read_mpii(tmp_path, "train")
    bad = person("a.jpg", 0)
    bad["joints"] = bad["joints"][:15]
    write_mpii(tmp_path, {"train": [bad]})
    with pytest.raises(DatasetFormatError, match=r"record 0 field 'joints' must have shape \(16, 2\)"):
        read_mpii(tmp_path, "train")
    (tmp_path / "annot" / "train.json").write_text("{oops")
    with pytest.raises(DatasetFormatError, match="train.json is not valid JSON"):
        read_mpii(tmp_path, "train")
    (tmp_path / "annot" / "train.json").write_text(json.dumps([person("zzz.jpg", 0)]))
    with pytest.raises(DatasetFileNotFoundError, match="zzz.jpg"):
        read_mpii(tmp_path, "train")
    # valid without gt_valid.mat, and with a wrong shape in it
    people = [person("a.jpg", 0)]
    write_mpii(tmp_path, {"valid": people})
    with pytest.raises(DatasetFileNotFoundError, match="gt_valid.mat"):
        read_mpii(tmp_path, "valid")
    gt = gt_for(people + people)  # two columns for one record
    write_mpii(tmp_path, {"valid": people}, gt_valid=gt)
    with pytest.raises(DatasetFormatError, match="gt_valid.mat: 'jnt_missing' must have shape"):
        read_mpii(tmp_path, "valid")
    gt = gt_for(people)
    gt["dataset_joints"] = dataset_joints_cell(MPII_NAMES[::-1])
    write_mpii(tmp_path, {"valid": people}, gt_valid=gt)
    with pytest.raises(DatasetFormatError, match="dataset_joints"):
        read_mpii(tmp_path, "valid")
    gt = gt_for(people)
    del gt["headboxes_src"]
    write_mpii(tmp_path, {"valid": people}, gt_valid=gt)
    with pytest.raises(DatasetFormatError, match="no variable 'headboxes_src'"):
        read_mpii(tmp_path, "valid")


@pytest.mark.parametrize(
    "name", ["../outside.jpg", "sub/../../outside.jpg", "/etc/x.jpg", "..\\outside.jpg", "C:\\x.jpg", "\\\\host\\x.jpg", "a\x00.jpg"]
)
def test_an_image_path_leading_outside_the_images_folder_is_refused(tmp_path, name):
    """Both separators count, so a record written on Windows is judged alike on every system."""
    write_mpii(tmp_path, {"train": [person("a.jpg", 0)]})
    (tmp_path / "annot" / "train.json").write_text(json.dumps([person("a.jpg", 0), person(name, 1)]))
    with pytest.raises(DatasetFormatError, match=r"record 1 field 'image' .* is not a path inside"):
        read_mpii(tmp_path, "train")
    # A relative path below the images folder is fine.
    write_mpii(tmp_path, {"train": [person("sub/b.jpg", 0)]})
    assert read_mpii(tmp_path, "train")[0].image == tmp_path / "images" / "sub" / "b.jpg"
