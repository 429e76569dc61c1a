"""Keypoints of people in images with a trained recognizer α (only α runs at run time, Sec. 5.3).

Each person box (or the whole image when no box is given) is cropped top-down like the
training data (Section 5.1), α's last stack is decoded by arg-max (Section 5.2) and mapped back
to original-image pixels. Results follow the COCO keypoint-results layout: one entry per person
with ``image`` (the image's path as given), ``category_id`` 1, ``bbox`` [x, y, w, h],
``keypoints`` (flat x, y, score triples in MPII joint order, named by ``keypoint_names``),
``score`` (the mean joint score, times the detector's ``bbox_score`` where the boxes file gives
one) and ``outside`` (the joints predicted outside the image: kept, but flagged). ``image_id``
is added where the boxes file or an images list gives one, and ``frame`` / ``time`` for a
video's frames. Values that are not finite are written as null, and the entry then carries
``warnings`` naming the joints, so that the file is strict JSON.
:func:`mirrornet.coco.to_coco_results` turns entries into COCO's own 17 keypoints.

Images are turned upright by their EXIF orientation tag; keypoints are in the pixels of the
upright image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mirrornet.boxes import MAX_BOX_TO_IMAGE, MIN_BOX_SIDE, BoxesFile, ImageBoxes, PredictError, check_boxes, read_boxes
from mirrornet.config import Config
from mirrornet.drawing import draw_predictions, drawing_names
from mirrornet.fileio import json_safe, write_json_atomic
from mirrornet.skeleton import JOINT_NAMES, NUM_JOINTS

__all__ = [
    "KEYPOINT_NAMES",
    "PredictError",
    "Predictor",
    "box_to_center_scale",
    "read_boxes",
    "predict_images",
    "predict_file",
    "person_entries",
    "write_json_atomic",
    "draw_predictions",
    "drawing_names",
    "MIN_BOX_SIDE",
    "MAX_BOX_TO_IMAGE",
]

#: The joint names of the ``keypoints`` triples, in order.
KEYPOINT_NAMES: tuple[str, ...] = tuple(JOINT_NAMES)


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


def whole_image(size: tuple[int, int]) -> ImageBoxes:
    """One box covering a whole image of (width, height)."""
    return ImageBoxes([[0.0, 0.0, float(size[0]), float(size[1])]], [None])


class Predictor:
    """α's keypoints for the person boxes of images held in memory.

    Args:
        model: a trained MirrorNet, or a :class:`~mirrornet.checkpoints.RecognizerOnly` (only α runs).
        config: its config (input size, padding, codec).
        flip_test: average with the mirrored crop's heatmaps.
        device: where α runs.
        backend: ``torch``, ``onnx``, ``auto`` or a ready :class:`~mirrornet.onnx_runtime.BackendChoice`.
        expected_crops: the job's size, for ``auto``'s choice (None: unknown).
    """

    def __init__(self, model: torch.nn.Module, config: Config, flip_test: bool = False,
                 device: str | torch.device = "cpu", backend: Any = "torch", expected_crops: int | None = None) -> None:
        from mirrornet.data.builders import build_codec_for, build_transform
        from mirrornet.onnx_runtime import runner_for

        self.config = config
        self.codec = build_codec_for(config)
        self.transform = build_transform(config, augment=False)
        self.flip_test = bool(flip_test)
        self.device = device
        model.eval().to(device)
        self.runner = runner_for(model, backend, device, tuple(config.data.input_size), expected_crops=expected_crops)

    @torch.no_grad()
    def people(self, image: np.ndarray, boxes: Sequence[Sequence[float]], name: str = "image") -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of the people in ``boxes``.

        Args:
            image: (H, W, 3) uint8 RGB.
            boxes: [x, y, w, h] per person (may be empty).
            name: the image's name, for messages.

        Returns:
            coords (P, 16, 2) original-image pixels, scores (P, 16).
        """
        from mirrornet.inference import predict_batch

        if len(boxes) == 0:
            return np.zeros((0, NUM_JOINTS, 2), np.float32), np.zeros((0, NUM_JOINTS), np.float32)
        crops, affine = _person_crops(image, name, [list(b) for b in boxes], self.config, self.transform, self.codec)
        coords, scores = predict_batch(
            self.runner, self.codec, crops.to(self.device), affine.to(self.device), self.flip_test
        )  # (P, 16, 2), (P, 16)
        return coords.numpy(), scores.numpy()


def _as_boxes_file(boxes: BoxesFile | Mapping[str, list[list[float]]] | None) -> BoxesFile | None:
    """A plain mapping (image → boxes) read as a MirrorNet boxes file."""
    if boxes is None or isinstance(boxes, BoxesFile):
        return boxes
    table = {k: ImageBoxes([list(map(float, b)) for b in v], [None] * len(v)) for k, v in boxes.items()}
    return BoxesFile("<boxes>", table, {}, detections=False)


@torch.no_grad()
def predict_images(
    model: torch.nn.Module,
    config: Config,
    images: Sequence[str | Path],
    boxes: BoxesFile | Mapping[str, list[list[float]]] | None = None,
    flip_test: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = False,
    on_error: Callable[[str, ValueError | FileNotFoundError], None] | None = None,
    backend: Any = "torch",
) -> list[dict[str, Any]]:
    """Predict the 16 joints of every person box of every image file.

    Each entry's ``image`` is the image's path as given, so that two images with one file name
    in different folders stay apart. Non-finite keypoint values and scores are written as None
    (JSON null) with a ``warnings`` list naming the joints. Images in memory (numpy arrays, PIL
    images) go through :class:`mirrornet.PoseEstimator`.

    A bad image (missing, unreadable, without an entry in ``boxes``, or with a box that misses
    it) raises, or, with ``on_error``, is passed to it and skipped while the other images are
    predicted: ``mirrornet predict`` reports each bad image, writes the results of the others
    and exits with status 2.

    Args:
        model: a trained MirrorNet (only α runs).
        config: its config (input size, codec).
        images: image files (any size; PNG, JPEG, ... anything Pillow reads).
        boxes: a :func:`read_boxes` file, or a mapping image path as given (or file name) →
            person boxes [x, y, w, h]; with a mapping, every image needs an entry (an empty list:
            no people). None: one box covering each whole image.
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
    from mirrornet.data.images import DatasetFileNotFoundError, DatasetFormatError

    for given in images:
        if not isinstance(given, (str, Path)):
            raise PredictError(
                f"predict_images takes image files, got {type(given).__name__}; "
                "for images in memory use mirrornet.PoseEstimator"
            )
    box_file = _as_boxes_file(boxes)
    predictor = Predictor(model, config, flip_test, device, backend, expected_crops=len(images))
    results: list[dict[str, Any]] = []
    for given in progress_bar(images, progress, desc="predict", unit="image"):
        name = str(given)
        try:
            results.extend(predict_file(predictor, name, box_file))
        except (PredictError, DatasetFormatError, DatasetFileNotFoundError) as exc:
            if on_error is None:
                raise
            on_error(name, exc)
    return results


def predict_file(predictor: Predictor, name: str, boxes: BoxesFile | None) -> list[dict[str, Any]]:
    """The keypoint results of one image file (its path as given), boxes from ``boxes`` or the
    whole image.

    Raises:
        PredictError: the image is missing or has no usable box; mirrornet.data.images errors
            name an unreadable image.
    """
    image, own = _read_image(name, boxes)
    coords, scores = predictor.people(image, own.boxes, name)
    return person_entries(name, own, coords, scores, (image.shape[1], image.shape[0]))


def _read_image(name: str, boxes: BoxesFile | None) -> tuple[np.ndarray, ImageBoxes]:
    """An image, upright (H, W, 3) uint8, and its person boxes, checked against it.

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
    size = (image.shape[1], image.shape[0])
    own = whole_image(size) if boxes is None else boxes.lookup(name)
    check_boxes(name, size, own.boxes)
    return image, own


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


def person_entries(
    name: str,
    boxes: ImageBoxes,
    coords: np.ndarray,
    scores: np.ndarray,
    size: tuple[int, int],
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The keypoint results of one image's people (MirrorNet's layout, see the module's documentation).

    Args:
        name: the image as given.
        boxes: its person boxes, with their detector scores and COCO id.
        coords: (P, 16, 2) original-image pixels.
        scores: (P, 16).
        size: the image's (width, height), to flag joints outside it.
        extra: keys added to every entry (a video frame's ``frame`` and ``time``).
    """
    width, height = size
    entries = []
    for i, (box, xy, sc) in enumerate(zip(boxes.boxes, coords, scores)):
        keypoints = np.concatenate([xy, sc[:, None]], axis=1).reshape(-1)  # (48,)
        outside = (xy[:, 0] < 0) | (xy[:, 0] >= width) | (xy[:, 1] < 0) | (xy[:, 1] >= height)
        box_score = boxes.scores[i] if i < len(boxes.scores) else None
        entry: dict[str, Any] = {"image": name}
        if boxes.image_id is not None:
            entry["image_id"] = boxes.image_id
        entry.update(extra or {})
        entry.update({
            "category_id": 1,
            "bbox": [float(v) for v in box],
            "keypoints": [float(v) for v in keypoints],
            "keypoint_names": list(KEYPOINT_NAMES),
            "score": float(np.mean(sc)) * (1.0 if box_score is None else box_score),
            "outside": [JOINT_NAMES[j] for j in np.flatnonzero(outside)],
        })
        if box_score is not None:
            entry["bbox_score"] = box_score
        entries.append(_finite_entry(entry))
    return entries


def group_by_image(results: Iterable[Mapping[str, Any]]) -> dict[Any, list[Mapping[str, Any]]]:
    """Results grouped by (``image``, ``frame``): the people of each image or video frame."""
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["image"], r.get("frame")), []).append(r)
    return groups
