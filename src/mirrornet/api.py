"""``PoseEstimator``: a trained MirrorNet as one object that maps images to keypoints.

>>> from mirrornet import PoseEstimator                                   # doctest: +SKIP
>>> estimator = PoseEstimator("runs/lsp_small/checkpoints/baseline.ckpt")  # or () for the packaged model
>>> poses = estimator("photo.jpg", boxes=[[40, 10, 120, 300]])
>>> poses.keypoints.shape, poses.scores.shape                                # (1, 16, 2), (1, 16)

Images may be file paths, numpy arrays (H, W, 3) uint8 in RGB (or BGR, as OpenCV reads them,
with ``color="BGR"``), grey (H, W) arrays, or PIL images; a list of them gives a list of results.
Without boxes, each whole image is one person's box: for photos with several or small people,
pass a person detector's boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mirrornet.skeleton import JOINT_NAMES, NUM_JOINTS

__all__ = ["PoseEstimator", "Poses"]


@dataclass
class Poses:
    """The people found in one image.

    Attributes:
        keypoints: (P, 16, 2) x, y in the image's pixels, MPII joint order (:attr:`names`).
        scores: (P, 16) each joint's heatmap maximum.
        boxes: (P, 4) the person boxes [x, y, w, h] the keypoints were predicted in.
        entries: the same people in ``mirrornet predict``'s JSON layout.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    entries: list[dict[str, Any]]

    names: tuple[str, ...] = tuple(JOINT_NAMES)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])


def _to_rgb(image: Any, color: str, index: int) -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 RGB and a name for messages, from a path, an array or a PIL image."""
    if isinstance(image, (str, Path)):
        from mirrornet.data import load_image
        from mirrornet.predict import PredictError

        if not Path(image).is_file():
            raise PredictError(f"image not found: {image}")
        return load_image(image), str(image)  # upright by EXIF, 16-bit scaled, like predict
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        return np.asarray(image.convert("RGB")), f"PIL image {index}"
    if isinstance(image, np.ndarray):
        array = image
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ValueError(f"image {index}: a numpy image must be (H, W, 3) or (H, W), got shape {image.shape}")
        if array.dtype != np.uint8:
            raise ValueError(f"image {index}: a numpy image must be uint8 (0-255), got {image.dtype}")
        array = array[..., :3]
        if color == "BGR":
            array = array[..., ::-1]
        return np.ascontiguousarray(array), f"array {index}"
    raise TypeError(f"image {index}: expected a path, a numpy array or a PIL image, got {type(image).__name__}")


class PoseEstimator:
    """A trained recognizer α that maps images to keypoints (only α runs).

    Args:
        checkpoint: a training checkpoint or a recognizer file; None: the packaged default
            model (:func:`mirrornet.pretrained.default_model_path`).
        device: ``cpu``, ``cuda``, ... (None: CUDA when available).
        flip_test: average with the mirrored crops' heatmaps.
        backend: ``torch``, ``onnx`` or ``auto`` (see :mod:`mirrornet.onnx_runtime`).
        threads: set PyTorch's threads (process-wide) to this many; None leaves them as they are.

    Raises:
        NoDefaultModelError: no checkpoint was given and none is packaged.
        CheckpointError: the checkpoint is unreadable or its weights do not fit its config.
    """

    def __init__(self, checkpoint: str | Path | None = None, device: str | None = None, flip_test: bool = False,
                 backend: str = "torch", threads: int | None = None) -> None:
        import torch

        from mirrornet.cli_predict import load_model
        from mirrornet.predict import Predictor

        # The process's thread setting is the caller's: changed only when asked.
        model, self.config, self.checkpoint = load_model(None if checkpoint is None else str(checkpoint), threads,
                                                         set_threads=threads is not None)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._predictor = Predictor(model, self.config, flip_test, self.device, backend)

    def __call__(
        self,
        images: Any,
        boxes: Sequence[Sequence[float]] | Sequence[Sequence[Sequence[float]]] | None = None,
        color: str = "RGB",
    ) -> Poses | list[Poses]:
        """Keypoints of the people in one image or a list of images.

        Args:
            images: a path, a numpy array (H, W, 3) uint8, a PIL image, or a list of them.
            boxes: person boxes [x, y, w, h]: for one image a list of boxes, for a list of images
                a list of such lists (an empty list: nobody in that image). None: each whole image.
            color: the channel order of numpy arrays, ``RGB`` or ``BGR`` (OpenCV's).

        Returns:
            :class:`Poses` for one image, a list of them for a list.
        """
        if color not in ("RGB", "BGR"):
            raise ValueError(f"color must be 'RGB' or 'BGR', got {color!r}")
        single = not isinstance(images, (list, tuple))
        batch = [images] if single else list(images)
        if boxes is None:
            per_image: list[Any] = [None] * len(batch)
        else:
            per_image = [boxes] if single else list(boxes)
            if len(per_image) != len(batch):
                raise ValueError(f"boxes: {len(per_image)} lists of boxes for {len(batch)} images")
        out = [self._one(image, own, color, i) for i, (image, own) in enumerate(zip(batch, per_image))]
        return out[0] if single else out

    def _one(self, image: Any, boxes: Sequence[Sequence[float]] | None, color: str, index: int) -> Poses:
        from mirrornet.boxes import ImageBoxes, check_boxes
        from mirrornet.predict import person_entries, whole_image

        rgb, name = _to_rgb(image, color, index)
        size = (rgb.shape[1], rgb.shape[0])
        own = whole_image(size) if boxes is None else ImageBoxes([[float(v) for v in b] for b in boxes], [None] * len(boxes))
        for box in own.boxes:
            if len(box) != 4 or not (box[2] > 0 and box[3] > 0):
                raise ValueError(f"{name}: a box must be [x, y, w, h] with w > 0 and h > 0, got {box}")
        check_boxes(name, size, own.boxes)
        coords, scores = self._predictor.people(rgb, own.boxes, name)
        return Poses(
            keypoints=coords.reshape(-1, NUM_JOINTS, 2),
            scores=scores.reshape(-1, NUM_JOINTS),
            boxes=np.asarray(own.boxes, dtype=np.float64).reshape(-1, 4),
            entries=person_entries(name, own, coords, scores, size),
        )
