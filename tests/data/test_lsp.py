"""LSP / LSPET readers on tiny files written in the real layouts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from fixtures_formats import lsp_joints, write_image, write_lsp, write_lspet, write_mask

from mirrornet.data import DatasetFileNotFoundError, DatasetFormatError, read_dataset, read_lsp, read_lspet
from mirrornet.skeleton import JOINT_INDEX, LSP_TO_MPII


def test_lsp_splits_conventions_and_mpii_order(tmp_path):
    joints = lsp_joints(6)
    occluded = np.zeros((6, 14))
    occluded[1, 3] = 1  # image 2, LSP joint 3 = l_hip occluded
    write_lsp(tmp_path, joints, occluded)
    train, test, every = read_lsp(tmp_path, "train"), read_lsp(tmp_path, "test"), read_lsp(tmp_path, "all")
    assert [r.image_id for r in train] == ["im0001.jpg", "im0002.jpg", "im0003.jpg"]
    assert [r.image_id for r in test] == ["im0004.jpg", "im0005.jpg", "im0006.jpg"]
    assert len(every) == 6 and [r.index for r in test] == [0, 1, 2]
    rec = train[1]
    # x, y used as they are (0-based pixel centres), in MPII order.
    np.testing.assert_allclose(rec.joints[list(LSP_TO_MPII)], joints[1])
    np.testing.assert_allclose(rec.joints[6], (joints[1, 2] + joints[1, 3]) / 2)  # pelvis
    np.testing.assert_allclose(rec.joints[7], (joints[1, 8] + joints[1, 9]) / 2)  # thorax
    # Occluded joints stay labelled but are not visible; so is the pelvis that depends on it.
    assert rec.labelled.sum() == 16
    assert rec.visible[JOINT_INDEX["l_hip"]] == 0 and rec.visible[JOINT_INDEX["pelvis"]] == 0
    assert rec.visible.sum() == 14
    # Centre and scale of the tight joint box, no margin.
    lo, hi = joints[1].min(0), joints[1].max(0)
    np.testing.assert_allclose(rec.center, (lo + hi) / 2)
    assert rec.scale == pytest.approx(max(hi - lo) / 200)
    # Head box: square of side |head top - neck| centred between them.
    top, neck = joints[1, 13], joints[1, 12]
    side = np.linalg.norm(top - neck)
    np.testing.assert_allclose(rec.head_box, [(top + neck) / 2 - side / 2, (top + neck) / 2 + side / 2])
    assert str(rec.image).endswith("images/im0002.jpg")
    assert rec.silhouette is None


def test_lsp_accepts_any_n_and_odd_split(tmp_path):
    write_lsp(tmp_path, lsp_joints(5), np.zeros((5, 14)))
    assert len(read_lsp(tmp_path, "train")) == 2 and len(read_lsp(tmp_path, "test")) == 3


def test_lsp_silhouettes_beside_and_under_root(tmp_path):
    write_lsp(tmp_path / "lsp", lsp_joints(2), np.zeros((2, 14)))
    mask = np.zeros((40, 30), bool)
    mask[5:9, 3:7] = True
    write_mask(tmp_path / "lsp" / "images" / "im0001_segmentation.png", mask)
    recs = read_lsp(tmp_path / "lsp", "all")
    assert recs[0].silhouette is not None and recs[1].silhouette is None
    write_mask(tmp_path / "sils" / "im0002_segmentation.png", mask)
    recs = read_lsp(tmp_path / "lsp", "all", silhouette_root=tmp_path / "sils")
    assert recs[1].silhouette == tmp_path / "sils" / "im0002_segmentation.png"


def test_lsp_bad_inputs_name_file(tmp_path):
    with pytest.raises(DatasetFileNotFoundError, match="joints.mat"):
        read_lsp(tmp_path)
    scipy.io.savemat(tmp_path / "joints.mat", {"pose": np.zeros((3, 14, 2))})
    with pytest.raises(DatasetFormatError, match="no variable 'joints'.*pose"):
        read_lsp(tmp_path)
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": np.zeros((14, 3, 2))})
    with pytest.raises(DatasetFormatError, match=r"\(3, 14, N\).*\(14, 3, 2\)"):
        read_lsp(tmp_path)
    (tmp_path / "joints.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(DatasetFormatError, match="joints.mat"):
        read_lsp(tmp_path)
    occ = np.zeros((2, 14))
    occ[1, 3], occ[1, 5] = 0.5, 2.0
    write_lsp(tmp_path, lsp_joints(2), occ)
    # The first bad flag, numbered as the dataset numbers its joints and images (1-based).
    with pytest.raises(
        DatasetFormatError, match=r"0 or 1; found 0\.5 for joint 4 \(l_hip\) of image 2 \(im0002\), and 1 more bad flags$"
    ):
        read_lsp(tmp_path)
    write_lsp(tmp_path, lsp_joints(2), np.zeros((2, 14)))
    (tmp_path / "images" / "im0002.jpg").unlink()
    with pytest.raises(DatasetFileNotFoundError, match="im0002.jpg"):
        read_lsp(tmp_path, "all")
    with pytest.raises(ValueError, match="split"):
        read_lsp(tmp_path, "valid")


def test_lspet_bad_visibility_flag_names_joint_and_image(tmp_path):
    visible = np.ones((3, 14))
    visible[0, 2] = np.nan
    write_lspet(tmp_path, lsp_joints(3), visible)
    with pytest.raises(DatasetFormatError, match=r"visibility flags must be 0 or 1; found nan for joint 3 \(r_hip\) of image 1 \(im00001\)$"):
        read_lspet(tmp_path)


def test_lspet_visibility_and_jpeg_layout(tmp_path):
    joints = lsp_joints(3, seed=1)
    visible = np.ones((3, 14))
    visible[2, 0] = 0
    write_lspet(tmp_path, joints, visible)
    recs = read_lspet(tmp_path)
    assert [r.image_id for r in recs] == ["im00001.jpg", "im00002.jpg", "im00003.jpg"]
    np.testing.assert_allclose(recs[2].joints[list(LSP_TO_MPII)][1:], joints[2][1:])
    # LSPET's flag 0 is "not annotated" (its coordinates are placeholders): not labelled either.
    assert recs[2].visible[JOINT_INDEX["r_ankle"]] == 0 and recs[2].labelled[JOINT_INDEX["r_ankle"]] == 0
    assert recs[2].labelled.sum() == 15
    assert recs[0].visible.sum() == 16 and recs[0].labelled.sum() == 16
    assert len(read_dataset("lspet", tmp_path, "train")) == 3
    (tmp_path / "images" / "im00002.jpg").unlink()
    with pytest.raises(DatasetFileNotFoundError, match="im00002.jpg"):
        read_lspet(tmp_path)


def test_lspet_unannotated_placeholders_stay_out_of_the_box(tmp_path):
    """A flag-0 joint at a placeholder off the image (real LSPET: (0, -59.1)) must not stretch
    the person box, the crop or the PCK normaliser."""
    joints = lsp_joints(2, seed=4)
    visible = np.ones((2, 14))
    joints[1, [0, 1, 2, 6, 7, 8]] = [0.0, -59.13858477]
    visible[1, [0, 1, 2, 6, 7, 8]] = 0
    write_lspet(tmp_path, joints, visible)
    rec = read_lspet(tmp_path)[1]
    keep = visible[1] > 0
    lo, hi = joints[1, keep].min(axis=0), joints[1, keep].max(axis=0)
    np.testing.assert_allclose(rec.center, (lo + hi) / 2)
    assert rec.scale == pytest.approx(np.max(hi - lo) / 200)
    assert rec.labelled[JOINT_INDEX["r_ankle"]] == 0 and rec.labelled[JOINT_INDEX["pelvis"]] == 0


def test_lspet_nonfinite_joint_is_unlabelled(tmp_path):
    joints = lsp_joints(1, seed=2)
    joints[0, 5] = np.nan
    write_lspet(tmp_path, joints, np.ones((1, 14)))
    rec = read_lspet(tmp_path)[0]
    assert rec.labelled[JOINT_INDEX["l_ankle"]] == 0 and rec.visible[JOINT_INDEX["l_ankle"]] == 0
    assert rec.labelled.sum() == 15


def test_hr_lspet_png_layout_skips_missing_numbers(tmp_path):
    joints = lsp_joints(4, seed=3)
    write_lspet(tmp_path, joints, np.ones((4, 14)), png=True, skip=(1,))
    recs = read_lspet(tmp_path)
    assert [r.image_id for r in recs] == ["im00001.png", "im00003.png", "im00004.png"]
    np.testing.assert_allclose(recs[1].joints[list(LSP_TO_MPII)], joints[2])  # number 3 keeps its joints
    assert [r.index for r in recs] == [0, 1, 2]


def test_lspet_bad_shape_and_undecodable_image(tmp_path):
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": np.zeros((3, 14, 2))})
    with pytest.raises(DatasetFormatError, match=r"\(14, 3, N\)"):
        read_lspet(tmp_path)
    write_lspet(tmp_path, lsp_joints(1), np.ones((1, 14)))
    (tmp_path / "images" / "im00001.jpg").write_bytes(b"garbage")
    # The reader checks the labelled joints against each image's size, read from its header: an
    # undecodable image fails there, before any training, naming the file.
    with pytest.raises(DatasetFormatError, match="cannot decode image .*im00001.jpg"):
        read_lspet(tmp_path)
    from mirrornet.data import load_image

    with pytest.raises(DatasetFormatError, match="im00001.jpg"):
        load_image(tmp_path / "images" / "im00001.jpg")
    with pytest.raises(ValueError, match="training data only"):
        read_dataset("lspet", tmp_path, "test")
    with pytest.raises(ValueError, match="unknown dataset format"):
        read_dataset("coco", tmp_path, "train")


def test_load_image_converts_grey_to_rgb(tmp_path):
    from PIL import Image

    from mirrornet.data import load_image

    Image.fromarray(np.full((3, 4), 7, np.uint8)).save(tmp_path / "g.png")
    img = load_image(tmp_path / "g.png")
    assert img.shape == (3, 4, 3) and img.dtype == np.uint8 and (img == 7).all()
    write_image(tmp_path / "c.png", (5, 6), value=9)
    assert load_image(tmp_path / "c.png")[2, 3].tolist() == [3, 2, 9]
