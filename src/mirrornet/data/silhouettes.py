"""Person silhouettes in the UP-S1h style, used to pretrain the mask estimator ψ (paper Sec. 4.2, 5.2).

A silhouette of image `im0001.jpg` is the file `im0001_segmentation.png`, either beside the image
or in a separate `silhouette_root` folder (keeping the image's path relative to the dataset's image
folder). Foreground is every pixel whose value is > 0. Images without such a file simply have no
silhouette (`PoseRecord.silhouette is None`); the dataset then reports `has_silhouette = 0`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mirrornet.data.images import DatasetFormatError, load_mask
from mirrornet.data.records import PoseRecord

__all__ = ["SILHOUETTE_SUFFIX", "silhouette_name", "find_silhouette", "attach_silhouettes", "load_silhouette"]

SILHOUETTE_SUFFIX = "_segmentation.png"


def silhouette_name(image_name: str) -> str:
    """UP-S1h file name of the silhouette of `image_name` (`im0001.jpg` -> `im0001_segmentation.png`)."""
    return Path(image_name).stem + SILHOUETTE_SUFFIX


def find_silhouette(
    image_path: Path | str, silhouette_root: Path | str | None = None, relative_to: Path | str | None = None
) -> Path | None:
    """Locate the silhouette of an image, or return None when there is none.

    Args:
        image_path: the image file.
        silhouette_root: a folder holding the silhouettes; when given, it is searched first, at
            the image's path relative to `relative_to` (or by file name alone), then beside the image.
        relative_to: the dataset's image folder, to keep sub-folders under `silhouette_root`.
    """
    image_path = Path(image_path)
    name = silhouette_name(image_path.name)
    candidates: list[Path] = []
    if silhouette_root is not None:
        root = Path(silhouette_root)
        if relative_to is not None:
            try:
                rel = image_path.parent.relative_to(relative_to)
                candidates.append(root / rel / name)
            except ValueError:
                pass
        candidates.append(root / name)
    candidates.append(image_path.parent / name)
    for cand in candidates:
        if cand.is_file():
            return cand
    return None


def attach_silhouettes(
    records: Sequence[PoseRecord], silhouette_root: Path | str | None = None, relative_to: Path | str | None = None
) -> int:
    """Set `record.silhouette` to the silhouette file of each record's image where one exists.

    Returns:
        The number of records that received a silhouette.
    """
    found = 0
    cache: dict[str, Path | None] = {}  # several MPII people share one image
    for rec in records:
        if isinstance(rec.image, np.ndarray):
            continue
        key = str(rec.image)
        if key not in cache:
            cache[key] = find_silhouette(rec.image, silhouette_root, relative_to)
        if cache[key] is not None:
            rec.silhouette = cache[key]
            found += 1
    return found


def load_silhouette(silhouette: Path | str | np.ndarray, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return a silhouette as a (H, W) bool array (foreground = value > 0).

    Args:
        silhouette: a mask file path or an array (bool or numeric).
        image_shape: (H, W) of the image it belongs to; a different mask size is an error.
    """
    if isinstance(silhouette, np.ndarray):
        mask = np.asarray(silhouette)
        if mask.ndim == 3:
            mask = mask.max(axis=-1)
        mask = mask > 0
        where = "silhouette array"
    else:
        mask = load_mask(silhouette)
        where = f"silhouette {silhouette}"
    if mask.ndim != 2:
        raise DatasetFormatError(f"{where} must be 2-D, got shape {mask.shape}")
    if image_shape is not None and tuple(mask.shape) != tuple(image_shape[:2]):
        raise DatasetFormatError(f"{where} has size {mask.shape}, but its image has size {tuple(image_shape[:2])}")
    return mask
