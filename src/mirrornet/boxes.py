"""Person boxes for ``mirrornet predict``: a simple boxes file, or any detector's COCO results.

Two layouts are read (:func:`read_boxes` tells them apart):

* **MirrorNet's boxes file** — a JSON object mapping an image (its path as given, or its file
  name) to ``[x, y, w, h]`` or a list of them. Every image needs an entry; an empty list means
  "no person here".
* **COCO detection results** — the JSON list that MMDetection, Detectron2 or YOLO's JSON export
  write: ``[{"image_id" | "file_name", "category_id", "bbox": [x, y, w, h], "score"}, ...]``.
  Only people are kept (``category_id`` 1, COCO's person; entries without one count as people),
  and only boxes whose ``score`` reaches the threshold. An entry is matched to an input image by
  ``file_name`` (path as given, or file name), or by ``image_id`` through an images list (a COCO
  annotation file's ``images``: ``[{"id", "file_name"}]``) or, without one, through the number
  in the image's file name (COCO's ``000000397133.jpg`` is image 397133). An input image without
  a detection has no people: a detector that saw nobody is not an error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BoxesFile", "ImageBoxes", "MAX_BOX_TO_IMAGE", "MIN_BOX_SIDE", "PredictError", "read_boxes", "read_images_list"]

#: The smallest box side, in image pixels.
MIN_BOX_SIDE = 1.0
#: The largest box side, in multiples of the image's longer side.
MAX_BOX_TO_IMAGE = 100.0
#: COCO's category of people.
PERSON_CATEGORY = 1


class PredictError(ValueError):
    """Bad input to prediction (a missing image, a malformed boxes file)."""


def _error(message: str) -> Exception:
    return PredictError(message)


def _is_number(v: Any) -> bool:
    # json reads 1e400 as inf and accepts NaN / Infinity literals; booleans are ints to Python.
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_box(item: Any) -> bool:
    """Four finite numbers (not booleans) with a positive width and height."""
    if not (isinstance(item, list) and len(item) == 4 and all(_is_number(v) for v in item)):
        return False
    return item[2] > 0 and item[3] > 0


@dataclass
class ImageBoxes:
    """The person boxes of one image.

    Attributes:
        boxes: [x, y, w, h] per person.
        scores: the detector's score per box (None where the file gives none).
        image_id: the image's COCO id, where the boxes file or the images list gives one.
    """

    boxes: list[list[float]]
    scores: list[float | None] = field(default_factory=list)
    image_id: int | str | None = None


def _keys(image: str) -> tuple[str, ...]:
    """The names an image is looked up by: its path as given, normalised, and its file name."""
    return (image, str(Path(image)), Path(image).name)


class BoxesFile:
    """The boxes of a boxes file (either layout), looked up per input image by :meth:`lookup`."""

    def __init__(self, path: str | Path, by_name: dict[str, ImageBoxes], by_id: dict[Any, ImageBoxes],
                 detections: bool, ids: dict[str, int | str] | None = None) -> None:
        self.path = Path(path)
        self.by_name = by_name
        self.by_id = by_id
        #: A COCO detection file: images without an entry have no people (else: an error).
        self.detections = detections
        self.ids = ids or {}
        self.matched = 0

    def image_id(self, image: str) -> int | str | None:
        """The COCO id of an input image: from the images list, else its file name's number."""
        for key in _keys(image):
            if key in self.ids:
                return self.ids[key]
        stem = Path(image).stem
        return int(stem) if stem.isdigit() else None

    def lookup(self, image: str) -> ImageBoxes:
        """The boxes of ``image`` (its path as given).

        Raises:
            PredictError: a MirrorNet boxes file without an entry for the image.
        """
        own = next((self.by_name[k] for k in _keys(image) if k in self.by_name), None)
        image_id = self.image_id(image)
        if own is None and image_id is not None:
            own = self.by_id.get(image_id, self.by_id.get(str(image_id)))
        if own is not None:
            self.matched += 1
            return ImageBoxes(own.boxes, own.scores, own.image_id if own.image_id is not None else image_id)
        if self.detections:
            return ImageBoxes([], [], image_id)
        raise _error(
            f"image {image} has no entry in the boxes file (looked up by its path and by its file name "
            f"{Path(image).name!r})"
        )

    def __len__(self) -> int:
        return sum(len(b.boxes) for b in (*self.by_name.values(), *self.by_id.values()))


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's dict; a key given twice is an error (``json`` keeps the last)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _key_line(text: str, key: str) -> str:
    """`` (line N)``: where ``key`` is given the second time in a JSON text (empty if not found)."""
    import re

    hits = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text)]
    return f" (line {text.count(chr(10), 0, hits[1]) + 1})" if len(hits) > 1 else ""


def _load_json(path: Path, what: str) -> Any:
    text = ""
    try:
        text = path.read_text()
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise _error(f"{what} {path}{_key_line(text, exc.key)}: image {exc.key!r} has two entries; give "
                     "each image (and each key) once") from None
    except RecursionError:
        raise _error(f"{what} {path} is nested too deeply to be a {what}") from None
    except FileNotFoundError:
        raise _error(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, a binary file
        raise _error(f"cannot read {what} {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise _error(f"{what} {path} is not valid JSON: {exc}") from None


def read_images_list(path: str | Path) -> dict[str, int | str]:
    """File name → image id of a COCO images list: a COCO annotation file (its ``images``) or the
    list itself, ``[{"id": 397133, "file_name": "000000397133.jpg"}, ...]``.

    Raises:
        PredictError: the file is missing, not JSON, or an entry lacks ``id`` or ``file_name``.
    """
    path = Path(path)
    raw = _load_json(path, "images list")
    images = raw.get("images") if isinstance(raw, dict) else raw
    if not isinstance(images, list):
        raise _error(f"images list {path} must be a list of {{'id', 'file_name'}} or a COCO file with 'images'")
    ids: dict[str, int | str] = {}
    for i, entry in enumerate(images):
        if not (isinstance(entry, dict) and isinstance(entry.get("file_name"), str) and "id" in entry):
            raise _error(f"images list {path}: entry {i} must have 'id' and 'file_name', got {entry!r}")
        ids[entry["file_name"]] = entry["id"]
        ids.setdefault(Path(entry["file_name"]).name, entry["id"])
    return ids


def _read_detections(path: Path, raw: list, score_threshold: float, ids: dict[str, int | str] | None) -> BoxesFile:
    """A COCO detection-results list → :class:`BoxesFile` (people above the threshold only)."""
    by_name: dict[str, ImageBoxes] = {}
    by_id: dict[Any, ImageBoxes] = {}
    for i, det in enumerate(raw):
        where = f"boxes file {path}: detection {i}"
        if not _is_box(det.get("bbox")):
            raise _error(f"{where}: 'bbox' must be [x, y, w, h], four finite numbers with w > 0 and h > 0, "
                         f"got {det.get('bbox')!r}")
        score = det.get("score")
        if score is not None and not _is_number(score):
            raise _error(f"{where}: 'score' must be a finite number, got {score!r}")
        name, image_id = det.get("file_name"), det.get("image_id")
        if not isinstance(name, str) and not isinstance(image_id, (int, str)):
            raise _error(f"{where} names no image: give 'file_name' (a string) or 'image_id'")
        if det.get("category_id", PERSON_CATEGORY) != PERSON_CATEGORY:
            continue
        if score is not None and score < score_threshold:
            continue
        table, key = (by_name, name) if isinstance(name, str) else (by_id, image_id)
        entry = table.setdefault(key, ImageBoxes([], [], image_id))
        entry.boxes.append([float(v) for v in det["bbox"]])
        entry.scores.append(None if score is None else float(score))
    return BoxesFile(path, by_name, by_id, detections=True, ids=ids)


def read_boxes(
    path: str | Path, score_threshold: float = 0.0, images_list: str | Path | None = None
) -> BoxesFile:
    """Read a boxes file in either layout (see the module's documentation).

    Args:
        path: the JSON file.
        score_threshold: COCO detections with a lower ``score`` are dropped.
        images_list: a COCO images list (:func:`read_images_list`) matching ``image_id`` to files.

    Raises:
        PredictError: the file is missing or not JSON, or a box is not four finite numbers with a
            positive width and height (naming the image or detection whose box it is).
    """
    path = Path(path)
    raw = _load_json(path, "boxes file")
    ids = read_images_list(images_list) if images_list is not None else None
    if isinstance(raw, list):
        odd = next((i for i, det in enumerate(raw) if not isinstance(det, dict)), None)
        if odd is not None:
            raise _error(f"boxes file {path} must map image names to boxes, or be a list of COCO detections "
                         f"(objects with 'bbox'); entry {odd} is {raw[odd]!r}")
        return _read_detections(path, raw, score_threshold, ids)
    if not isinstance(raw, dict):
        raise _error(f"boxes file {path} must map image names to boxes, or be a list of COCO detections")
    by_name: dict[str, ImageBoxes] = {}
    for name, value in raw.items():
        if value == []:
            by_name[name] = ImageBoxes([], [])  # no person in this image
            continue
        items = value if isinstance(value, list) and value and all(isinstance(b, list) for b in value) else [value]
        for item in items:
            if not _is_box(item):
                raise _error(
                    f"boxes file {path}: the box of image {name!r} must be [x, y, w, h], four finite numbers "
                    f"with w > 0 and h > 0, got {item!r}"
                )
        by_name[name] = ImageBoxes([[float(v) for v in b] for b in items], [None] * len(items))
    return BoxesFile(path, by_name, {}, detections=False, ids=ids)


def check_boxes(image: str, size: tuple[int, int], boxes: list[list[float]]) -> None:
    """Check an image's boxes against it (width, height).

    Raises:
        PredictError: a box misses the image or is out of proportion to it (naming both).
    """
    width, height = size
    for x, y, w, h in boxes:
        if not (x < width and y < height and x + w > 0 and y + h > 0):
            raise _error(f"image {image} ({width}×{height}): the box {[x, y, w, h]} lies outside the image")
        # A crop maps the box onto the network input: boxes far larger or smaller than a pixel of
        # the image make that map degenerate (a box of 1e308 pixels has no usable crop).
        longest = MAX_BOX_TO_IMAGE * max(width, height)
        if not (MIN_BOX_SIDE <= w <= longest and MIN_BOX_SIDE <= h <= longest):
            raise _error(
                f"image {image} ({width}×{height}): the box {[x, y, w, h]} must be {MIN_BOX_SIDE:g} to "
                f"{MAX_BOX_TO_IMAGE:g} × {max(width, height)} pixels wide and high"
            )
