"""The pose of a synthetic person, as joint angles of one of eight pose families.

Angles are in degrees, keyed ``"<side>_<joint>"`` for the limbs (side ``r`` or ``l``) and by plain
names for the trunk, the head and the whole body (``body_tilt``, ``body_roll``). The order of the
keys is part of the random stream: `limit_angles` draws one noise value per key, in key order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["POSE_FAMILIES", "JOINT_LIMITS", "Pose", "sample_pose", "sample_family_angles", "limit_angles"]

POSE_FAMILIES: tuple[str, ...] = (
    "standing", "walking", "running", "jumping", "throwing", "kicking", "sitting", "bending",
)

# Anatomical ranges in degrees. Flexion moves the limb forward (hips, shoulders) or folds it
# (knees fold backwards, elbows forwards, never the other way). Abduction lifts the limb away from
# the midline, twist is the rotation about the limb's own axis (positive = external).
JOINT_LIMITS: dict[str, tuple[float, float]] = {
    "hip_flex": (-30.0, 125.0),
    "hip_abd": (-10.0, 45.0),
    "hip_twist": (-30.0, 30.0),
    "knee_flex": (0.0, 150.0),
    "ankle_flex": (-20.0, 45.0),
    "shoulder_flex": (-50.0, 180.0),
    "shoulder_abd": (-10.0, 170.0),
    "shoulder_twist": (-70.0, 90.0),
    "elbow_flex": (0.0, 150.0),
    "torso_lean": (-25.0, 90.0),
    "torso_side": (-25.0, 25.0),
    "torso_twist": (-40.0, 40.0),
    "head_pitch": (-45.0, 45.0),
    "head_yaw": (-60.0, 60.0),
}

# Gaussian noise (degrees) added to every joint angle of a family's pose.
ANGLE_NOISE_DEG = 5.0

Angles = dict[str, float]


@dataclass(frozen=True)
class Pose:
    """A sampled pose.

    Attributes:
        family: the pose family, one of `POSE_FAMILIES`.
        family_index: its index in `POSE_FAMILIES`.
        angles: joint angles in degrees, with noise, clipped to `JOINT_LIMITS`.
    """

    family: str
    family_index: int
    angles: Angles


def _relaxed_angles(rng: np.random.Generator) -> Angles:
    """A loose standing pose every family starts from (it also fixes the key order)."""
    uniform = rng.uniform
    angles: Angles = {}
    for side in "rl":
        angles[f"{side}_hip_flex"] = uniform(-5, 10)
        angles[f"{side}_hip_abd"] = uniform(0, 12)
        angles[f"{side}_hip_twist"] = uniform(-10, 20)
        angles[f"{side}_knee_flex"] = uniform(0, 15)
        angles[f"{side}_ankle_flex"] = uniform(-5, 10)
        angles[f"{side}_shoulder_flex"] = uniform(-15, 25)
        angles[f"{side}_shoulder_abd"] = uniform(5, 35)
        angles[f"{side}_shoulder_twist"] = uniform(-30, 30)
        angles[f"{side}_elbow_flex"] = uniform(0, 50)
    angles.update(torso_lean=uniform(-5, 10), torso_side=uniform(-5, 5), torso_twist=uniform(-10, 10),
                  head_pitch=uniform(-10, 15), head_yaw=uniform(-30, 30), body_tilt=0.0, body_roll=0.0)
    return angles


def _standing(angles: Angles, rng: np.random.Generator, lead: str, other: str) -> None:
    """Standing is the relaxed pose as it is."""


def _gait(angles: Angles, rng: np.random.Generator, lead: str, other: str, run: bool) -> None:
    """Walking or running: legs and arms swing in opposition at a random phase of the stride."""
    uniform = rng.uniform
    phase = uniform(0, 2 * math.pi)
    amp = uniform(35, 55) if run else uniform(15, 30)
    swing = math.sin(phase)
    angles[f"{lead}_hip_flex"] = amp * swing + (15 if run else 0)
    angles[f"{other}_hip_flex"] = -amp * swing + (15 if run else 0)
    angles[f"{lead}_knee_flex"] = (20 if run else 5) + (90 if run else 45) * max(0.0, math.sin(phase + 1.2))
    angles[f"{other}_knee_flex"] = (20 if run else 5) + (90 if run else 45) * max(0.0, -math.sin(phase + 1.2))
    angles[f"{lead}_shoulder_flex"] = -0.9 * amp * swing
    angles[f"{other}_shoulder_flex"] = 0.9 * amp * swing
    for side in "rl":
        angles[f"{side}_shoulder_abd"] = uniform(5, 20)
        angles[f"{side}_elbow_flex"] = uniform(70, 110) if run else uniform(5, 40)
    angles["torso_lean"] = uniform(8, 25) if run else uniform(-3, 8)
    angles["torso_twist"] = 0.3 * amp * swing
    if run:
        angles["body_tilt"] = uniform(0, 10)


def _walking(angles: Angles, rng: np.random.Generator, lead: str, other: str) -> None:
    _gait(angles, rng, lead, other, run=False)


def _running(angles: Angles, rng: np.random.Generator, lead: str, other: str) -> None:
    _gait(angles, rng, lead, other, run=True)


def _jumping(angles: Angles, rng: np.random.Generator, lead: str, other: str) -> None:
    """A tuck jump (knees up, arms up) or a star jump (limbs spread), the body tilted a little."""
    uniform = rng.uniform
    if rng.random() < 0.5:  # tuck jump, arms up
        for side in "rl":
            angles[f"{side}_hip_flex"] = uniform(40, 100)
            angles[f"{side}_knee_flex"] = uniform(60, 130)
            angles[f"{side}_shoulder_flex"] = uniform(110, 175)
            angles[f"{side}_shoulder_abd"] = uniform(0, 30)
            angles[f"{side}_elbow_flex"] = uniform(0, 40)
            angles[f"{side}_ankle_flex"] = uniform(10, 40)
    else:  # star jump
        for side in "rl":
            angles[f"{side}_hip_abd"] = uniform(20, 45)
            angles[f"{side}_knee_flex"] = uniform(0, 25)
            angles[f"{side}_shoulder_abd"] = uniform(100, 160)
            angles[f"{side}_shoulder_flex"] = uniform(-10, 20)
            angles[f"{side}_elbow_flex"] = uniform(0, 30)
            angles[f"{side}_ankle_flex"] = uniform(15, 40)
    angles["body_tilt"] = uniform(-10, 10)
    angles["body_roll"] = uniform(-8, 8)


def _throwing(angles: Angles, rng: np.random.Generator, lead: str, other: str) -> None:
    """The leading side's arm cocked back to throw, the trunk twisted towards it."""
    uniform = rng.uniform
    throw, free = lead, other
    angles[f"{throw}_shoulder_abd"] = uniform(70, 100)
    angles[f"{throw}_shoulder_flex"] = uniform(-40, 10)
    angles[f"{throw}_shoulder_twist"] = uniform(50, 90)
    angles[f"{throw}_elbow_flex"] = uniform(60, 120)
    angles[f"{free}_shoulder_flex"] = uniform(30, 100)
    angles[f"{free}_shoulder_abd"] = uniform(10, 50)
    angles[f"{free}_elbow_flex"] = uniform(0, 50)
    angles["torso_twist"] = uniform(15, 35) * (1 if throw == "r" else -1)
    angles["torso_lean"] = uniform(-10, 15)
    angles[f"{free}_hip_flex"] = uniform(15, 40)
    angles[f"{throw}_hip_flex"] = uniform(-25, -5)
    for side in "rl":
        angles[f"{side}_hip_abd"] = uniform(5, 20)
        angles[f"{side}_knee_flex"] = uniform(5, 40)


def _kicking(angles: Angles, rng: np.random.Generator, lead: str, other: str) -> None:
    """The leading leg kicks forward, the arms out for balance, the trunk leaning back."""
    uniform = rng.uniform
    kick, stand = lead, other
    angles[f"{kick}_hip_flex"] = uniform(50, 110)
    angles[f"{kick}_knee_flex"] = uniform(0, 50)
    angles[f"{kick}_hip_abd"] = uniform(0, 20)
    angles[f"{kick}_ankle_flex"] = uniform(10, 40)
    angles[f"{stand}_knee_flex"] = uniform(5, 30)
    angles[f"{stand}_hip_flex"] = uniform(-10, 10)
    for side in "rl":
        angles[f"{side}_shoulder_abd"] = uniform(30, 80)
        angles[f"{side}_shoulder_flex"] = uniform(-30, 40)
        angles[f"{side}_elbow_flex"] = uniform(10, 60)
    angles["torso_lean"] = uniform(-20, 5)


def _sitting(angles: Angles, rng: np.random.Generator, lead: str, other: str) -> None:
    """Hips and knees near a right angle, the forearms resting forward."""
    uniform = rng.uniform
    for side in "rl":
        angles[f"{side}_hip_flex"] = uniform(75, 105)
        angles[f"{side}_knee_flex"] = uniform(70, 110)
        angles[f"{side}_hip_abd"] = uniform(5, 25)
        angles[f"{side}_shoulder_flex"] = uniform(10, 50)
        angles[f"{side}_shoulder_abd"] = uniform(0, 20)
        angles[f"{side}_elbow_flex"] = uniform(30, 100)
    angles["torso_lean"] = uniform(-10, 20)


def _bending(angles: Angles, rng: np.random.Generator, lead: str, other: str) -> None:
    """The trunk bent far forward, the head raised against it, the arms hanging to the front."""
    uniform = rng.uniform
    angles["torso_lean"] = uniform(45, 88)
    angles["head_pitch"] = uniform(-45, -10)
    for side in "rl":
        angles[f"{side}_hip_flex"] = uniform(-5, 15)
        angles[f"{side}_knee_flex"] = uniform(0, 40)
        angles[f"{side}_shoulder_flex"] = uniform(40, 100)
        angles[f"{side}_shoulder_abd"] = uniform(0, 30)
        angles[f"{side}_elbow_flex"] = uniform(0, 40)


_FAMILY_POSERS: dict[str, Callable[[Angles, np.random.Generator, str, str], None]] = {
    "standing": _standing, "walking": _walking, "running": _running, "jumping": _jumping,
    "throwing": _throwing, "kicking": _kicking, "sitting": _sitting, "bending": _bending,
}


def sample_family_angles(family: str, rng: np.random.Generator) -> Angles:
    """Joint angles (degrees) of one pose family, before noise and limits.

    Args:
        family: one of `POSE_FAMILIES`.
        rng: the sample's random generator.

    Returns:
        The angles, keyed ``"<side>_<joint>"`` for the limbs and by plain names for the trunk.

    Raises:
        ValueError: `family` is not a pose family.
    """
    if family not in _FAMILY_POSERS:
        raise ValueError(f"unknown pose family {family!r}; choose from {POSE_FAMILIES}")
    angles = _relaxed_angles(rng)
    # Which side leads (the stride, the throwing arm, the kicking leg): drawn for every family,
    # so that all families consume the random stream alike up to here.
    lead, other = ("r", "l") if rng.random() < 0.5 else ("l", "r")
    _FAMILY_POSERS[family](angles, rng, lead, other)
    return angles


def limit_angles(angles: Angles, rng: np.random.Generator, noise_deg: float) -> Angles:
    """Add Gaussian noise to every joint angle and clip each into its anatomical range.

    The whole-body angles (``body_*``) get no noise; one noise value is drawn for them anyway so
    that the draws line up with the keys.

    Args:
        angles: angles from `sample_family_angles`.
        rng: the sample's random generator.
        noise_deg: standard deviation of the noise in degrees.

    Returns:
        A new dict with the same keys in the same order.
    """
    keys = list(angles)
    noise = rng.normal(0.0, noise_deg, size=len(keys))
    out: Angles = {}
    for key, delta in zip(keys, noise):
        base = key[2:] if key[:2] in ("r_", "l_") else key
        value = angles[key] + (0.0 if base.startswith("body_") else float(delta))
        if base in JOINT_LIMITS:
            low, high = JOINT_LIMITS[base]
            value = min(max(value, low), high)
        out[key] = value
    return out


def sample_pose(rng: np.random.Generator) -> Pose:
    """Draw a pose family uniformly and a pose of it, with noise, inside the joint limits.

    Args:
        rng: the sample's random generator.

    Returns:
        The pose.
    """
    family_index = int(rng.integers(len(POSE_FAMILIES)))
    family = POSE_FAMILIES[family_index]
    angles = limit_angles(sample_family_angles(family, rng), rng, noise_deg=ANGLE_NOISE_DEG)
    return Pose(family, family_index, angles)
