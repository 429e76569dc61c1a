"""The normalisation of a crop: uint8 RGB → float32 scaled to [0, 1] and standardised by ImageNet's
RGB statistics, by a lookup table (bit-identical to the arithmetic, a fraction of its cost)."""

from __future__ import annotations

import numpy as np

from mirrornet.data.images import opencv_module

__all__ = ["IMAGE_MEAN", "IMAGE_STD", "normalize_image"]


# ImageNet RGB statistics, for images scaled to [0, 1].
IMAGE_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGE_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def _normalized_levels() -> np.ndarray:
    """(3, 256) float32: every uint8 level of each channel, normalised as a float32 pixel is."""
    levels = np.arange(256, dtype=np.float32)[None, :] / 255.0  # (1, 256)
    mean = np.asarray(IMAGE_MEAN, dtype=np.float32)[:, None]
    std = np.asarray(IMAGE_STD, dtype=np.float32)[:, None]
    return np.ascontiguousarray((levels - mean) / std)


#: The normalisation as a lookup table: the same float32 values as the arithmetic, at a fraction
#: of its cost (one gather per pixel instead of a cast, a division, a subtraction, a division).
_NORMALIZED_LEVELS = _normalized_levels()
#: The same table as one (1, 256) row per channel, the layout of cv2.LUT.
_NORMALIZED_LEVEL_ROWS = tuple(np.ascontiguousarray(row[None]) for row in _NORMALIZED_LEVELS)


def normalize_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB → (3, H, W) float32, scaled to [0, 1] then normalised by IMAGE_MEAN/STD."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        x = image.astype(np.float32) / 255.0
        x = (x - np.asarray(IMAGE_MEAN, dtype=np.float32)) / np.asarray(IMAGE_STD, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))
    cv2 = opencv_module()
    if cv2 is not None and image.ndim == 3 and image.shape[2] == 3:
        # The same table lookup by OpenCV, each channel written straight into its plane of the
        # (3, H, W) result: bit-identical, about 4× faster than numpy's gathers and transpose.
        out = np.empty((3, *image.shape[:2]), dtype=np.float32)
        for c, plane in enumerate(cv2.split(np.ascontiguousarray(image))):
            cv2.LUT(plane, _NORMALIZED_LEVEL_ROWS[c], dst=out[c])
        return out
    channels = np.ascontiguousarray(image.transpose(2, 0, 1))  # (3, H, W) uint8
    return np.stack([_NORMALIZED_LEVELS[c][channels[c]] for c in range(3)])
