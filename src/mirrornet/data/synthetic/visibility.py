"""Joint visibility and the silhouette, read from the 2× part map.

A joint is *visible* when it lies inside the image, its pixel is on the silhouette, and the
front-most surface there is a body part that meets at that joint (not an occluder and not another
limb in front of it). Pelvis and thorax need, besides, both hips / both shoulders visible, as the
LSP reader derives them from those. The silhouette is the person's visible region: occluders cut
it, as in UP-S1h.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mirrornet.data.synthetic.parts import PART_LABEL, PART_NAMES
from mirrornet.skeleton import JOINT_INDEX, NUM_JOINTS

__all__ = ["JOINT_PARTS", "silhouette", "joint_visibility"]

# The parts that meet at each joint: a joint is visible if one of them is the front-most surface.
JOINT_PARTS: dict[str, tuple[str, ...]] = {
    "r_ankle": ("r_shank", "r_foot"), "r_knee": ("r_thigh", "r_shank"), "r_hip": ("torso", "r_thigh"),
    "l_hip": ("torso", "l_thigh"), "l_knee": ("l_thigh", "l_shank"), "l_ankle": ("l_shank", "l_foot"),
    "pelvis": ("torso", "r_thigh", "l_thigh"), "thorax": ("torso", "neck", "r_upper_arm", "l_upper_arm"),
    "upper_neck": ("torso", "neck", "head"), "head_top": ("head",),
    "r_wrist": ("r_forearm", "r_hand"), "r_elbow": ("r_upper_arm", "r_forearm"),
    "r_shoulder": ("torso", "r_upper_arm"), "l_shoulder": ("torso", "l_upper_arm"),
    "l_elbow": ("l_upper_arm", "l_forearm"), "l_wrist": ("l_forearm", "l_hand"),
}


def _incidence() -> np.ndarray:
    """(16, 256) lookup: [joint, label] is True when the joint is visible through that label."""
    table = np.zeros((NUM_JOINTS, 256), dtype=bool)
    for joint, parts in JOINT_PARTS.items():
        for part in parts:
            table[JOINT_INDEX[joint], PART_LABEL[part]] = True
    return table


_INCIDENT = _incidence()
# Part map -> person mask lookup (every part label is person, scene and occluders are not).
_PERSON_LUT = [0] + [255] * len(PART_NAMES) + [0] * (255 - len(PART_NAMES))


def silhouette(labels: Image.Image) -> np.ndarray:
    """The person's mask at image size from the 2× part map.

    Args:
        labels: the 2× part map.

    Returns:
        (S, S) bool, True where at least half of the 2×2 canvas pixels are a body part.
    """
    return np.asarray(labels.point(_PERSON_LUT).reduce(2)) >= 128


def joint_visibility(labels: Image.Image, canvas_joints: np.ndarray, joints: np.ndarray,
                     mask: np.ndarray) -> np.ndarray:
    """Which joints are visible (see the module docstring).

    Args:
        labels: the 2× part map.
        canvas_joints: (16, 2) joints in canvas coordinates (2 × pixels + 0.5).
        joints: (16, 2) joints in image pixels.
        mask: the silhouette (`silhouette(labels)`).

    Returns:
        (16,) bool.
    """
    size = mask.shape[0]
    part_map = np.asarray(labels)
    inside = ((joints[:, 0] >= -0.5) & (joints[:, 0] < size - 0.5)
              & (joints[:, 1] >= -0.5) & (joints[:, 1] < size - 0.5))
    canvas_pixel = np.clip(np.floor(canvas_joints).astype(int), 0, 2 * size - 1)
    front = part_map[canvas_pixel[:, 1], canvas_pixel[:, 0]]
    visible = inside & _INCIDENT[np.arange(NUM_JOINTS), front]
    # At a silhouette's edge the 2× pixel and the 1× pixel may disagree; a visible joint must
    # also lie on the 1× silhouette, so that the mask always covers the visible joints.
    pixel = np.clip(np.round(joints).astype(int), 0, size - 1)
    visible &= mask[pixel[:, 1], pixel[:, 0]]
    # Pelvis and thorax also need both of their parents visible, as the LSP reader derives them.
    visible[JOINT_INDEX["pelvis"]] &= visible[JOINT_INDEX["r_hip"]] & visible[JOINT_INDEX["l_hip"]]
    visible[JOINT_INDEX["thorax"]] &= visible[JOINT_INDEX["r_shoulder"]] & visible[JOINT_INDEX["l_shoulder"]]
    return visible
