"""Image decoding: the Pillow and OpenCV backends give the same pixels, and bad files fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mirrornet.data import images as images_module
from mirrornet.data.images import DatasetFormatError, load_image

needs_opencv = pytest.mark.skipif(
    images_module.opencv_module() is None, reason="OpenCV is not installed (pip install 'mirrornet[speed]')"
)


def _photo(height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth colour image with some texture, as a JPEG encoder meets in photos."""
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    image = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1) + rng.integers(0, 40, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@needs_opencv
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_opencv_decodes_jpegs_to_the_same_pixels_as_pillow(tmp_path, mode) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(_photo()).convert(mode).save(path, quality=90)
    pillow = load_image(path, exif_orientation=False)
    opencv = load_image(path, exif_orientation=False, backend="opencv")
    assert opencv.shape == pillow.shape == (48, 64, 3) and opencv.dtype == np.uint8
    np.testing.assert_array_equal(opencv, pillow)


@needs_opencv
def test_opencv_backend_leaves_other_files_to_pillow(tmp_path) -> None:
    png = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(png)
    np.testing.assert_array_equal(load_image(png, False, backend="opencv"), _photo())
    # With an EXIF turn asked for, Pillow decodes and turns (orientation 6: 90° clockwise).
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_photo()).save(turned, exif=exif, quality=95)
    upright = load_image(turned, exif_orientation=True, backend="opencv")
    assert upright.shape == (64, 48, 3)
    np.testing.assert_array_equal(upright, np.rot90(load_image(turned, exif_orientation=False), k=-1))


@needs_opencv
def test_a_truncated_jpeg_fails_naming_the_file_with_either_backend(tmp_path) -> None:
    path = tmp_path / "cut.jpg"
    Image.fromarray(_photo(200, 200)).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:-600])  # OpenCV alone would return the decoded part
    for backend in ("pillow", "opencv"):
        with pytest.raises(DatasetFormatError, match="cut.jpg"):
            load_image(path, exif_orientation=False, backend=backend)


def test_an_unknown_image_backend_is_refused(tmp_path) -> None:
    path = tmp_path / "photo.jpg"
    Image.fromarray(_photo()).save(path)
    for exif_orientation in (False, True):  # refused even where Pillow would decode anyway
        with pytest.raises(ValueError, match="pillow, opencv.*'turbo'"):
            load_image(path, exif_orientation=exif_orientation, backend="turbo")
