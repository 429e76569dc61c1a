"""Heatmap codecs: encoding, arg-max decoding, refinement, flip test, inverse affine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirrornet.codecs import (
    GaussianCodec,
    OneHotCodec,
    build_codec,
    flip_back_heatmaps,
    heatmap_to_input,
    input_to_heatmap,
    to_image_coords,
)
from mirrornet.data.transforms import get_affine
from mirrornet.skeleton import FLIP_PERMUTATION


def test_pixel_convention():
    # heatmap pixel j is the centre of input pixels 4j .. 4j+3, i.e. 4j + 1.5
    assert heatmap_to_input(0.0, 4) == 1.5 and heatmap_to_input(2.0, 4) == 9.5
    assert input_to_heatmap(9.5, 4) == 2.0


def test_onehot_encode_hand_case():
    codec = OneHotCodec((4, 5), stride=4)
    joints = np.zeros((16, 2))
    joints[0] = [9.5, 1.5]     # heatmap (x=2, y=0) exactly
    joints[1] = [3.49, 3.5]    # x: (3.49+.5)/4-.5 = 0.4975 -> 0 ; y: 0.5 -> rounds up to 1
    joints[2] = [19.6, 0.0]    # x -> 4.525 -> 5: outside (w = 5)
    joints[3] = [-2.1, 0.0]    # x -> -0.9 -> -1: outside
    weights = np.ones(16)
    weights[4] = 0             # not labelled
    hm, w = codec.encode(joints, weights)
    assert hm.shape == (16, 4, 5) and hm.dtype == np.float32 and w.dtype == np.float32
    assert hm[0, 0, 2] == 1 and hm[0].sum() == 1
    assert hm[1, 1, 0] == 1 and hm[1].sum() == 1
    assert hm[2].sum() == 0 and hm[3].sum() == 0 and hm[4].sum() == 0
    assert w[:5].tolist() == [1, 1, 0, 0, 0] and w[5:].sum() == 11


def test_gaussian_encode_peak_and_sigma():
    codec = GaussianCodec((8, 8), stride=4, sigma=1.5)
    joints = np.full((16, 2), 13.5)  # heatmap (3, 3)
    hm, w = codec.encode(joints, np.ones(16))
    assert hm[0, 3, 3] == 1.0 and hm[0].max() == 1.0
    assert hm[0, 3, 5] == pytest.approx(np.exp(-4 / (2 * 1.5**2)), rel=1e-6)
    assert hm[0, 4, 4] == pytest.approx(np.exp(-2 / (2 * 1.5**2)), rel=1e-6)
    assert (w == 1).all()


@pytest.mark.parametrize("kind", ["onehot", "gaussian"])
def test_round_trip_within_half_heatmap_pixel(kind):
    rng = np.random.default_rng(0)
    stride, size = 4, (16, 12)  # input 64 x 48
    codec = build_codec(kind, size, stride)
    center, scale = np.array([120.0, 80.0]), 0.5
    affine = get_affine(center, scale, (64, 48), padding=1.25)
    for _ in range(5):
        joints_img = center + rng.uniform(-35, 35, size=(16, 2))
        joints_in = joints_img @ affine[:, :2].T + affine[:, 2]
        hm, w = codec.encode(joints_in, np.ones(16))
        inside = w > 0
        coords, scores = codec.decode(torch.from_numpy(hm)[None], refine=True)
        back = codec.to_image_coords(coords, torch.from_numpy(affine)[None])[0].numpy()
        # half a heatmap pixel = stride/2 input px = stride/2 / zoom image px, per axis
        zoom = 48 / (200 * scale * 1.25)
        tol = 0.5 * stride / zoom + 1e-4
        assert inside.sum() >= 10
        assert np.abs(back - joints_img)[inside].max() <= tol
        assert torch.all(scores[0][torch.from_numpy(inside)] == 1.0)


def test_decode_refinement_quarter_pixel():
    codec = OneHotCodec((5, 6), stride=4)
    hm = torch.zeros(1, 16, 5, 6)
    hm[0, 0, 2, 3] = 1.0
    hm[0, 0, 2, 4] = 0.5   # right neighbour higher -> x + 0.25
    hm[0, 0, 1, 3] = 0.2   # upper neighbour higher -> y - 0.25
    hm[0, 1, 0, 0] = 1.0   # corner: no neighbour pair, no shift
    hm[0, 1, 0, 1] = 0.9
    coords, scores = codec.decode(hm, refine=True)
    np.testing.assert_allclose(coords[0, 0].numpy(), [(3.25 + 0.5) * 4 - 0.5, (1.75 + 0.5) * 4 - 0.5])
    np.testing.assert_allclose(coords[0, 1].numpy(), [1.5, 1.5])
    assert scores[0, 0] == 1.0
    plain, _ = codec.decode(hm, refine=False)
    np.testing.assert_allclose(plain[0, 0].numpy(), [13.5, 9.5])


def test_flip_test_of_exact_mirror_gives_same_coords():
    codec = OneHotCodec((8, 6), stride=4)
    rng = np.random.default_rng(1)
    joints = rng.uniform(0, 23, size=(16, 2))
    hm, _ = codec.encode(joints, np.ones(16))
    # The network's output on the mirrored crop: mirror the crop's joints and swap sides.
    mirrored = joints.copy()
    mirrored[:, 0] = 24 - 1 - mirrored[:, 0]
    hm_flip, _ = codec.encode(mirrored[list(FLIP_PERMUTATION)], np.ones(16))
    ref, _ = codec.decode(torch.from_numpy(hm)[None], refine=False)
    both, _ = codec.decode(torch.from_numpy(hm)[None], refine=False, flipped_heatmaps=torch.from_numpy(hm_flip)[None])
    torch.testing.assert_close(both, ref)
    back = flip_back_heatmaps(torch.from_numpy(hm_flip)[None])
    torch.testing.assert_close(back, torch.from_numpy(hm)[None])
    shifted = flip_back_heatmaps(torch.from_numpy(hm_flip)[None], shift=True)
    torch.testing.assert_close(shifted[..., 1:], back[..., :-1])


def test_to_image_coords_numpy_and_tensor():
    affine = np.array([[[2.0, 0.0, 3.0], [0.0, 0.5, -1.0]]])
    pts = np.array([[[1.0, 2.0], [5.0, 9.0]]])
    mapped = np.einsum("bij,bkj->bki", affine[:, :, :2], pts) + affine[:, None, :, 2]
    np.testing.assert_allclose(to_image_coords(mapped, affine), pts)
    out = to_image_coords(torch.tensor(mapped, dtype=torch.float32), torch.tensor(affine))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), pts, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown codec"):
        build_codec("laplace", (4, 4))
    codec = OneHotCodec((4, 4))
    with pytest.raises(ValueError, match="decode expects"):
        codec.decode(torch.zeros(1, 16, 5, 4))
    with pytest.raises(ValueError, match="encode expects"):
        codec.encode(np.zeros((16, 3)), np.ones(16))
    with pytest.raises(ValueError, match="sigma"):
        GaussianCodec((4, 4), sigma=0)
