"""Image and mask file I/O shared by every reader (paper Sec. 5.1: LSP, MPII, UP-S1h images).

Decoding goes through Pillow, except that the ``"opencv"`` image backend (``data.image_backend``,
``pip install 'mirrornet[speed]'``) lets OpenCV decode complete baseline RGB and grey JPEGs, about
2× faster (Pillow still reads the header, so the size and format checks are Pillow's; both link
libjpeg-turbo, and the pixels were identical on every LSPET photo tried). Failures raise
`DatasetFormatError` (a `ValueError`) or `DatasetFileNotFoundError` (a `FileNotFoundError`), each
naming the file and what is wrong, so a broken dataset stops with a message instead of training
on garbage.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mirrornet import choices

__all__ = [
    "IMAGE_BACKENDS",
    "check_image_backend",
    "opencv_module",
    "DatasetFormatError",
    "DatasetFileNotFoundError",
    "DataSettingError",
    "image_size",
    "joints_outside_image",
    "load_image",
    "load_mask",
    "require_file",
    "require_dir",
]


#: The image libraries that decode and warp (``data.image_backend``): Pillow or OpenCV.
IMAGE_BACKENDS: tuple[str, ...] = choices.IMAGE_BACKENDS


@functools.lru_cache(maxsize=1)
def opencv_module() -> Any:
    """The cv2 module, or None when OpenCV is not installed.

    OpenCV's own thread pool is switched off: the parallelism of data loading is the DataLoader's
    worker processes, and a pool per worker would oversubscribe the cores.
    """
    try:
        import cv2
    except ImportError:
        return None
    cv2.setNumThreads(0)
    return cv2


def check_image_backend(backend: str) -> None:
    """Raise ValueError unless `backend` is one of IMAGE_BACKENDS and can run here."""
    if backend not in IMAGE_BACKENDS:
        raise ValueError(f"image backend must be one of {', '.join(IMAGE_BACKENDS)}, got {backend!r}")
    if backend == "opencv" and opencv_module() is None:
        raise ValueError(
            "image backend 'opencv' needs OpenCV, which is not installed: "
            "pip install 'mirrornet[speed]' (or opencv-python-headless)"
        )


class DatasetFormatError(ValueError):
    """A dataset file exists but its content is not what the format prescribes."""


class DataSettingError(ValueError):
    """A dataset setting that cannot be used: an unknown split or format, a bad count or size."""


class DatasetFileNotFoundError(FileNotFoundError):
    """A file or folder that the dataset layout requires is missing."""


def require_file(path: Path | str, what: str = "file") -> Path:
    """Return `path` as a Path, raising `DatasetFileNotFoundError` naming it when it is not a file.

    Args:
        path: the file that must exist.
        what: a few words saying what the file is, for the message (e.g. "LSP joints file").
    """
    path = Path(path)
    if path.is_dir():  # "not found" would send the user looking for a file that is there
        raise DatasetFileNotFoundError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise DatasetFileNotFoundError(f"{what} not found: {path}")
    return path


def require_dir(path: Path | str, what: str = "folder") -> Path:
    """Return `path` as a Path, raising `DatasetFileNotFoundError` naming it when it is not a folder."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetFileNotFoundError(f"{what} not found: {path}")
    return path


def _open(path: Path | str, what: str, decode: bool = True) -> Image.Image:
    path = require_file(path, what)
    try:
        img = Image.open(path)  # reads the header and checks the size against the bomb limit
        if decode:
            img.load()  # decode now so a truncated file fails here, naming the file
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses images of more than 2 × MAX_IMAGE_PIXELS pixels, and warns above
        # MAX_IMAGE_PIXELS; the warning arrives here as an exception where warnings are errors.
        raise DatasetFormatError(f"{what} {path} is too large to decode safely: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DatasetFormatError(f"cannot decode {what} {path}: {exc}") from exc
    return img


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) of an image file, from its header (the pixels are not decoded).

    Raises:
        DatasetFileNotFoundError / DatasetFormatError: as :func:`load_image`.
    """
    with _open(path, "image", decode=False) as img:
        return img.size


def joints_outside_image(joints: np.ndarray, labelled: np.ndarray, size: tuple[int, int]) -> str | None:
    """Why the labelled joints cannot belong to an image of ``size`` (None: they can).

    A labelled joint may lie outside the image (LSP and LSPET annotate joints cut off by the
    frame, up to 0.6 of the image size away), but not further than one image width or height
    beyond its edges: such a coordinate is a typing or unit error that would move the person's
    box and its PCK silently.

    Args:
        joints: (K, 2) x, y in pixels.
        labelled: (K,) 1 for a labelled joint.
        size: (width, height) of the image.
    """
    w, h = size
    for k in np.flatnonzero(np.asarray(labelled) > 0):
        x, y = (float(v) for v in joints[k])
        if not (-w <= x <= 2 * w and -h <= y <= 2 * h):
            return (f"joint {int(k) + 1} at ({x:g}, {y:g}) lies more than the image size away from the "
                    f"{w}×{h} image (labelled joints must have -{w} <= x <= {2 * w} and -{h} <= y <= {2 * h})")
    return None


def _to_8bit(img: Image.Image, path: Path | str = "") -> Image.Image:
    """Integer and float grey images (16-bit PNG / TIFF, 32-bit float TIFF) scaled to 8 bits;
    other modes unchanged.

    Pillow's ``convert("RGB")`` clips such values at 255 (and truncates floats), which turns a
    16-bit photo white and a float one in 0 … 1 black. ``I;16*`` images span 0 … 65535 and are
    divided by 257; ``I`` (32-bit) and ``F`` (32-bit float) images are divided by the smallest
    full range that holds their values: 1 (floats only), 255, 65535, or their own maximum.

    Raises:
        DatasetFormatError: a float image with NaN or infinite pixels.
    """
    if not (img.mode.startswith("I;16") or img.mode in ("I", "F")):
        return img
    arr = np.asarray(img).astype(np.float64)
    if not np.isfinite(arr).all():
        raise DatasetFormatError(f"image {path} has NaN or infinite pixel values")
    top = float(arr.max(initial=0.0))
    ranges = (1.0, 255.0, 65535.0) if img.mode == "F" else (255.0, 65535.0)
    full = 65535.0 if img.mode.startswith("I;16") else next((r for r in ranges if top <= r), top)
    scaled = np.clip(np.rint(arr * (255.0 / full)), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled)  # (H, W) uint8: mode L


def _decode_jpeg_with_opencv(img: Image.Image, path: Path | str) -> np.ndarray | None:
    """OpenCV's decode of a complete baseline RGB or grey JPEG whose header Pillow has read, as
    (H, W, 3) RGB; None for anything else (Pillow then decodes it, or names what is wrong)."""
    if img.format != "JPEG" or img.mode not in ("RGB", "L") or img.info.get("progressive"):
        return None
    data = np.fromfile(path, dtype=np.uint8)
    # libjpeg warns on a truncated file and OpenCV returns the part it decoded; Pillow raises.
    # A complete JPEG ends with the EOI marker (some writers pad after it).
    if b"\xff\xd9" not in data[-1024:].tobytes():
        return None
    cv2 = opencv_module()
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[:2] != (img.height, img.width):
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_image(
    path: Path | str, exif_orientation: bool = True, backend: str = choices.DEFAULT_IMAGE_BACKEND
) -> np.ndarray:
    """Read an image file as RGB.

    Args:
        path: any format Pillow decodes (JPEG, PNG, ...). Grey, palette and RGBA images are
            converted to RGB; 16-bit and float grey images are scaled to 8 bits.
        exif_orientation: turn the image as its EXIF orientation tag says (cameras and phones
            store photos sideways and tag them), so that it comes out upright. Dataset readers
            whose annotations are in stored-pixel coordinates switch it off.
        backend: "pillow", or "opencv" to let OpenCV decode baseline JPEGs when no EXIF turn is
            asked for (see the module docstring).

    Returns:
        (H, W, 3) uint8 array.

    Raises:
        DatasetFileNotFoundError: the file does not exist.
        DatasetFormatError: the file cannot be decoded as an image, or is too large to decode
            safely (Pillow's decompression-bomb limit, ``PIL.Image.MAX_IMAGE_PIXELS``).
        ValueError: `backend` is not one of IMAGE_BACKENDS, or is "opencv" without OpenCV.
    """
    if backend != "pillow":
        check_image_backend(backend)  # an unknown name is refused, whether or not it would decode
    if backend == "opencv" and not exif_orientation:
        img = _open(path, "image", decode=False)
        decoded = _decode_jpeg_with_opencv(img, path)
        if decoded is not None:
            return decoded
        img.close()
    img = _open(path, "image")
    if exif_orientation:
        try:
            img = ImageOps.exif_transpose(img)
        except (OSError, SyntaxError, ValueError, TypeError) as exc:  # a malformed EXIF block
            raise DatasetFormatError(f"cannot read the EXIF orientation of image {path}: {exc}") from exc
    return np.asarray(_to_8bit(img, path).convert("RGB"), dtype=np.uint8).copy()


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
