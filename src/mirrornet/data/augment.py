"""Augmentations beyond the paper's scale, rotation and flip (HRNet's half body; colour).

Used by :class:`~mirrornet.data.transforms.TopDownTransform` when ``data.half_body_prob`` or
``data.colour_jitter`` is above 0; both are 0 in the paper presets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mirrornet.skeleton import NUM_JOINTS

__all__ = ["UPPER_BODY_JOINTS", "half_body_box", "jitter_colour"]

#: The joints of the upper body (head, neck, thorax, arms) for the half-body augmentation; the
#: others (hips, knees, ankles, pelvis) are the lower body.
UPPER_BODY_JOINTS: tuple[int, ...] = (7, 8, 9, 10, 11, 12, 13, 14, 15)
# HRNet's half-body augmentation: at least this many joints labelled, the new box 1.5× the joints'.
_HALF_BODY_MIN_JOINTS = 8
_HALF_BODY_MARGIN = 1.5


def half_body_box(
    joints: np.ndarray, labelled: np.ndarray, upper: bool, aspect: float, padding: float
) -> tuple[np.ndarray, float] | None:
    """(centre, scale) of a crop around the upper or lower body's labelled joints (HRNet's
    half-body augmentation), or None when fewer than 8 joints are labelled or the chosen half has
    fewer than 2.

    The box around the half's joints is widened to the crop's aspect (W / H), enlarged 1.5×, and
    expressed as a scale whose crop (200 · scale · padding on the shorter side) spans it.
    """
    labelled = np.asarray(labelled) > 0
    if labelled.sum() < _HALF_BODY_MIN_JOINTS:
        return None
    in_half = np.zeros(NUM_JOINTS, dtype=bool)
    in_half[list(UPPER_BODY_JOINTS)] = True
    if not upper:
        in_half = ~in_half
    chosen = np.asarray(joints, dtype=np.float64)[labelled & in_half]
    if len(chosen) < 2 or not np.isfinite(chosen).all():
        return None
    lo, hi = chosen.min(axis=0), chosen.max(axis=0)
    centre = (lo + hi) / 2.0
    w, h = hi - lo
    w, h = max(w, h * aspect), max(h, w / aspect)
    # The crop's shorter side must span the box's: H when W/H >= 1, else W.
    side = min(w / aspect, h) if aspect >= 1.0 else min(w, h * aspect)
    side = max(side, 1.0)
    return centre, _HALF_BODY_MARGIN * side / (200.0 * padding)


def jitter_colour(images: Sequence[np.ndarray], strength: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Scale the brightness, contrast and saturation of uint8 RGB images by factors drawn from
    [1 − strength, 1 + strength] (the same factors for every image given: a crop and its x*)."""
    factors = rng.uniform(1.0 - strength, 1.0 + strength, size=3)
    out = []
    for image in images:
        x = image.astype(np.float32) * factors[0]
        grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W) luma
        x = (x - grey.mean()) * factors[1] + grey.mean()
        grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        x = grey[..., None] + (x - grey[..., None]) * factors[2]
        out.append(np.clip(np.rint(x), 0, 255).astype(np.uint8))
    return out
