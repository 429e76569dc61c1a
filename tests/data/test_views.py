"""Several augmented views of one person (mirrornet.data.views) and heatmaps carried between their
frames (mirrornet.codecs.warp_heatmaps)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mirrornet.codecs import GaussianCodec, warp_heatmaps
from mirrornet.data import MultiViewDataset, PoseDataset, PoseRecord, TopDownTransform
from mirrornet.data.transforms import apply_affine
from mirrornet.data.views import view_affine, view_joint_order
from mirrornet.skeleton import FLIP_PERMUTATION, NUM_JOINTS

H = W = 32  # heatmap size


def _blobs(centres: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """(B, K, H, W) Gaussians at sub-pixel ``centres`` (B, K, 2) in heatmap pixels."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    d2 = (xs - centres[..., 0, None, None]) ** 2 + (ys - centres[..., 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma**2))


def _centroids(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, K, 2) x, y: the mass centre of each heatmap."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    mass = heatmaps.sum((-1, -2))
    return torch.stack([(heatmaps * xs).sum((-1, -2)) / mass, (heatmaps * ys).sum((-1, -2)) / mass], dim=-1)


def _affine(angle_deg: float, zoom: float, shift: tuple[float, float]) -> torch.Tensor:
    """Rotation and zoom about the heatmap centre, then a shift."""
    t = math.radians(angle_deg)
    lin = zoom * torch.tensor([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]], dtype=torch.float64)
    centre = torch.tensor([(W - 1) / 2, (H - 1) / 2], dtype=torch.float64)
    offset = centre - lin @ centre + torch.tensor(shift, dtype=torch.float64)
    return torch.cat([lin, offset[:, None]], dim=1)


def _apply(affine: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    return points @ affine[..., :2].transpose(-1, -2) + affine[..., None, :, 2]


def test_warp_by_an_affine_and_back_returns_the_same_joints() -> None:
    g = torch.Generator().manual_seed(0)
    joints = 10 + 12 * torch.rand(2, NUM_JOINTS, 2, generator=g, dtype=torch.float64)  # well inside
    affine = torch.stack([_affine(20.0, 1.15, (1.3, -0.7)), _affine(-35.0, 0.85, (-0.4, 0.9))])
    there = warp_heatmaps(_blobs(joints), affine)
    torch.testing.assert_close(_centroids(there), _apply(affine, joints), atol=0.05, rtol=0)
    inverse = torch.linalg.inv(torch.cat([affine, affine.new_tensor([0, 0, 1]).expand(2, 1, 3)], 1))[:, :2]
    back = warp_heatmaps(there, inverse)
    torch.testing.assert_close(_centroids(back), joints, atol=0.05, rtol=0)
    # The codec's arg-max decode finds them too.
    codec = GaussianCodec((H, W), stride=4, sigma=1.5)
    decoded, _ = codec.decode(back.float(), refine=False)
    heatmap_xy = (decoded.double() + 0.5) / 4 - 0.5
    assert (heatmap_xy - joints).abs().max() <= 1.0  # the nearest pixel, after two bilinear resamplings


def test_warp_is_the_identity_and_moves_blobs_by_pure_shifts() -> None:
    joints = torch.tensor([[[8.0, 9.0], [20.0, 14.0]]], dtype=torch.float64)
    maps = _blobs(joints)
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(warp_heatmaps(maps, identity), maps)
    shifted = warp_heatmaps(maps, torch.tensor([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]], dtype=torch.float64))
    torch.testing.assert_close(shifted[0, 0, 9 - 2, 8 + 3], maps[0, 0, 9, 8])
    with pytest.raises(ValueError, match="affines of shape"):
        warp_heatmaps(maps, torch.zeros(3, 2, 3))


def test_warp_reorders_channels_across_a_flip() -> None:
    joints = 6 + 20 * torch.rand(1, NUM_JOINTS, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mirror = torch.tensor([[-1.0, 0.0, W - 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    order = torch.tensor(FLIP_PERMUTATION)
    flipped = warp_heatmaps(_blobs(joints), mirror, joint_order=order)
    expected = _apply(mirror, joints)[:, list(FLIP_PERMUTATION)]
    torch.testing.assert_close(_centroids(flipped), expected, atol=0.05, rtol=0)


def _dataset() -> PoseDataset:
    rng = np.random.default_rng(0)
    joints = np.stack([rng.uniform(70, 130, NUM_JOINTS), rng.uniform(60, 140, NUM_JOINTS)], axis=1)
    record = PoseRecord(image=rng.integers(0, 255, (200, 200, 3), dtype=np.uint8), joints=joints,
                        visible=np.ones(NUM_JOINTS), center=np.array([100.0, 100.0]), scale=0.6, image_id="p0")
    plain = TopDownTransform((64, 64), heatmap_stride=4, augment=False)
    return PoseDataset([record], plain, GaussianCodec((16, 16), stride=4, sigma=1.0))


def test_views_carry_the_affines_and_joint_orders_between_them() -> None:
    easy = TopDownTransform((64, 64), heatmap_stride=4, augment=False)
    hard = TopDownTransform((64, 64), heatmap_stride=4, augment=True, scale_factor=0.3, rotation=30.0,
                            rotation_prob=1.0, flip=True, flip_prob=1.0)
    views = MultiViewDataset(_dataset(), [easy, hard])
    item = views[0]
    assert item["views"].shape == (2, 3, 64, 64) and item["image"].shape == (3, 64, 64)
    assert torch.equal(item["views"][0], item["image"])  # the unaugmented view is the plain item's crop
    assert not torch.equal(item["views"][1], item["views"][0])
    batch = {k: item[k][None] for k in ("view_heatmap_affines", "view_joint_orders")}
    record = views.dataset.records[0]
    affines = item["view_heatmap_affines"].double().numpy()
    orders = item["view_joint_orders"].numpy()
    in_view = [apply_affine(record.joints, affines[v])[orders[v]] for v in range(2)]  # heatmap px, view's order
    a01 = view_affine(batch["view_heatmap_affines"].double(), 0, 1)[0].numpy()
    order01 = view_joint_order(batch["view_joint_orders"], 0, 1)[0].numpy()
    assert list(order01) == list(FLIP_PERMUTATION)  # the hard view is flipped, the easy one is not
    np.testing.assert_allclose(apply_affine(in_view[0], a01)[order01], in_view[1], atol=1e-4)
    # Each view's draw depends on (seed, epoch, index, view) only.
    again = MultiViewDataset(_dataset(), [easy, hard])[0]
    assert torch.equal(again["views"], item["views"])
    views.set_epoch(1)
    assert views.epoch == 1 and not torch.equal(views[0]["views"][1], item["views"][1])


def test_a_view_of_another_size_is_refused() -> None:
    with pytest.raises(ValueError, match="view 0: input_size"):
        MultiViewDataset(_dataset(), [TopDownTransform((32, 32), heatmap_stride=4)])
