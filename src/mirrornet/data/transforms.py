"""Top-down crops and training augmentation (paper Sec. 5.1, 5.2; HRNet's `JointsDataset`).

Each person is cut out by one affine warp: a square (LSP, 256×256) or 4:3 (MPII, H×W = 256×192)
region around `record.center`, whose shorter side spans 200 · scale · padding original pixels (as
HRNet's `get_affine_transform`, which maps 200·scale onto the output width). Training augmentation,
as in HRNet: scale × clip(1 + N(0,1)·scale_factor, 1 ± scale_factor), rotation
clip(N(0,1)·rotation, ±2·rotation) degrees applied with probability `rotation_prob`, horizontal
flip with probability `flip_prob` (left and right joints swap by `skeleton.FLIP_PERMUTATION`).

The same affine, composed with the input → heatmap map, also produces x* (the image at heatmap
resolution, 1/stride of the input) and the silhouette at heatmap resolution, so they line up with
the heatmaps exactly. Coordinates are 0-based pixel centres throughout; the affine maths is numpy.
The warps have two backends (``image_backend``, see :mod:`mirrornet.data.images`): ``"pillow"``
(the default, with which every figure in benchmarks/RESULTS.md was made) uses `Image.transform`
with the inverse affine and bilinear sampling; ``"opencv"`` uses `cv2.warpAffine` and `cv2.resize(INTER_AREA)`, about 3× faster per
crop, with OpenCV's fixed-point bilinear weights (1/32 pixel), so its pixels differ from
Pillow's by about one grey level on average; and OpenCV's image ends at its outer pixel centres,
where Pillow's ends half a pixel further out, so the half pixel along the image's border fades
to black there. OpenCV is optional (``pip install mirrornet[speed]``).

x* and the silhouette shrink a real image 4–30×, where bilinear sampling alone would be point
sampling (aliasing). They are made by `warp_affine_area`: an integer box reduction of the
original (area averaging) followed by a warp at twice the output resolution and a 2×2 average,
so that every output pixel is the mean of the original pixels under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from mirrornet import choices
from mirrornet.codecs import input_to_heatmap
from mirrornet.data.augment import half_body_box, jitter_colour
from mirrornet.data.images import check_image_backend, opencv_module
from mirrornet.data.normalize import IMAGE_MEAN, IMAGE_STD, normalize_image  # re-exported: the crop's names
from mirrornet.data.records import PoseRecord
from mirrornet.skeleton import FLIP_PERMUTATION, NUM_JOINTS

__all__ = [
    "IMAGE_MEAN",
    "IMAGE_STD",
    "TopDownTransform",
    "get_affine",
    "warp_affine",
    "warp_affine_area",
    "apply_affine",
    "normalize_image",
]



# OpenCV's warpAffine refuses images with a side of SHRT_MAX or more; such images use Pillow.
_OPENCV_MAX_SIDE = 32767


def get_affine(
    center: Sequence[float],
    scale: float,
    output_size: Sequence[int],
    rotation: float = 0.0,
    flip: bool = False,
    padding: float = choices.DEFAULT_CROP_PADDING,
) -> np.ndarray:
    """The (2, 3) affine that maps original-image pixels to crop pixels.

    The region of side 200 · scale · padding (on the crop's shorter side) centred on `center` fills
    the crop; the person is turned by `rotation` degrees counter-clockwise as seen on screen
    (y points down) about the crop centre; `flip` then mirrors the crop (u → W − 1 − u).

    Args:
        center: (x, y) in original pixels.
        scale: person size / 200.
        output_size: (H, W) of the crop.
        rotation: degrees.
        flip: mirror horizontally.
        padding: margin factor around 200 · scale.
    """
    out_h, out_w = (int(s) for s in output_size)
    if not scale > 0 or not padding > 0:
        raise ValueError(f"scale and padding must be positive, got scale={scale}, padding={padding}")
    zoom = min(out_h, out_w) / (200.0 * float(scale) * float(padding))  # crop px per original px
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta), np.sin(theta)
    # Counter-clockwise on screen with y down: (1, 0) -> (cos, -sin).
    lin = zoom * np.array([[cos, sin], [-sin, cos]])
    crop_centre = np.array([(out_w - 1) / 2.0, (out_h - 1) / 2.0])
    offset = crop_centre - lin @ np.asarray(center, dtype=np.float64)
    affine = np.concatenate([lin, offset[:, None]], axis=1)
    if flip:
        mirror = np.array([[-1.0, 0.0, out_w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        affine = (mirror @ np.vstack([affine, [0.0, 0.0, 1.0]]))[:2]
    return affine


def apply_affine(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Map points (..., 2) by a (2, 3) affine."""
    points = np.asarray(points, dtype=np.float64)
    return points @ affine[:, :2].T + affine[:, 2]


def _pil_coefficients(affine: np.ndarray) -> tuple[float, ...]:
    """Pillow's AFFINE data for our (2, 3) forward affine.

    Pillow wants the *inverse* map, output → input, in its continuous coordinates where pixel i
    spans [i, i + 1) (centre i + 0.5); ours puts the centre at i. With p_in = L·p_out + o in ours,
    Pillow's map is c_in = L·c_out + o + 0.5 − L·(0.5, 0.5).
    """
    full = np.vstack([affine, [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(full)
    lin, off = inv[:2, :2], inv[:2, 2]
    off = off + 0.5 - lin @ np.array([0.5, 0.5])
    return (lin[0, 0], lin[0, 1], off[0], lin[1, 0], lin[1, 1], off[1])


def warp_affine(
    image: np.ndarray, affine: np.ndarray, output_size: Sequence[int], backend: str = "pillow"
) -> np.ndarray:
    """Warp an image by a forward affine with bilinear sampling; outside pixels become 0.

    Args:
        image: (H, W, 3) uint8 or (H, W) float / bool / uint8.
        affine: (2, 3) original → output pixels.
        output_size: (H, W) of the result.
        backend: "pillow" or "opencv" (see the module docstring).

    Returns:
        (H', W', 3) uint8 for colour input, (H', W') float32 for 2-D input.
    """
    out_h, out_w = (int(s) for s in output_size)
    image = np.asarray(image)
    affine = np.asarray(affine, dtype=np.float64)
    if _use_opencv(backend, image):
        return _opencv_warp(_opencv_input(image), affine, (out_h, out_w))
    pil = _to_pil(image)
    out = pil.transform(
        (out_w, out_h), Image.Transform.AFFINE, _pil_coefficients(affine),
        resample=Image.Resampling.BILINEAR, fillcolor=0,
    )
    arr = np.asarray(out)
    return arr.copy() if image.ndim == 3 else arr.astype(np.float32)


def _use_opencv(backend: str, image: np.ndarray) -> bool:
    """Whether a warp of `image` goes through OpenCV (asked for, and within its size limit)."""
    if backend == "pillow":
        return False
    check_image_backend(backend)
    return max(image.shape[:2]) < _OPENCV_MAX_SIDE


def _opencv_input(image: np.ndarray) -> np.ndarray:
    """The array OpenCV warps: (H, W, 3) uint8 as is, 2-D input as float32 (as Pillow's mode F)."""
    if image.ndim == 3:
        return np.ascontiguousarray(image.astype(np.uint8, copy=False))
    if image.ndim == 2:
        return np.ascontiguousarray(image.astype(np.float32))
    raise ValueError(f"warp_affine expects (H, W, 3) or (H, W), got {image.shape}")


def _opencv_warp(image: np.ndarray, affine: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """cv2.warpAffine with our convention: its forward matrix maps pixel centres at integers too,
    so the affine is passed unchanged; outside pixels become 0."""
    cv2 = opencv_module()
    out_h, out_w = output_size
    return cv2.warpAffine(
        image, affine, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _to_pil(image: np.ndarray) -> Image.Image:
    if image.ndim == 3:
        return Image.fromarray(np.ascontiguousarray(image.astype(np.uint8, copy=False)), mode="RGB")
    if image.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(image.astype(np.float32)), mode="F")
    raise ValueError(f"warp_affine expects (H, W, 3) or (H, W), got {image.shape}")


def _box_factor(zoom: float, shape: tuple[int, ...]) -> int:
    """The box reduction of `warp_affine_area`'s first step: the integer part of the shrink
    1 / `zoom`, at least 1 and at most the image's shorter side (`shape` is (H, W, ...))."""
    return min(max(1, int(np.floor(1.0 / zoom))), max(1, min(shape[:2])))


def _from_box_reduced(affine: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """`affine` (original → output pixels) as a map from the pixels of the image box-reduced by
    blocks of `sx` × `sy` original pixels: reduced pixel q is centred at original s·q + (s − 1)/2."""
    to_original = np.array([[sx, 0.0, (sx - 1) / 2.0], [0.0, sy, (sy - 1) / 2.0], [0.0, 0.0, 1.0]])
    return (np.vstack([affine, [0.0, 0.0, 1.0]]) @ to_original)[:2]


def _at_twice_resolution(affine: np.ndarray) -> np.ndarray:
    """`affine` composed with output → fine pixels at twice the resolution: output pixel j covers
    fine pixels 2j and 2j + 1, centred at fine coordinate 2j + 0.5."""
    fine = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5], [0.0, 0.0, 1.0]]) @ np.vstack([affine, [0.0, 0.0, 1.0]])
    return fine[:2]


def warp_affine_area(
    image: np.ndarray, affine: np.ndarray, output_size: Sequence[int], backend: str = "pillow"
) -> np.ndarray:
    """Warp an image by a forward affine that shrinks it, averaging the area under each pixel.

    A warp that shrinks k× with bilinear sampling reads only 2×2 of the k×k input pixels under
    each output pixel. Here the image is first box-reduced by the integer part of the shrink
    (Pillow's ``Image.reduce``: the mean of each block), then warped at twice the output
    resolution with bilinear sampling and averaged 2×2, which covers the remaining shrink of
    at most 2×. A warp that does not shrink is :func:`warp_affine` itself.

    Args:
        image: (H, W, 3) uint8 or (H, W) float / bool / uint8.
        affine: (2, 3) original → output pixels.
        output_size: (H, W) of the result.
        backend: "pillow" or "opencv" (see the module docstring).

    Returns:
        (H', W', 3) uint8 for colour input, (H', W') float32 for 2-D input.
    """
    out_h, out_w = (int(s) for s in output_size)
    affine = np.asarray(affine, dtype=np.float64)
    image = np.asarray(image)
    zoom = float(np.sqrt(abs(np.linalg.det(affine[:, :2]))))  # output pixels per original pixel
    if not zoom > 0:
        raise ValueError(f"warp_affine_area: the affine is singular: {affine.tolist()}")
    if zoom >= 1.0:
        return warp_affine(image, affine, output_size, backend)
    if _use_opencv(backend, image):
        return _opencv_warp_area(_opencv_input(image), affine, (out_h, out_w), zoom)
    colour = image.ndim == 3
    pil = _to_pil(image)
    # 1. Box reduction by the integer part of the shrink: reduced pixel q averages original
    #    pixels k·q … k·q + k − 1 (Pillow keeps a last, partial block).
    k = _box_factor(zoom, image.shape)
    if k > 1:
        pil = pil.reduce(k)
        affine = _from_box_reduced(affine, k, k)
    # 2. The remaining shrink (< 2×): warp at 2× the output resolution, then average 2×2.
    warped = pil.transform(
        (2 * out_w, 2 * out_h), Image.Transform.AFFINE, _pil_coefficients(_at_twice_resolution(affine)),
        resample=Image.Resampling.BILINEAR, fillcolor=0,
    )
    arr = np.asarray(warped, dtype=np.float32)
    pooled = arr.reshape(out_h, 2, out_w, 2, *arr.shape[2:]).mean(axis=(1, 3))
    if colour:
        return np.clip(np.rint(pooled), 0, 255).astype(np.uint8)
    return pooled.astype(np.float32)


def _opencv_warp_area(image: np.ndarray, affine: np.ndarray, output_size: tuple[int, int], zoom: float) -> np.ndarray:
    """`warp_affine_area`'s three steps with OpenCV: box reduction, warp at 2×, 2×2 average."""
    cv2 = opencv_module()
    out_h, out_w = output_size
    height, width = image.shape[:2]
    k = _box_factor(zoom, image.shape)
    if k > 1:
        # INTER_AREA to (W // k, H // k) averages blocks of W / (W // k) × H / (H // k) pixels
        # (k, or a little more when k does not divide the side).
        reduced_w, reduced_h = max(1, width // k), max(1, height // k)
        image = cv2.resize(image, (reduced_w, reduced_h), interpolation=cv2.INTER_AREA)
        affine = _from_box_reduced(affine, width / reduced_w, height / reduced_h)
    warped = _opencv_warp(image, _at_twice_resolution(affine), (2 * out_h, 2 * out_w))
    # An exact 2× INTER_AREA reduction is the 2×2 mean (rounded to the nearest level for uint8).
    return cv2.resize(warped, (out_w, out_h), interpolation=cv2.INTER_AREA)


class TopDownTransform:
    """Cut one person out of an image, with optional augmentation (paper Sec. 5.2).

    Args:
        input_size: (H, W) of the network input, e.g. (256, 256) for LSP or (256, 192) for MPII.
        heatmap_stride: input pixels per heatmap pixel; H and W must be multiples of it.
        augment: draw random scale, rotation and flip (training).
        scale_factor: scale jitter sf: scale × clip(1 + N(0,1)·sf, 1 − sf, 1 + sf).
        rotation: rotation jitter rf in degrees: clip(N(0,1)·rf, −2rf, 2rf).
        rotation_prob: probability that a rotation is applied.
        flip: allow horizontal flips when augmenting.
        padding: crop margin factor around 200 · scale (HRNet's 1.25).
        flip_prob: probability of a flip when `flip` is on.
        image_backend: "pillow" or "opencv" (see the module docstring).
        half_body_prob: when augmenting, probability of a crop around the upper or lower body
            only (:func:`half_body_box`).
        colour_jitter: when augmenting, the strength of :func:`jitter_colour` (0: none).
        box_jitter: (scale, shift) of detector-like boxes when not augmenting (evaluation): the
            crop's scale × clip(1 + N(0,1)·scale, 1 ± 2·scale) and its centre moved by
            N(0,1)·shift crop sides in x and y, drawn from (``jitter_seed``, the record's index).
        jitter_seed: the seed of the box jitter.
    """

    def __init__(
        self,
        input_size: Sequence[int] = (256, 256),
        heatmap_stride: int = choices.DEFAULT_HEATMAP_STRIDE,
        augment: bool = False,
        scale_factor: float = choices.DEFAULT_SCALE_FACTOR,
        rotation: float = choices.DEFAULT_ROTATION,
        rotation_prob: float = choices.DEFAULT_ROTATION_PROB,
        flip: bool = True,
        padding: float = choices.DEFAULT_CROP_PADDING,
        flip_prob: float = 0.5,
        image_backend: str = choices.DEFAULT_IMAGE_BACKEND,
        half_body_prob: float = 0.0,
        colour_jitter: float = 0.0,
        box_jitter: tuple[float, float] = (0.0, 0.0),
        jitter_seed: int = 0,
    ) -> None:
        check_image_backend(image_backend)
        size = tuple(int(s) for s in input_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"input_size must be (H, W), got {input_size!r}")
        if heatmap_stride <= 0 or size[0] % heatmap_stride or size[1] % heatmap_stride:
            raise ValueError(f"input_size {size} must be a multiple of heatmap_stride {heatmap_stride}")
        self.input_size: tuple[int, int] = size
        self.heatmap_stride = int(heatmap_stride)
        self.heatmap_size: tuple[int, int] = (size[0] // heatmap_stride, size[1] // heatmap_stride)
        self.augment = bool(augment)
        self.scale_factor = float(scale_factor)
        self.rotation = float(rotation)
        self.rotation_prob = float(rotation_prob)
        self.flip = bool(flip)
        self.padding = float(padding)
        self.flip_prob = float(flip_prob)
        self.image_backend = image_backend
        self.half_body_prob = float(half_body_prob)
        self.colour_jitter = float(colour_jitter)
        self.box_jitter = (float(box_jitter[0]), float(box_jitter[1]))
        self.jitter_seed = int(jitter_seed)

    def crop_box(self, record: PoseRecord, rng: np.random.Generator | None) -> tuple[np.ndarray, float]:
        """The (centre, scale) the crop starts from, before the scale augmentation: the record's,
        a half body's (augmenting, with probability ``half_body_prob``), or a detector-like
        jittered box (not augmenting, with ``box_jitter``)."""
        centre, scale = np.asarray(record.center, dtype=np.float64), float(record.scale)
        # Draws only when the option is on, so that the other draws of a run do not move.
        if self.augment and rng is not None and self.half_body_prob > 0 and rng.random() < self.half_body_prob:
            labelled = record.labelled if record.labelled is not None else record.visible
            aspect = self.input_size[1] / self.input_size[0]
            box = half_body_box(record.joints, labelled, bool(rng.random() < 0.5), aspect, self.padding)
            if box is not None:
                centre, scale = box
        if not self.augment and (self.box_jitter[0] > 0 or self.box_jitter[1] > 0):
            jitter = np.random.default_rng([self.jitter_seed, int(record.index)])
            s_sd, t_sd = self.box_jitter
            side = 200.0 * scale * self.padding
            scale = scale * float(np.clip(1.0 + jitter.standard_normal() * s_sd, 1.0 - 2 * s_sd, 1.0 + 2 * s_sd))
            centre = centre + jitter.standard_normal(2) * t_sd * side
        return centre, scale

    def sample(self, rng: np.random.Generator | None) -> tuple[float, float, bool]:
        """Draw (scale multiplier, rotation in degrees, flip); (1, 0, False) without augmentation."""
        if not self.augment or rng is None:
            return 1.0, 0.0, False
        sf, rf = self.scale_factor, self.rotation
        mult = float(np.clip(1.0 + rng.standard_normal() * sf, 1.0 - sf, 1.0 + sf))
        rot_draw = float(np.clip(rng.standard_normal() * rf, -2.0 * rf, 2.0 * rf))
        rot = rot_draw if rng.random() < self.rotation_prob else 0.0
        flipped = bool(self.flip and rng.random() < self.flip_prob)
        return mult, rot, flipped

    def heatmap_affine(self, affine: np.ndarray) -> np.ndarray:
        """Compose an input-crop affine (2, 3) with the input → heatmap map u ↦ (u + 0.5)/stride − 0.5."""
        out = np.asarray(affine, dtype=np.float64) / self.heatmap_stride
        out[:, 2] += input_to_heatmap(0.0, self.heatmap_stride)
        return out

    def __call__(
        self,
        image: np.ndarray,
        record: PoseRecord,
        silhouette: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> dict[str, Any]:
        """Crop (and augment) one person.

        Args:
            image: (H, W, 3) uint8 original image.
            record: its PoseRecord (center, scale, joints, visible, labelled).
            silhouette: (H, W) bool mask of the original image, or None.
            rng: source of the augmentation draws (needed when `augment` is on).

        Returns:
            dict with "image" (H, W, 3) uint8 crop; "x_star" (h, w, 3) uint8 at heatmap resolution;
            "silhouette" (h, w) float32 in [0, 1] or None; "joints" (16, 2) in crop pixels;
            "visible", "labelled" (16,) after the flip's left/right swap; "joint_order" (16,) the
            original joint behind each output joint (FLIP_PERMUTATION when flipped);
            "affine" (2, 3) original → crop pixels; "heatmap_affine" (2, 3) original → heatmap
            pixels; "flipped" bool; "rotation" degrees; "scale" the crop's scale.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3), got {image.shape} for {record.image_id or 'record'}")
        mult, rot, flipped = self.sample(rng)
        centre, base_scale = self.crop_box(record, rng)
        scale = base_scale * mult
        affine = get_affine(centre, scale, self.input_size, rot, flipped, self.padding)
        hm_affine = self.heatmap_affine(affine)
        order = np.array(FLIP_PERMUTATION if flipped else range(NUM_JOINTS))
        crop = warp_affine(image, affine, self.input_size, self.image_backend)
        # x* and the silhouette: area-averaged shrinks (see warp_affine_area).
        x_star = warp_affine_area(image, hm_affine, self.heatmap_size, self.image_backend)
        sil = None
        if silhouette is not None:
            silhouette = np.asarray(silhouette, dtype=np.float32)
            sil_small = warp_affine_area(silhouette, hm_affine, self.heatmap_size, self.image_backend)
            sil = np.clip(sil_small, 0.0, 1.0)
        if self.augment and rng is not None and self.colour_jitter > 0:
            crop, x_star = jitter_colour([crop, x_star], self.colour_jitter, rng)
        joints = apply_affine(record.joints, affine)[order]
        return {
            "image": crop,
            "x_star": x_star,
            "silhouette": sil,
            "joints": joints,
            "visible": np.asarray(record.visible)[order],
            "labelled": np.asarray(record.labelled)[order],
            "joint_order": order,
            "affine": affine,
            "heatmap_affine": hm_affine,
            "flipped": flipped,
            "rotation": rot,
            "scale": scale,
        }

    def __repr__(self) -> str:
        return (
            f"TopDownTransform(input_size={self.input_size}, heatmap_stride={self.heatmap_stride}, "
            f"augment={self.augment}, scale_factor={self.scale_factor}, rotation={self.rotation}, "
            f"rotation_prob={self.rotation_prob}, flip={self.flip}, padding={self.padding}, flip_prob={self.flip_prob}, "
            f"image_backend={self.image_backend!r}, half_body_prob={self.half_body_prob}, "
            f"colour_jitter={self.colour_jitter}, box_jitter={self.box_jitter}, jitter_seed={self.jitter_seed})"
        )
