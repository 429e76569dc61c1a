"""MirrorNet's keypoint results as COCO keypoint results (``mirrornet predict --format coco``).

COCO's person has 17 keypoints; MirrorNet predicts the 16 MPII joints. The 12 limb joints
(shoulders, elbows, wrists, hips, knees, ankles) map one to one; the face keypoints that
MirrorNet does not predict (nose, eyes, ears) are written as 0, 0 with score 0. MPII's pelvis,
thorax, upper neck and head top have no COCO keypoint and are left out. Each entry is
``{"image_id", "category_id": 1, "keypoints": [51 numbers], "score"}`` (plus ``bbox`` and the
joints flagged ``outside``), which pycocotools' ``COCO.loadRes`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mirrornet.skeleton import JOINT_INDEX, JOINT_NAMES

__all__ = ["COCO_KEYPOINT_NAMES", "COCO_FROM_MPII", "fallback_image_ids", "to_coco_results"]

#: COCO's 17 person keypoints, in order.
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

#: For each COCO keypoint, the MPII joint it is (None: not predicted, written as 0 with score 0).
COCO_FROM_MPII: tuple[int | None, ...] = (
    None, None, None, None, None,
    JOINT_INDEX["l_shoulder"], JOINT_INDEX["r_shoulder"], JOINT_INDEX["l_elbow"], JOINT_INDEX["r_elbow"],
    JOINT_INDEX["l_wrist"], JOINT_INDEX["r_wrist"], JOINT_INDEX["l_hip"], JOINT_INDEX["r_hip"],
    JOINT_INDEX["l_knee"], JOINT_INDEX["r_knee"], JOINT_INDEX["l_ankle"], JOINT_INDEX["r_ankle"],
)


def to_coco_results(entries: Iterable[Mapping[str, Any]], image_ids: Mapping[str, int | str]) -> list[dict[str, Any]]:
    """COCO keypoint results of MirrorNet's (see :mod:`mirrornet.predict`).

    Args:
        entries: MirrorNet's results, one per person.
        image_ids: image as given → COCO id, for entries that carry no ``image_id`` of their own
            (from a detection file); a video's frames get the frame index.

    Returns:
        One dict per person. A joint that is null in MirrorNet's results (non-finite) is written
        as 0, 0 with score 0; ``score`` null becomes 0.
    """
    out = []
    for e in entries:
        kp = e["keypoints"]
        flat: list[float] = []
        for j in COCO_FROM_MPII:
            x, y, s = (0.0, 0.0, 0.0) if j is None else kp[3 * j: 3 * j + 3]
            if x is None or y is None or s is None:
                x, y, s = 0.0, 0.0, 0.0
            flat.extend((float(x), float(y), float(s)))
        image_id = e.get("image_id")
        if image_id is None:
            image_id = e["frame"] if e.get("frame") is not None else image_ids[e["image"]]
        entry = {
            "image_id": image_id,
            "category_id": 1,
            "keypoints": flat,
            "score": float(e["score"]) if e.get("score") is not None else 0.0,
            "bbox": list(e["bbox"]),
        }
        outside = [COCO_KEYPOINT_NAMES[i] for i, j in enumerate(COCO_FROM_MPII)
                   if j is not None and JOINT_NAMES[j] in e.get("outside", ())]
        if outside:
            entry["outside"] = outside
        out.append(entry)
    return out


def fallback_image_ids(images: Iterable[str]) -> dict[str, int]:
    """COCO ids for images without one: the number in the file name where it is all digits
    (COCO's ``000000397133.jpg`` → 397133), else the image's place among the inputs, from 1."""
    ids: dict[str, int] = {}
    for i, image in enumerate(images, start=1):
        stem = Path(image).stem
        ids[image] = int(stem) if stem.isdigit() else i
    return ids
