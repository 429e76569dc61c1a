"""Top-down affine crop: geometry, warps, augmentation, x* and silhouette at heatmap resolution."""

from __future__ import annotations

import numpy as np
import pytest

from mirrornet.data import PoseRecord, TopDownTransform
from mirrornet.data import images as images_module
from mirrornet.data import transforms as transforms_module
from mirrornet.data.images import IMAGE_BACKENDS
from mirrornet.data.transforms import apply_affine, get_affine, warp_affine, warp_affine_area
from mirrornet.skeleton import FLIP_PERMUTATION

HAVE_OPENCV = images_module.opencv_module() is not None


@pytest.fixture(params=IMAGE_BACKENDS)
def backend(request) -> str:
    """Each warp backend; OpenCV's is skipped where OpenCV is not installed."""
    if request.param == "opencv" and not HAVE_OPENCV:
        pytest.skip("OpenCV is not installed (pip install 'mirrornet[speed]')")
    return request.param


def test_get_affine_centre_scale_rotation_flip():
    a = get_affine((50.0, 40.0), 0.2, (64, 48), padding=1.0)  # 40 px region on the 48 px side
    np.testing.assert_allclose(apply_affine([50.0, 40.0], a), [23.5, 31.5])
    np.testing.assert_allclose(apply_affine([60.0, 40.0], a), [23.5 + 12.0, 31.5])  # zoom 48/40
    r = get_affine((50.0, 40.0), 0.2, (64, 48), rotation=90.0, padding=1.0)
    # counter-clockwise on screen: a point to the right of the centre goes up
    np.testing.assert_allclose(apply_affine([60.0, 40.0], r), [23.5, 31.5 - 12.0], atol=1e-9)
    f = get_affine((50.0, 40.0), 0.2, (64, 48), flip=True, padding=1.0)
    np.testing.assert_allclose(apply_affine([60.0, 40.0], f), [47 - 35.5, 31.5])


def test_warp_matches_affine_on_a_single_bright_pixel(backend):
    img = np.zeros((60, 80, 3), np.uint8)
    img[25, 31] = 255
    a = get_affine((40.0, 30.0), 0.3, (32, 32), rotation=20.0, padding=1.0)
    out = warp_affine(img, a, (32, 32), backend)
    expect = apply_affine([31.0, 25.0], a)
    peak = np.unravel_index(out[..., 0].argmax(), out.shape[:2])
    assert abs(peak[1] - expect[0]) <= 0.5 and abs(peak[0] - expect[1]) <= 0.5


def test_warp_integer_translation_is_exact(backend):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(20, 30, 3), dtype=np.uint8)
    a = np.array([[1.0, 0.0, -4.0], [0.0, 1.0, -3.0]])
    out = warp_affine(img, a, (10, 12), backend)
    np.testing.assert_array_equal(out, img[3:13, 4:16])
    # Outside the image is black.
    outside = warp_affine(img, np.array([[1.0, 0.0, 20.0], [0.0, 1.0, 0.0]]), (10, 12), backend)
    assert (outside[:, :12] == 0).all()


def record(center=(40.0, 30.0), scale=0.2) -> PoseRecord:
    rng = np.random.default_rng(0)
    joints = np.asarray(center) + rng.uniform(-15, 15, size=(16, 2))
    return PoseRecord(image="x.jpg", joints=joints, visible=np.ones(16), center=center, scale=scale)


def test_call_without_augmentation_and_x_star_alignment(backend):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, size=(60, 80, 3), dtype=np.uint8)
    sil = np.zeros((60, 80), bool)
    sil[20:40, 30:50] = True
    t = TopDownTransform((64, 48), heatmap_stride=4, image_backend=backend)
    rec = record()
    out = t(img, rec, sil)
    assert out["image"].shape == (64, 48, 3) and out["x_star"].shape == (16, 12, 3)
    assert out["silhouette"].shape == (16, 12) and out["silhouette"].dtype == np.float32
    assert 0.0 <= out["silhouette"].min() and out["silhouette"].max() == pytest.approx(1.0)
    np.testing.assert_allclose(out["joints"], apply_affine(rec.joints, out["affine"]))
    assert not out["flipped"] and out["rotation"] == 0.0
    # x* is the same warp straight to 1/4 size (area-averaged): heatmap pixel j <-> input 4j + 1.5
    hm_a = out["heatmap_affine"]
    np.testing.assert_allclose(apply_affine([10.0, 20.0], hm_a), (apply_affine([10.0, 20.0], out["affine"]) + 0.5) / 4 - 0.5)
    np.testing.assert_array_equal(out["x_star"], warp_affine_area(img, hm_a, (16, 12), backend))
    # the silhouette's foreground lands on the box's mapped corners
    inside = apply_affine([[40.0, 30.0]], hm_a)[0]
    assert out["silhouette"][int(round(inside[1])), int(round(inside[0]))] == pytest.approx(1.0)
    corner = apply_affine([[5.0, 5.0]], hm_a)[0]
    assert out["silhouette"][int(round(corner[1])), int(round(corner[0]))] == 0.0


def test_augmentation_is_seeded_and_flip_swaps_joints():
    img = np.zeros((60, 80, 3), np.uint8)
    t = TopDownTransform((32, 32), augment=True, flip_prob=1.0, rotation_prob=1.0)
    rec = record()
    a = t(img, rec, rng=np.random.default_rng(5))
    b = t(img, rec, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a["affine"], b["affine"])
    assert a["flipped"] and a["rotation"] != 0.0 and 0.75 * 0.2 <= a["scale"] <= 1.25 * 0.2
    assert abs(a["rotation"]) <= 60.0
    np.testing.assert_array_equal(a["joint_order"], FLIP_PERMUTATION)
    np.testing.assert_allclose(a["joints"], apply_affine(rec.joints, a["affine"])[list(FLIP_PERMUTATION)])
    # without flips allowed nothing flips; without rotation probability nothing rotates
    t2 = TopDownTransform((32, 32), augment=True, flip=False, rotation_prob=0.0)
    draws = [t2.sample(np.random.default_rng(s)) for s in range(50)]
    assert not any(d[2] for d in draws) and all(d[1] == 0.0 for d in draws)
    assert len({d[0] for d in draws}) > 10 and all(0.75 <= d[0] <= 1.25 for d in draws)


def test_flip_mirrors_the_crop():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, size=(60, 80, 3), dtype=np.uint8)
    rec = record()
    plain = TopDownTransform((32, 32))(img, rec)
    t = TopDownTransform((32, 32), augment=True, scale_factor=0.0, rotation_prob=0.0, flip_prob=1.0)
    flipped = t(img, rec, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(flipped["image"], plain["image"][:, ::-1])


def test_bad_sizes():
    with pytest.raises(ValueError, match="multiple of heatmap_stride"):
        TopDownTransform((30, 32), heatmap_stride=4)
    with pytest.raises(ValueError, match="image must be"):
        TopDownTransform((32, 32))(np.zeros((10, 10)), record())


@pytest.mark.parametrize("side", [400, 411])  # 411: the shrink (25.7×) does not divide the side
def test_x_star_is_an_area_average_not_point_sampling(backend, side):
    """A one-pixel checkerboard shrunk 25× is uniform grey when the area under each pixel is
    averaged; bilinear point sampling alone reads black or white pixels (aliasing)."""
    board = (np.indices((side, side)).sum(0) % 2 * 255).astype(np.uint8)
    img = np.stack([board] * 3, axis=-1)
    centre = (side - 1) / 2.0
    rec = PoseRecord(image="x.jpg", joints=np.full((16, 2), centre), visible=np.ones(16), center=(centre, centre), scale=side / 200.0)
    out = TopDownTransform((64, 64), heatmap_stride=4, padding=1.0, image_backend=backend)(img, rec)
    x_star = out["x_star"].astype(float)  # (16, 16, 3): 400 px -> 16 px
    assert x_star.shape == (16, 16, 3)
    # OpenCV's image ends at its outer pixel centres: the outermost half pixel, here a quarter of
    # the border ring's fine samples, blends with the black outside.
    inner = x_star[1:-1, 1:-1] if backend == "opencv" else x_star
    assert np.abs(inner - 127.5).max() <= 2.0
    point = warp_affine(img, out["heatmap_affine"], (16, 16), backend).astype(float)
    assert np.abs(point - 127.5).max() > 100  # what a bilinear warp alone gives
    # On a smooth image the area average and the bilinear warp agree (same geometry).
    ramp = np.tile(np.linspace(0, 255, side)[None, :], (side, 1)).astype(np.uint8)
    ramp = np.stack([ramp] * 3, axis=-1)
    hm_a = out["heatmap_affine"]
    area = warp_affine_area(ramp, hm_a, (16, 16), backend).astype(float)
    difference = np.abs(area - warp_affine(ramp, hm_a, (16, 16), backend))
    assert (difference[1:-1, 1:-1] if backend == "opencv" else difference).max() <= 2
    # The silhouette is averaged alike: its mean is the covered fraction.
    sil = np.zeros((side, side), bool)
    sil[100:300, 150:250] = True
    small = warp_affine_area(sil, hm_a, (16, 16), backend)
    assert small.dtype == np.float32 and small.sum() * (side / 16) ** 2 == pytest.approx(sil.sum(), rel=0.01)


def test_normalize_image_lookup_equals_the_arithmetic_bit_for_bit() -> None:
    from mirrornet.data.transforms import IMAGE_MEAN, IMAGE_STD, normalize_image

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    image[0, :3] = [[0, 0, 0], [255, 255, 255], [1, 128, 254]]
    expected = (image.astype(np.float32) / 255.0 - np.asarray(IMAGE_MEAN, np.float32)) / np.asarray(IMAGE_STD, np.float32)
    got = normalize_image(image)
    assert got.dtype == np.float32 and got.shape == (3, 7, 5) and got.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(got, expected.transpose(2, 0, 1))
    # Non-uint8 input takes the arithmetic path.
    np.testing.assert_array_equal(normalize_image(image.astype(np.float32)), expected.transpose(2, 0, 1))


@pytest.mark.skipif(not HAVE_OPENCV, reason="OpenCV is not installed (pip install 'mirrornet[speed]')")
def test_normalize_image_opencv_and_numpy_paths_agree_bit_for_bit(monkeypatch) -> None:
    from mirrornet.data.transforms import normalize_image

    image = np.random.default_rng(1).integers(0, 256, (33, 17, 3), dtype=np.uint8)
    with_opencv = normalize_image(image)
    monkeypatch.setattr(transforms_module, "opencv_module", lambda: None)
    np.testing.assert_array_equal(with_opencv, normalize_image(image))


@pytest.mark.skipif(not HAVE_OPENCV, reason="OpenCV is not installed (pip install 'mirrornet[speed]')")
def test_the_two_backends_agree_on_a_real_sized_crop() -> None:
    """Same geometry: on a smooth image the backends differ by OpenCV's fixed-point rounding only."""
    yy, xx = np.mgrid[0:240, 0:320]
    smooth = np.stack([xx * 255 / 319, yy * 255 / 239, (xx + yy) * 255 / 558], axis=-1).astype(np.uint8)
    affine = get_affine((160.0, 120.0), 1.0, (256, 256), rotation=17.0, padding=1.1)
    crops = [warp_affine(smooth, affine, (256, 256), b).astype(float) for b in IMAGE_BACKENDS]
    inside = crops[0].min(axis=-1) > 0  # away from the black outside, whose border pixels blend differently
    assert np.abs(crops[0] - crops[1])[inside].mean() < 1.0
    shrink = get_affine((160.0, 120.0), 1.0, (32, 32), rotation=17.0, padding=1.1)
    small = [warp_affine_area(smooth, shrink, (32, 32), b).astype(float) for b in IMAGE_BACKENDS]
    assert np.abs(small[0] - small[1])[small[0].min(axis=-1) > 0].mean() < 2.0


def test_unknown_or_missing_image_backend_is_refused(monkeypatch) -> None:
    with pytest.raises(ValueError, match="pillow, opencv.*'cuda'"):
        TopDownTransform((32, 32), image_backend="cuda")
    monkeypatch.setattr(images_module, "opencv_module", lambda: None)
    with pytest.raises(ValueError, match="needs OpenCV.*mirrornet\\[speed\\]"):
        TopDownTransform((32, 32), image_backend="opencv")


def test_config_key_image_backend_reaches_the_transform_and_is_checked(monkeypatch) -> None:
    import importlib.util

    from mirrornet.config import ConfigError, config_from_dict
    from mirrornet.data.builders import build_transform

    with pytest.raises(ConfigError, match="data.image_backend"):
        config_from_dict({"data": {"image_backend": "cuda"}})
    if HAVE_OPENCV:
        config = config_from_dict({"data": {"image_backend": "opencv"}})
        assert build_transform(config, augment=True).image_backend == "opencv"
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cv2" else real_find_spec(name, *a))
    with pytest.raises(ConfigError, match="'data.image_backend' is 'opencv', but OpenCV is not installed"):
        config_from_dict({"data": {"image_backend": "opencv"}})
