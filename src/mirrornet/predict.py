"""Keypoints of people in images with a trained recognizer α (only α runs at run time, Sec. 5.3).

Each person box (or the whole image when no box is given) is cropped top-down like the
training data (Section 5.1), α's last stack is decoded by arg-max (Section 5.2) and mapped back
to original-image pixels. Results use the COCO keypoint-results layout: one entry per person
with ``image``, ``bbox`` [x, y, w, h], ``keypoints`` (flat x, y, score triples in MPII joint
order, :data:`mirrornet.skeleton.JOINT_NAMES`) and ``score`` (the mean joint score).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mirrornet.config import Config
from mirrornet.fileio import write_json_atomic
from mirrornet.skeleton import JOINT_NAMES, LIMBS, NUM_JOINTS

__all__ = ["PredictError", "box_to_center_scale", "read_boxes", "predict_images", "write_json_atomic", "draw_predictions"]


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


def read_boxes(path: str | Path) -> dict[str, list[list[float]]]:
    """Read a boxes file: JSON mapping an image file name to [x, y, w, h] or a list of them."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise PredictError(f"boxes file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise PredictError(f"boxes file {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PredictError(f"boxes file {path} must map image names to boxes")
    boxes: dict[str, list[list[float]]] = {}
    for name, value in raw.items():
        items = value if value and isinstance(value[0], (list, tuple)) else [value]
        for item in items:
            if not (isinstance(item, (list, tuple)) and len(item) == 4 and all(isinstance(v, (int, float)) for v in item)):
                raise PredictError(f"boxes file {path}: the box of {name!r} must be [x, y, w, h], got {value!r}")
        boxes[name] = [list(map(float, b)) for b in items]
    return boxes


@torch.no_grad()
def predict_images(
    model: torch.nn.Module,
    config: Config,
    images: Sequence[str | Path],
    boxes: Mapping[str, list[list[float]]] | None = None,
    flip_test: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Predict the 16 joints of every person box of every image.

    Args:
        model: a trained MirrorNet (only α runs).
        config: its config (input size, codec).
        images: image files (any size; PNG, JPEG, ... anything Pillow reads).
        boxes: image file name (or path) → person boxes [x, y, w, h]; images without an entry
            are treated as one box covering the whole image.
        flip_test: average with the mirrored crop's heatmaps.
        device: where α runs.
        progress: tqdm bar over the images.

    Returns:
        COCO keypoint results, one dict per person.

    Raises:
        PredictError: a missing image; mirrornet.data.images errors name unreadable images.
    """
    from mirrornet.data import PoseDataset, load_image
    from mirrornet.data.records import PoseRecord
    from mirrornet.training.datamodule import build_codec_for, build_transform
    from mirrornet.training.evaluation import predict_batch

    codec = build_codec_for(config)
    transform = build_transform(config, augment=False)
    model.eval().to(device)
    results: list[dict[str, Any]] = []
    iterator = images
    if progress:
        from tqdm import tqdm

        iterator = tqdm(images, desc="predict")
    for image_path in iterator:
        image_path = Path(image_path)
        if not image_path.is_file():
            raise PredictError(f"image not found: {image_path}")
        image = load_image(image_path)  # (H, W, 3) uint8; names the file if unreadable
        height, width = image.shape[:2]
        own = None
        if boxes:
            own = boxes.get(image_path.name) or boxes.get(str(image_path))
        person_boxes = own or [[0.0, 0.0, float(width), float(height)]]
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
                    image_id=image_path.name,
                )
            )
        dataset = PoseDataset(records, transform, codec)
        items = [dataset[i] for i in range(len(dataset))]
        batch_image = torch.stack([it["image"] for it in items]).to(device)  # (P, 3, H, W)
        affine = torch.stack([it["affine"] for it in items]).to(device)  # (P, 2, 3)
        coords, scores = predict_batch(model, codec, batch_image, affine, flip_test)  # (P, 16, 2), (P, 16)
        for box, xy, sc in zip(person_boxes, coords.numpy(), scores.numpy()):
            keypoints = np.concatenate([xy, sc[:, None]], axis=1).reshape(-1)  # (48,)
            results.append(
                {
                    "image": image_path.name,
                    "category_id": 1,
                    "bbox": [float(v) for v in box],
                    "keypoints": [float(v) for v in keypoints],
                    "score": float(np.mean(sc)),
                }
            )
    return results


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
        kp = np.asarray(person["keypoints"], dtype=float).reshape(NUM_JOINTS, 3)
        for (a, b), side in zip(LIMBS, LIMB_SIDES):
            draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=colours.get(side, (255, 255, 255)), width=width)
        r = width + 1
        for px, py, _ in kp:
            draw.ellipse([px - r, py - r, px + r, py + r], fill=(255, 255, 255))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.stem}.{os.getpid()}.tmp{out_path.suffix}")
    image.save(tmp)
    os.replace(tmp, out_path)
    return out_path


#: The joint names of the ``keypoints`` triples, in order.
KEYPOINT_NAMES: tuple[str, ...] = tuple(JOINT_NAMES)
