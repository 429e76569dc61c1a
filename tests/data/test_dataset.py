"""PoseDataset: item keys and values, seeded augmentation, array and file images, silhouettes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_formats import lsp_joints, write_lsp, write_mask

from mirrornet.codecs import OneHotCodec, build_codec
from mirrornet.data import IMAGE_MEAN, IMAGE_STD, PoseDataset, PoseRecord, TopDownTransform, read_lsp
from mirrornet.data.splits import annotation_split

KEYS = {
    "image": ((3, 32, 32), torch.float32), "x_star": ((3, 8, 8), torch.float32),
    "heatmaps": ((16, 8, 8), torch.float32), "joint_weights": ((16,), torch.float32),
    "silhouette": ((1, 8, 8), torch.float32), "has_silhouette": ((), torch.float32),
    "joints": ((16, 2), torch.float32), "labelled": ((16,), torch.float32), "visible": ((16,), torch.float32),
    "affine": ((2, 3), torch.float32), "bbox_size": ((), torch.float32), "head_size": ((), torch.float32),
    "annotated": ((), torch.float32), "index": ((), torch.int64),
}


def array_records(num: int = 4) -> list[PoseRecord]:
    rng = np.random.default_rng(0)
    recs = []
    for i in range(num):
        img = rng.integers(0, 255, size=(48, 40, 3), dtype=np.uint8)
        joints = rng.uniform(8, 32, size=(16, 2))
        labelled = np.ones(16)
        labelled[7] = 0
        lo, hi = joints.min(0), joints.max(0)
        mask = np.zeros((48, 40), bool)
        mask[10:30, 10:30] = True
        recs.append(PoseRecord(
            image=img, joints=joints, visible=labelled, labelled=labelled, center=(lo + hi) / 2,
            scale=max(hi - lo) / 200, silhouette=mask if i % 2 == 0 else None,
            head_box=np.array([[0.0, 0.0], [3.0, 4.0]]), index=i,
        ))
    return recs


def make(records, augment=False, **kw):
    t = TopDownTransform((32, 32), augment=augment)
    return PoseDataset(records, t, OneHotCodec(t.heatmap_size), **kw)


def test_item_keys_shapes_and_values():
    recs = array_records()
    ds = make(recs)
    item = ds[0]
    assert set(item) == set(KEYS)
    for key, (shape, dtype) in KEYS.items():
        assert tuple(item[key].shape) == shape and item[key].dtype == dtype, key
    assert item["has_silhouette"] == 1.0 and ds[1]["has_silhouette"] == 0.0 and ds[1]["silhouette"].sum() == 0
    assert item["silhouette"].max() == pytest.approx(1.0)
    assert item["head_size"] == pytest.approx(3.0)  # 0.6 × 5
    assert item["annotated"] == 1.0 and item["index"] == 0
    labelled = recs[0].labelled > 0
    pts = recs[0].joints[labelled]
    assert item["bbox_size"] == pytest.approx(float(np.max(pts.max(0) - pts.min(0))), rel=1e-6)
    np.testing.assert_allclose(item["joints"].numpy(), recs[0].joints, rtol=1e-6)
    assert item["joint_weights"][7] == 0 and item["heatmaps"][7].sum() == 0
    # normalisation: un-normalise pixel (0, 0) of the crop and compare with the warp
    from mirrornet.data.transforms import warp_affine

    crop = warp_affine(recs[0].image, item["affine"].double().numpy(), (32, 32))
    expect = (crop[5, 6] / 255.0 - np.array(IMAGE_MEAN)) / np.array(IMAGE_STD)
    np.testing.assert_allclose(item["image"][:, 5, 6].numpy(), expect, atol=1e-4)


def test_decoded_targets_map_back_to_joints():
    recs = array_records()
    t = TopDownTransform((32, 32), augment=True)
    codec = build_codec("gaussian", t.heatmap_size, sigma=1.0)
    ds = PoseDataset(recs, t, codec, seed=3)
    batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
    coords, _ = codec.decode(batch["heatmaps"])
    back = codec.to_image_coords(coords, batch["affine"])
    ok = batch["joint_weights"] > 0
    zoom = batch["affine"][:, :, :2].norm(dim=-1)[:, 0]  # crop px per image px (rotation-free norm)
    err = (back - batch["joints"]).abs().max(dim=-1).values
    assert ok.sum() > 30
    assert torch.all(err[ok] <= (2.0 / zoom[:, None].expand_as(err))[ok] * 1.5 + 1e-3)


def test_seeded_augmentation_independent_of_order_and_epoch_dependent():
    recs = array_records()
    a, b = make(recs, augment=True, seed=7), make(recs, augment=True, seed=7)
    items_a = [a[i]["affine"] for i in range(4)]
    items_b = [b[i]["affine"] for i in (3, 1, 2, 0)]
    for i, j in enumerate((3, 1, 2, 0)):
        torch.testing.assert_close(items_a[j], items_b[i])
    a.set_epoch(1)
    assert not torch.equal(a[0]["affine"], items_a[0])
    a.set_epoch(0)
    torch.testing.assert_close(a[0]["affine"], items_a[0])
    c = make(recs, augment=True, seed=8)
    assert not torch.equal(c[0]["affine"], items_a[0])


def test_non_annotated_items_have_no_targets():
    recs = array_records()
    ds = make(recs, annotated=np.array([True, False, True, False]))
    item = ds[1]
    assert item["annotated"] == 0 and item["heatmaps"].sum() == 0 and item["joint_weights"].sum() == 0
    assert item["labelled"].sum() == 15  # ground truth stays for evaluation
    assert ds[0]["heatmaps"].sum() == 15


def test_file_records_with_silhouette(tmp_path):
    write_lsp(tmp_path, lsp_joints(2), np.zeros((2, 14)))
    write_mask(tmp_path / "images" / "im0002_segmentation.png", np.ones((40, 30), bool))
    recs = read_lsp(tmp_path, "all")
    ann = annotation_split(len(recs), 0.5, seed=0)
    t = TopDownTransform((32, 32))
    ds = PoseDataset(recs, t, OneHotCodec(t.heatmap_size), annotated=ann)
    item = ds[1]
    assert item["has_silhouette"] == 1.0 and ds[0]["has_silhouette"] == 0.0
    assert item["head_size"] > 0 and item["annotated"] == float(ann[1])
    # the silhouette covers the whole image: inside the warped image area it is 1
    assert item["silhouette"].max() == pytest.approx(1.0)


def test_errors():
    recs = array_records()
    t = TopDownTransform((32, 32))
    with pytest.raises(ValueError, match="does not match the transform"):
        PoseDataset(recs, t, OneHotCodec((16, 16)))
    with pytest.raises(ValueError, match="annotated must have shape"):
        PoseDataset(recs, t, OneHotCodec((8, 8)), annotated=np.ones(3, bool))
    recs[0].image = recs[0].image.astype(np.float32)
    with pytest.raises(ValueError, match="uint8"):
        PoseDataset(recs, t, OneHotCodec((8, 8)))[0]
    recs = array_records()
    recs[0].silhouette = np.zeros((10, 10), bool)
    with pytest.raises(ValueError, match="silhouette array has size"):
        PoseDataset(recs, t, OneHotCodec((8, 8)))[0]
