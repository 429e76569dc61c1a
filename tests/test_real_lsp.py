"""The readers, crops and codec on the real Leeds Sports Pose and LSP-extended files.

These tests read ``../shared/data/{lsp,lspet}`` beside the repository (or the folder named by
``MIRRORNET_DATA``); the data is never part of the repository. Without it they are skipped with
the reason shown in pytest's summary (``pytest -rs``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mirrornet.codecs import build_codec
from mirrornet.config import load_config
from mirrornet.data import read_lsp, read_lspet
from mirrornet.data.images import load_image
from mirrornet.data.transforms import TopDownTransform
from mirrornet.skeleton import JOINT_INDEX as J

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MIRRORNET_DATA", ROOT.parent / "shared" / "data"))
LSP, LSPET = DATA / "lsp", DATA / "lspet"

pytestmark = pytest.mark.skipif(
    not ((LSP / "joints.mat").is_file() and (LSPET / "joints.mat").is_file()),
    reason=f"real LSP / LSPET not found under {DATA} (set MIRRORNET_DATA to the folder holding lsp/ and lspet/)",
)


@pytest.fixture(scope="module")
def lsp_train():
    return read_lsp(LSP, "train")


@pytest.fixture(scope="module")
def lsp_test():
    return read_lsp(LSP, "test")


@pytest.fixture(scope="module")
def lspet():
    return read_lspet(LSPET)


def test_record_counts_and_the_papers_splits(lsp_train, lsp_test, lspet) -> None:
    assert len(lsp_train) == 1000 and len(lsp_test) == 1000 and len(lspet) == 10000
    assert lsp_train[0].image_id == "im0001.jpg" and lsp_train[-1].image_id == "im1000.jpg"
    assert lsp_test[0].image_id == "im1001.jpg" and lsp_test[-1].image_id == "im2000.jpg"
    assert lspet[0].image_id == "im00001.jpg" and lspet[-1].image_id == "im10000.jpg"


def test_training_data_is_lsp_train_plus_lspet_and_the_test_split_is_lsp_test(tmp_path) -> None:
    from mirrornet.training.datamodule import build_training_data

    config = load_config(
        ROOT / "configs" / "cpu" / "tiny.yaml",
        ["data.format=lsp", f"data.root={LSP}", f"data.lspet_root={LSPET}", "data.annotated_ratio=0.2"],
    )
    data = build_training_data(config)
    assert len(data.train) == 11000 and len(data.test) == 1000
    assert data.train.records[999].image_id == "im1000.jpg"
    assert data.train.records[1000].image_id == "im00001.jpg"
    assert data.test.records[0].image_id == "im1001.jpg"
    assert int(data.annotated.sum()) == 2200


def test_lsp_flag_means_occluded_and_occluded_joints_keep_their_position(lsp_train) -> None:
    # im0004: row 3 flags l_hip, l_knee, l_shoulder, l_elbow, l_wrist as occluded.
    rec = lsp_train[3]
    occluded = [J["l_hip"], J["l_knee"], J["l_shoulder"], J["l_elbow"], J["l_wrist"]]
    assert (rec.visible[occluded] == 0).all() and (rec.labelled[occluded] == 1).all()
    np.testing.assert_allclose(rec.joints[J["l_hip"]], [48.08078561, 83.36717947], atol=1e-6)
    assert rec.visible[J["r_ankle"]] == 1 and rec.labelled.sum() == 16
    # Every LSP person carries all 14 joints (+ the two derived ones).
    assert all(r.labelled.sum() == 16 for r in lsp_train)


def test_lspet_flag_means_visible_and_zero_is_not_annotated(lspet) -> None:
    # im00015: six joints at the placeholder (0, -59.1) with flag 0.
    rec = lspet[14]
    missing = [J["r_ankle"], J["r_knee"], J["r_hip"], J["r_wrist"], J["r_elbow"], J["r_shoulder"]]
    assert (rec.labelled[missing] == 0).all() and (rec.visible[missing] == 0).all()
    assert rec.labelled[J["pelvis"]] == 0 and rec.labelled[J["thorax"]] == 0  # a parent missing
    np.testing.assert_allclose(rec.joints[J["l_hip"]], [118.30879445, 127.66976829], atol=1e-6)
    # The person box holds only annotated joints: inside the image, not stretched to y = -59.
    width, height = load_image(rec.image).shape[1::-1]
    top = rec.center[1] - 100 * rec.scale
    assert top > 0 and rec.center[0] < width and rec.center[1] < height
    # Over the release: 16,787 flag-0 joints, all read as not labelled.
    unlabelled = sum(int((r.labelled[[j for j in range(16) if j not in (6, 7)]] == 0).sum()) for r in lspet)
    assert unlabelled == 16787


def test_pelvis_and_thorax_are_derived(lsp_train) -> None:
    for rec in lsp_train[:50]:
        np.testing.assert_allclose(rec.joints[J["pelvis"]], rec.joints[[J["r_hip"], J["l_hip"]]].mean(axis=0))
        np.testing.assert_allclose(
            rec.joints[J["thorax"]], rec.joints[[J["r_shoulder"], J["l_shoulder"]]].mean(axis=0)
        )


@pytest.mark.parametrize("kind", ["onehot", "gaussian"])
def test_real_images_crop_and_round_trip_through_the_codec(lsp_test, lspet, kind) -> None:
    """Decode, crop to 64×64 and encode / decode: every labelled joint inside the crop comes back
    within half a heatmap pixel (in original-image pixels)."""
    stride, size = 4, (64, 64)
    transform = TopDownTransform(size, heatmap_stride=stride)
    codec = build_codec(kind, (16, 16), stride=stride, sigma=1.0)
    people = lsp_test[::50] + lspet[::500]  # 20 + 20 real photographs
    judged = 0
    for rec in people:
        image = load_image(rec.image)
        assert image.ndim == 3 and image.dtype == np.uint8
        out = transform(image, rec)
        assert out["image"].shape == (64, 64, 3) and out["x_star"].shape == (16, 16, 3)
        heatmaps, weights = codec.encode(out["joints"], out["labelled"])
        coords, _ = codec.decode(torch.from_numpy(heatmaps)[None], refine=False)
        back = codec.to_image_coords(coords, torch.from_numpy(out["affine"])[None])[0].numpy()
        zoom = abs(np.linalg.det(out["affine"][:, :2])) ** 0.5  # crop px per image px
        tol = 0.5 * stride / zoom + 1e-4  # half a heatmap pixel, per axis
        keep = weights > 0
        assert keep.sum() >= 4, rec.image_id
        assert np.abs(back - rec.joints)[keep].max() <= tol, rec.image_id
        judged += int(keep.sum())
    assert judged >= 40 * 12


def test_the_scarce_testbed_annotates_exactly_its_lsp_pool_and_floor_sits_below_100() -> None:
    from mirrornet.floor import training_crop_pose
    from mirrornet.training.datamodule import build_training_data

    config = load_config(ROOT / "configs" / "cpu" / "lsp_scarce.yaml",
                         [f"data.root={LSP}", f"data.lspet_root={LSPET}", "data.annotated_count=45"])
    data = build_training_data(config)
    annotated = [r for r, a in zip(data.train.records, data.annotated) if a]
    assert len(annotated) == 45
    assert all(str(r.image).startswith(str(LSP)) for r in annotated)  # none from LSPET
    assert len(data.val) == 100 and len(data.train) == 10900  # validation: LSP's images only
    assert all(str(r.image).startswith(str(LSP)) for r in data.val.records)
    pose = training_crop_pose(data, config)
    # The mean pose stands upright in the crop: the head above the ankles, inside the 64-px crop.
    assert pose[J["head_top"], 1] < pose[J["r_ankle"], 1] and np.all((pose > 0) & (pose < 64))
