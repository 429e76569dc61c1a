"""The body of a synthetic person: its proportions, and the 3-D skeleton posed by the angles.

Body frame: x = the person's left, y = up, z = the direction the pelvis faces; origin = pelvis.
Lengths are in metres (a body height drawn around 1.7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mirrornet.skeleton import JOINT_INDEX, NUM_JOINTS

__all__ = [
    "SEGMENT_PROPORTIONS", "BodyShape", "PosedBody", "sample_body_shape", "pose_body",
    "rotation_x", "rotation_y", "rotation_z", "DEG",
]

# Segment lengths as fractions of the body height (anthropometric tables, Drillis & Contini).
SEGMENT_PROPORTIONS: dict[str, float] = {
    "hip_half": 0.055,       # pelvis to each hip joint
    "shoulder_half": 0.105,  # thorax to each shoulder joint
    "spine": 0.28,           # pelvis to thorax
    "neck": 0.07,            # thorax to upper neck
    "head": 0.125,           # upper neck to head top
    "thigh": 0.245,
    "shank": 0.246,
    "foot": 0.12,            # ankle to toe
    "upper_arm": 0.186,
    "forearm": 0.146,
}
# Each segment is scaled by a factor in this range per person (left and right alike).
SEGMENT_VARIATION = (0.9, 1.1)

DEG = math.pi / 180.0


def rotation_x(angle: float) -> np.ndarray:
    """The 3×3 rotation by `angle` radians about the x axis."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(angle: float) -> np.ndarray:
    """The 3×3 rotation by `angle` radians about the y axis."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle: float) -> np.ndarray:
    """The 3×3 rotation by `angle` radians about the z axis."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class BodyShape:
    """A person's proportions.

    Attributes:
        height: body height in metres.
        segments: segment lengths in metres, keyed as `SEGMENT_PROPORTIONS`.
        build: limb thickness factor (0.85 … 1.2).
    """

    height: float
    segments: dict[str, float]
    build: float


@dataclass(frozen=True)
class PosedBody:
    """A skeleton posed in 3-D (body frame, see the module docstring).

    Attributes:
        joints: (16, 3) joints in MPII order.
        root: (3, 3) orientation of the pelvis (whole-body tilt and roll).
        torso: (3, 3) orientation of the trunk.
        head: (3, 3) orientation of the head.
        toes: ``{"r": (3,), "l": (3,)}`` the tips of the feet.
        knee_axes: (2, 3) right and left thigh x axes, about which the knees fold.
        elbow_axes: (2, 3) right and left upper-arm x axes, about which the elbows fold.
    """

    joints: np.ndarray
    root: np.ndarray
    torso: np.ndarray
    head: np.ndarray
    toes: dict[str, np.ndarray]
    knee_axes: np.ndarray
    elbow_axes: np.ndarray


def sample_body_shape(rng: np.random.Generator) -> BodyShape:
    """Draw a height around 1.7 m, per-segment variation and a build.

    Args:
        rng: the sample's random generator.

    Returns:
        The proportions; left and right limbs share their lengths.
    """
    height = float(rng.normal(1.7, 0.08))
    variation = rng.uniform(*SEGMENT_VARIATION, size=len(SEGMENT_PROPORTIONS))
    segments = {name: height * fraction * factor
                for (name, fraction), factor in zip(SEGMENT_PROPORTIONS.items(), variation)}
    build = float(rng.uniform(0.85, 1.2))  # limb thickness
    return BodyShape(height, segments, build)


def pose_body(angles: dict[str, float], segments: dict[str, float]) -> PosedBody:
    """Forward kinematics: the 3-D joints and the frames the renderer needs.

    Each limb hangs along -y at rest; flexion is a rotation about the limb's own x axis
    (Rx(-flex) forward for hips, shoulders and elbows, Rx(+flex) backward for knees). The pelvis
    is the midpoint of the hips and the thorax the midpoint of the shoulders, exactly.

    Args:
        angles: joint angles in degrees (`mirrornet.data.synthetic.pose`).
        segments: segment lengths (`BodyShape.segments`).

    Returns:
        The posed body.
    """
    root = rotation_x(angles["body_tilt"] * DEG) @ rotation_z(angles["body_roll"] * DEG)
    torso = (root @ rotation_x(angles["torso_lean"] * DEG) @ rotation_z(angles["torso_side"] * DEG)
             @ rotation_y(angles["torso_twist"] * DEG))
    joints = np.zeros((NUM_JOINTS, 3))
    thorax = torso @ np.array([0.0, segments["spine"], 0.0])
    head = torso @ rotation_x(angles["head_pitch"] * DEG) @ rotation_y(angles["head_yaw"] * DEG)
    # The neck follows a third of the head's pitch.
    upper_neck = thorax + torso @ rotation_x(0.3 * angles["head_pitch"] * DEG) @ np.array([0.0, segments["neck"], 0.0])
    joints[JOINT_INDEX["pelvis"]] = np.zeros(3)
    joints[JOINT_INDEX["thorax"]] = thorax
    joints[JOINT_INDEX["upper_neck"]] = upper_neck
    joints[JOINT_INDEX["head_top"]] = upper_neck + head @ np.array([0.0, segments["head"], 0.0])
    toes = {}
    knee_axes = np.zeros((2, 3))
    elbow_axes = np.zeros((2, 3))
    for side_index, side in enumerate("rl"):
        toes[side], knee_axes[side_index] = _pose_leg(joints, side, angles, segments, root)
        elbow_axes[side_index] = _pose_arm(joints, side, angles, segments, torso, thorax)
    return PosedBody(joints, root, torso, head, toes, knee_axes, elbow_axes)


def _pose_leg(joints: np.ndarray, side: str, angles: dict[str, float], segments: dict[str, float],
              root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Write one leg's hip, knee and ankle into `joints`; return its toe and its knee axis."""
    sign = -1.0 if side == "r" else 1.0  # the right side lies at -x
    hip = root @ np.array([sign * segments["hip_half"], 0.0, 0.0])
    leg = (root @ rotation_z(sign * angles[f"{side}_hip_abd"] * DEG) @ rotation_x(-angles[f"{side}_hip_flex"] * DEG)
           @ rotation_y(sign * angles[f"{side}_hip_twist"] * DEG))
    knee = hip + leg @ np.array([0.0, -segments["thigh"], 0.0])
    shank = leg @ rotation_x(angles[f"{side}_knee_flex"] * DEG)
    ankle = knee + shank @ np.array([0.0, -segments["shank"], 0.0])
    toe = ankle + shank @ rotation_x(angles[f"{side}_ankle_flex"] * DEG) @ np.array([0.0, -0.02, segments["foot"]])
    joints[JOINT_INDEX[f"{side}_hip"]] = hip
    joints[JOINT_INDEX[f"{side}_knee"]] = knee
    joints[JOINT_INDEX[f"{side}_ankle"]] = ankle
    return toe, leg[:, 0]


def _pose_arm(joints: np.ndarray, side: str, angles: dict[str, float], segments: dict[str, float],
              torso: np.ndarray, thorax: np.ndarray) -> np.ndarray:
    """Write one arm's shoulder, elbow and wrist into `joints`; return its elbow axis."""
    sign = -1.0 if side == "r" else 1.0
    shoulder = thorax + torso @ np.array([sign * segments["shoulder_half"], 0.0, 0.0])
    arm = (torso @ rotation_z(sign * angles[f"{side}_shoulder_abd"] * DEG)
           @ rotation_x(-angles[f"{side}_shoulder_flex"] * DEG)
           @ rotation_y(sign * angles[f"{side}_shoulder_twist"] * DEG))
    elbow = shoulder + arm @ np.array([0.0, -segments["upper_arm"], 0.0])
    forearm = arm @ rotation_x(-angles[f"{side}_elbow_flex"] * DEG)
    wrist = elbow + forearm @ np.array([0.0, -segments["forearm"], 0.0])
    joints[JOINT_INDEX[f"{side}_shoulder"]] = shoulder
    joints[JOINT_INDEX[f"{side}_elbow"]] = elbow
    joints[JOINT_INDEX[f"{side}_wrist"]] = wrist
    return arm[:, 0]
