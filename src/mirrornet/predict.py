"""Keypoints of people in images with a trained recognizer α (only α runs at run time, Sec. 5.3).

Each person box (or the whole image when no box is given) is cropped top-down like the
training data (Section 5.1), α's last stack is decoded by arg-max (Section 5.2) and mapped back
to original-image pixels. Results use the COCO keypoint-results layout: one entry per person
with ``image`` (the image's path as given), ``bbox`` [x, y, w, h], ``keypoints`` (flat x, y,
score triples in MPII joint order, :data:`mirrornet.skeleton.JOINT_NAMES`) and ``score`` (the
mean joint score). Values that are not finite are written as null, and the entry then carries
``warnings`` naming the joints, so that the file is strict JSON.

Images are turned upright by their EXIF orientation tag; keypoints are in the pixels of the
upright image.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mirrornet.config import Config
from mirrornet.fileio import atomic_path, json_safe, write_json_atomic
from mirrornet.skeleton import JOINT_NAMES, LIMBS, NUM_JOINTS

__all__ = [
    "PredictError",
    "box_to_center_scale",
    "read_boxes",
    "predict_images",
    "write_json_atomic",
    "draw_predictions",
    "drawing_names",
]

#: The smallest box side, in image pixels.
MIN_BOX_SIDE = 1.0
#: The largest box side, in multiples of the image's longer side.
MAX_BOX_TO_IMAGE = 100.0


class PredictError(ValueError):
    """Bad input to prediction (a missing image, a malformed boxes file)."""


def box_to_center_scale(box: Sequence[float], input_size: tuple[int, int], padding: float) -> tuple[np.ndarray, float]:
    """The crop (centre, scale = size / 200) in which a box [x, y, w, h] fills the input.

    ``TopDownTransform`` maps 200 · scale · padding original pixels onto the crop's shorter side;
    the scale is chosen so that the whole box (times the padding) fits both crop sides.
    """
    x, y, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0):
        raise PredictError(f"a box must have a positive width and height, got {list(box)}")
    out_h, out_w = input_size
    zoom = min(out_w / w, out_h / h) / padding  # crop px per original px, margin included
    scale = min(out_h, out_w) / (zoom * 200.0 * padding)
    return np.array([x + w / 2.0, y + h / 2.0]), float(scale)


def _is_box(item: Any) -> bool:
    """Four finite numbers (not booleans) with a positive width and height."""
    if not (isinstance(item, list) and len(item) == 4):
        return False
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in item):
        return False  # json reads 1e400 as inf and accepts NaN / Infinity literals
    return item[2] > 0 and item[3] > 0


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


def read_boxes(path: str | Path) -> dict[str, list[list[float]]]:
    """Read a boxes file: JSON mapping an image (file name or path) to [x, y, w, h] or a list of them.

    Raises:
        PredictError: the file is missing or not JSON, or a box is not four finite numbers with a
            positive width and height (naming the image whose box it is).
    """
    path = Path(path)
    try:
        text = path.read_text()
        raw = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise PredictError(f"boxes file {path}{_key_line(text, exc.key)}: image {exc.key!r} has two entries; "
                           "give each image once") from None
    except RecursionError:
        raise PredictError(f"boxes file {path} is nested too deeply to be a boxes file") from None
    except FileNotFoundError:
        raise PredictError(f"boxes file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, a binary file
        raise PredictError(f"cannot read boxes file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PredictError(f"boxes file {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PredictError(f"boxes file {path} must map image names to boxes")
    boxes: dict[str, list[list[float]]] = {}
    for name, value in raw.items():
        items = value if isinstance(value, list) and value and all(isinstance(b, list) for b in value) else [value]
        for item in items:
            if not _is_box(item):
                raise PredictError(
                    f"boxes file {path}: the box of image {name!r} must be [x, y, w, h], four finite numbers "
                    f"with w > 0 and h > 0, got {item!r}"
                )
        boxes[name] = [[float(v) for v in b] for b in items]
    return boxes


def _image_boxes(
    image: str,
    size: tuple[int, int],
    boxes: Mapping[str, list[list[float]]] | None,
) -> list[list[float]]:
    """The person boxes of one image: its entry in ``boxes`` (by path as given, then by file
    name), or the whole image without a boxes file; each box checked against the image.

    Raises:
        PredictError: the boxes file has no entry for the image, or a box misses the image or is
            out of proportion to it (naming the image and the box).
    """
    width, height = size
    if boxes is None:
        return [[0.0, 0.0, float(width), float(height)]]
    own = next((boxes[k] for k in (image, str(Path(image)), Path(image).name) if k in boxes), None)
    if own is None:
        raise PredictError(
            f"image {image} has no entry in the boxes file (looked up by its path and by its file name "
            f"{Path(image).name!r})"
        )
    for x, y, w, h in own:
        if not (x < width and y < height and x + w > 0 and y + h > 0):
            raise PredictError(f"image {image} ({width}×{height}): the box {[x, y, w, h]} lies outside the image")
        # A crop maps the box onto the network input: boxes far larger or smaller than a pixel of
        # the image make that map degenerate (a box of 1e308 pixels has no usable crop).
        longest = MAX_BOX_TO_IMAGE * max(width, height)
        if not (MIN_BOX_SIDE <= w <= longest and MIN_BOX_SIDE <= h <= longest):
            raise PredictError(
                f"image {image} ({width}×{height}): the box {[x, y, w, h]} must be {MIN_BOX_SIDE:g} to "
                f"{MAX_BOX_TO_IMAGE:g} × {max(width, height)} pixels wide and high"
            )
    return own


def _finite_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """Non-finite keypoint values and score replaced by None (JSON null), with a ``warnings`` entry
    naming the joints, so that the results stay strict JSON."""
    kp = np.asarray(entry["keypoints"], dtype=float).reshape(NUM_JOINTS, 3)
    bad = ~np.isfinite(kp).all(axis=1)
    if not bad.any() and math.isfinite(entry["score"]):
        return entry
    entry["keypoints"], entry["score"] = json_safe(entry["keypoints"]), json_safe(entry["score"])
    names = ", ".join(JOINT_NAMES[j] for j in np.flatnonzero(bad))
    entry["warnings"] = [
        f"the network gave non-finite values (NaN or infinity) for joints {names or '(none)'}; "
        f"they are written as null{' and so is the score' if entry['score'] is None else ''}"
    ]
    return entry


@torch.no_grad()
def predict_images(
    model: torch.nn.Module,
    config: Config,
    images: Sequence[str | Path],
    boxes: Mapping[str, list[list[float]]] | None = None,
    flip_test: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = False,
    on_error: Callable[[str, ValueError | FileNotFoundError], None] | None = None,
    backend: Any = "torch",
) -> list[dict[str, Any]]:
    """Predict the 16 joints of every person box of every image.

    Each entry's ``image`` is the image's path as given, so that two images with one file name
    in different folders stay apart. Non-finite keypoint values and scores are written as None
    (JSON null) with a ``warnings`` list naming the joints.

    A bad image (missing, unreadable, without an entry in ``boxes``, or with a box that misses
    it) raises, or, with ``on_error``, is passed to it and skipped while the other images are
    predicted: ``mirrornet predict`` reports each bad image, writes the results of the others
    and exits with status 2.

    Args:
        model: a trained MirrorNet (only α runs).
        config: its config (input size, codec).
        images: image files (any size; PNG, JPEG, ... anything Pillow reads).
        boxes: image path as given (or file name) → person boxes [x, y, w, h], e.g. from
            :func:`read_boxes`; with boxes, every image needs an entry. None: one box covering
            each whole image.
        flip_test: average with the mirrored crop's heatmaps.
        device: where α runs.
        progress: tqdm bar over the images.
        on_error: called with (image as given, error) for each bad image instead of raising.
        backend: where α runs: ``torch``, ``onnx`` (ONNX Runtime on the CPU), ``auto`` (ONNX
            Runtime when it is faster on this CPU) or a ready
            :class:`~mirrornet.onnx_runtime.BackendChoice` (see :mod:`mirrornet.onnx_runtime`).

    Returns:
        COCO keypoint results, one dict per person.

    Raises:
        PredictError: a missing image, or one that the boxes file has no (usable) box for;
            mirrornet.data.images errors name unreadable images. Not raised with ``on_error``.
    """
    from mirrornet.console import progress_bar
    from mirrornet.data.builders import build_codec_for, build_transform
    from mirrornet.data.images import DatasetFileNotFoundError, DatasetFormatError
    from mirrornet.inference import predict_batch
    from mirrornet.onnx_runtime import runner_for

    codec = build_codec_for(config)
    transform = build_transform(config, augment=False)
    model.eval().to(device)
    runner = runner_for(model, backend, device, tuple(config.data.input_size), expected_crops=len(images))
    results: list[dict[str, Any]] = []
    for given in progress_bar(images, progress, desc="predict"):
        name = str(given)
        try:
            image, person_boxes = _read_image(name, boxes)
        except (PredictError, DatasetFormatError, DatasetFileNotFoundError) as exc:
            if on_error is None:
                raise
            on_error(name, exc)
            continue
        crops, affine = _person_crops(image, name, person_boxes, config, transform, codec)
        coords, scores = predict_batch(runner, codec, crops.to(device), affine.to(device), flip_test)  # (P, 16, 2), (P, 16)
        results.extend(_entries(name, person_boxes, coords.numpy(), scores.numpy()))
    return results


def _read_image(name: str, boxes: Mapping[str, list[list[float]]] | None) -> tuple[np.ndarray, list[list[float]]]:
    """An image, upright (H, W, 3) uint8, and its person boxes (:func:`_image_boxes`).

    Raises:
        PredictError: the image is missing or a folder, or has no usable box;
            mirrornet.data.images errors name an unreadable image.
    """
    from mirrornet.data import load_image

    image_path = Path(name)
    if image_path.is_dir():
        raise PredictError(f"image {name} is a folder, not an image file")
    if not image_path.is_file():
        raise PredictError(f"image not found: {name}")
    image = load_image(image_path)  # names the file if unreadable
    height, width = image.shape[:2]
    return image, _image_boxes(name, (width, height), boxes)


def _person_crops(
    image: np.ndarray, name: str, person_boxes: list[list[float]], config: Config, transform, codec
) -> tuple[torch.Tensor, torch.Tensor]:
    """The crops of an image's people, made as the evaluation data makes them: (P, 3, H, W)
    normalised crops and their (P, 2, 3) original-image → crop maps."""
    from mirrornet.data import PoseDataset
    from mirrornet.data.records import PoseRecord

    records = []
    for box in person_boxes:
        center, scale = box_to_center_scale(box, tuple(config.data.input_size), config.data.padding)
        records.append(
            PoseRecord(
                image=image,
                joints=np.zeros((NUM_JOINTS, 2)),
                visible=np.zeros(NUM_JOINTS),
                center=center,
                scale=scale,
                image_id=name,
            )
        )
    dataset = PoseDataset(records, transform, codec)
    items = [dataset[i] for i in range(len(dataset))]
    return torch.stack([it["image"] for it in items]), torch.stack([it["affine"] for it in items])


def _entries(name: str, person_boxes: list[list[float]], coords: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    """The COCO keypoint results of one image's people: coords (P, 16, 2), scores (P, 16)."""
    entries = []
    for box, xy, sc in zip(person_boxes, coords, scores):
        keypoints = np.concatenate([xy, sc[:, None]], axis=1).reshape(-1)  # (48,)
        entry = {
            "image": name,
            "category_id": 1,
            "bbox": [float(v) for v in box],
            "keypoints": [float(v) for v in keypoints],
            "score": float(np.mean(sc)),
        }
        entries.append(_finite_entry(entry))
    return entries


def draw_predictions(image_path: str | Path, people: Sequence[Mapping[str, Any]], out_path: str | Path) -> Path:
    """Draw the boxes and skeletons of ``people`` (COCO results of one image) with Pillow."""
    from PIL import Image, ImageDraw

    from mirrornet.data import load_image
    from mirrornet.skeleton import LIMB_SIDES

    image = Image.fromarray(load_image(image_path))
    draw = ImageDraw.Draw(image)
    width = max(1, round(max(image.size) / 150))
    colours = {"left": (40, 120, 255), "right": (255, 60, 40), "centre": (60, 220, 60), "center": (60, 220, 60)}
    for person in people:
        x, y, w, h = person["bbox"]
        draw.rectangle([x, y, x + w, y + h], outline=(255, 255, 0), width=max(1, width // 2))
        # null (non-finite) values read as NaN; joints without a position are left out.
        kp = np.asarray([np.nan if v is None else v for v in person["keypoints"]], dtype=float).reshape(NUM_JOINTS, 3)
        placed = np.isfinite(kp[:, :2]).all(axis=1)
        for (a, b), side in zip(LIMBS, LIMB_SIDES):
            if placed[a] and placed[b]:
                draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=colours.get(side, (255, 255, 255)), width=width)
        r = width + 1
        for px, py, _ in kp[placed]:
            draw.ellipse([px - r, py - r, px + r, py + r], fill=(255, 255, 255))
    out_path = Path(out_path)
    # Encoded in memory (PIL picks the format by the suffix), then written whole: a failed
    # write (a full disk) is an OSError naming the drawing and leaves no partial file.
    encoded = io.BytesIO()
    image.save(encoded, format=Image.registered_extensions().get(out_path.suffix.lower(), "PNG"))
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(encoded.getvalue())
    return out_path


def _drawable(name: str) -> str:
    """``name``, or ``name.png`` when Pillow cannot write its suffix (none, ``.txt``, ``.bak``)."""
    from PIL import Image

    fmt = Image.registered_extensions().get(Path(name).suffix.lower())
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


#: The joint names of the ``keypoints`` triples, in order.
KEYPOINT_NAMES: tuple[str, ...] = tuple(JOINT_NAMES)
