"""Skeletons drawn over images (``mirrornet predict --draw``), with Pillow.

Limbs of the person's right side are red, of the left side blue, of the spine and head green
(the legend in the top-left corner says so); joints are white dots. Joints whose score is below
``kpt_thr`` are left out of the drawing (the results keep every score), and so is every limb
that touches one. A box is drawn around each person, except when the box is the whole image
(no boxes were given): it would only frame the picture.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mirrornet.fileio import atomic_path
from mirrornet.skeleton import LIMB_SIDES, LIMBS, NUM_JOINTS

__all__ = ["DrawStyle", "SIDE_COLOURS", "draw_people", "draw_predictions", "drawing_names"]

#: Limb colours by the side of the body (the person's own left and right).
SIDE_COLOURS: dict[str, tuple[int, int, int]] = {
    "right": (255, 60, 40), "left": (40, 120, 255), "centre": (60, 220, 60),
}
_BOX_COLOUR = (255, 255, 0)
_JOINT_COLOUR = (255, 255, 255)


@dataclass
class DrawStyle:
    """How skeletons are drawn.

    Attributes:
        kpt_thr: joints with a lower score are not drawn (0: every joint).
        radius: joint dots' radius in pixels (None: from the image size).
        line_width: limbs' width in pixels (None: from the image size, about 1/150 of its longer side).
        legend: write which colour is which side in the top-left corner.
    """

    kpt_thr: float = 0.0
    radius: int | None = None
    line_width: int | None = None
    legend: bool = True


def _keypoints(person: Mapping[str, Any]) -> np.ndarray:
    """(16, 3) x, y, score; null (non-finite) values read as NaN."""
    values = [np.nan if v is None else v for v in person["keypoints"]]
    return np.asarray(values, dtype=float).reshape(NUM_JOINTS, 3)


def _is_whole_image(box: Sequence[float], size: tuple[int, int]) -> bool:
    x, y, w, h = box
    return x <= 0 and y <= 0 and x + w >= size[0] and y + h >= size[1]


def _legend(draw: Any, width: int) -> None:
    from PIL import ImageFont

    size = max(10, 4 * width + 6)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    y = 2
    for label, side in (("right", "right"), ("left", "left")):
        draw.rectangle([2, y, 2 + size, y + size], fill=SIDE_COLOURS[side])
        draw.text((6 + size, y), label, fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
        y += size + 3


def draw_people(image: np.ndarray, people: Sequence[Mapping[str, Any]], style: DrawStyle | None = None) -> np.ndarray:
    """An RGB image (H, W, 3) uint8 with the boxes and skeletons of ``people`` drawn over it.

    Args:
        image: the image the keypoints are in.
        people: its keypoint results (``bbox``, ``keypoints``).
        style: thresholds and sizes (default :class:`DrawStyle`).

    Returns:
        A new array; ``image`` is left as it was.
    """
    from PIL import Image, ImageDraw

    style = style or DrawStyle()
    canvas = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    draw = ImageDraw.Draw(canvas)
    width = style.line_width or max(1, round(max(canvas.size) / 150))
    radius = style.radius if style.radius is not None else width + 1
    for person in people:
        if not _is_whole_image(person["bbox"], canvas.size):
            x, y, w, h = person["bbox"]
            draw.rectangle([x, y, x + w, y + h], outline=_BOX_COLOUR, width=max(1, width // 2))
        kp = _keypoints(person)
        shown = np.isfinite(kp[:, :2]).all(axis=1) & (np.nan_to_num(kp[:, 2], nan=-np.inf) >= style.kpt_thr)
        for (a, b), side in zip(LIMBS, LIMB_SIDES):
            if shown[a] and shown[b]:
                draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=SIDE_COLOURS.get(side, _JOINT_COLOUR), width=width)
        for px, py, _ in kp[shown]:
            draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=_JOINT_COLOUR)
    if style.legend and people:
        _legend(draw, width)
    return np.asarray(canvas)


def draw_predictions(
    image_path: str | Path, people: Sequence[Mapping[str, Any]], out_path: str | Path, style: DrawStyle | None = None
) -> Path:
    """Draw the boxes and skeletons of ``people`` (the results of one image) into ``out_path``.

    The image is read upright (EXIF), as it was for the prediction; the drawing is written
    atomically, in the format its suffix names.
    """
    from PIL import Image

    from mirrornet.data import load_image

    drawn = draw_people(load_image(image_path), people, style)
    out_path = Path(out_path)
    # Encoded in memory (in the format the suffix names; PNG for a suffix Pillow cannot write),
    # then written whole: a failed write (a full disk) is an OSError naming the drawing and
    # leaves no partial file.
    encoded = io.BytesIO()
    Image.fromarray(drawn).save(encoded, format=Image.registered_extensions().get(out_path.suffix.lower(), "PNG"))
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(encoded.getvalue())
    return out_path


#: Drawing names kept as they are: the drawn videos (``mirrornet.inputs.VideoWriter``).
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4",)


def _drawable(name: str) -> str:
    """``name``, or ``name.png`` when Pillow cannot write its suffix (none, ``.txt``, ``.bak``)."""
    from PIL import Image

    suffix = Path(name).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return name  # a drawn video, written by OpenCV
    fmt = Image.registered_extensions().get(suffix)
    return name if fmt in Image.SAVE else f"{name}.png"


def drawing_names(images: Sequence[str | Path]) -> list[str]:
    """Distinct file names for the drawings of ``images``, in their order.

    A drawing is named like its image. Images that share a file name (``a/x.png``, ``b/x.png``)
    are named after their path as given instead, its folders joined by ``__`` (``a__x.png``,
    ``b__x.png``; the root and ``..`` left out); a name still taken gets ``-2``, ``-3``, ...
    before its suffix. Names are compared ignoring case, as some file systems do. A name whose
    suffix Pillow cannot write (none, ``.txt``, ``.bak``) gets ``.png`` added.
    """
    paths = [Path(p) for p in images]
    shared = Counter(p.name.casefold() for p in paths)
    taken: set[str] = set()
    names: list[str] = []
    for p in paths:
        name = p.name
        if shared[name.casefold()] > 1:
            name = "__".join(part for part in p.parts if part not in (p.anchor, "..", ".")) or p.name
        name = _drawable(name)
        candidate, n = name, 2
        while candidate.casefold() in taken:
            candidate = f"{Path(name).stem}-{n}{Path(name).suffix}"
            n += 1
        taken.add(candidate.casefold())
        names.append(candidate)
    return names
