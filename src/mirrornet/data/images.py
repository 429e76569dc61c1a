"""Image and mask file I/O shared by every reader (paper Sec. 5.1: LSP, MPII, UP-S1h images).

All decoding goes through Pillow. Failures raise `DatasetFormatError` (a `ValueError`) or
`DatasetFileNotFoundError` (a `FileNotFoundError`), each naming the file and what is wrong, so a
broken dataset stops with a message instead of training on garbage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "DatasetFormatError",
    "DatasetFileNotFoundError",
    "load_image",
    "load_mask",
    "require_file",
    "require_dir",
]


class DatasetFormatError(ValueError):
    """A dataset file exists but its content is not what the format prescribes."""


class DatasetFileNotFoundError(FileNotFoundError):
    """A file or folder that the dataset layout requires is missing."""


def require_file(path: Path | str, what: str = "file") -> Path:
    """Return `path` as a Path, raising `DatasetFileNotFoundError` naming it when it is not a file.

    Args:
        path: the file that must exist.
        what: a few words saying what the file is, for the message (e.g. "LSP joints file").
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFileNotFoundError(f"{what} not found: {path}")
    return path


def require_dir(path: Path | str, what: str = "folder") -> Path:
    """Return `path` as a Path, raising `DatasetFileNotFoundError` naming it when it is not a folder."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetFileNotFoundError(f"{what} not found: {path}")
    return path


def _open(path: Path | str, what: str) -> Image.Image:
    path = require_file(path, what)
    try:
        img = Image.open(path)
        img.load()  # decode now so a truncated file fails here, naming the file
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DatasetFormatError(f"cannot decode {what} {path}: {exc}") from exc
    return img


def load_image(path: Path | str) -> np.ndarray:
    """Read an image file as RGB.

    Args:
        path: any format Pillow decodes (JPEG, PNG, ...). Grey, palette and RGBA images are
            converted to RGB.

    Returns:
        (H, W, 3) uint8 array.

    Raises:
        DatasetFileNotFoundError: the file does not exist.
        DatasetFormatError: the file cannot be decoded as an image.
    """
    img = _open(path, "image")
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_mask(path: Path | str) -> np.ndarray:
    """Read a silhouette (foreground mask) image, UP-S1h style: foreground = any value > 0.

    Args:
        path: a grey, palette or colour PNG. For colour images a pixel is foreground when any
            channel is > 0; palette images are judged by their palette index (0 = background).

    Returns:
        (H, W) bool array.
    """
    img = _open(path, "silhouette")
    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1) if arr.shape[-1] != 2 else arr[..., 0]
    if arr.ndim != 2:
        raise DatasetFormatError(f"silhouette {path} has unsupported shape {arr.shape}")
    return arr > 0
