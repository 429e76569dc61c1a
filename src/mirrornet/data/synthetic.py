"""SyntheticPeople: procedural images of posed people, the embedded default dataset.

The paper trains and evaluates on LSP / LSP extended (Sec. 5.1.1), MPII (Sec. 5.1.2) and pretrains
the mask estimator ψ on UP-S1h silhouettes (Sec. 5.2). None of them can ship with the package, so
MirrorNet carries a generator of people that stands in for all three: every sample has an image,
the 16 joints in MPII order (`mirrornet.skeleton`), per-joint visibility and the person's
silhouette, and it can be written to disk in the real file formats (`export_synthetic`).

How a sample is made (all randomness from `SeedSequence(seed, spawn_key=(index,))`, so sample i of
seed S is the same whatever the order or the number of workers):

1. Body: a 3-D articulated skeleton with human proportions (segment lengths as fractions of the
   body height, each scaled by ±10 %, left and right equal), posed from one of eight families
   (standing, walking, running, jumping, throwing, kicking, sitting, bending) plus noise, every
   angle clipped to an anatomical range (`JOINT_LIMITS`): knees and elbows bend one way only.
   The pelvis is the midpoint of the hips and the thorax the midpoint of the shoulders, exactly,
   so the 14-joint LSP export loses nothing.
2. Camera: any yaw, moderate pitch, an in-plane roll; weak-perspective projection, framed so the
   person fills most of the square image (as LSP crops do), now and then partly cut off.
3. Appearance: depth-ordered tapered limbs (painter's algorithm) in per-person skin, shirt,
   trouser and shoe colours with simple textures; a head with hair, eyes and mouth drawn only on
   the side facing the camera, and a V-neck and a badge on the *left* chest drawn only when the
   chest faces the camera, so that left and right can be told apart from the image. Drawn at 2×
   and box-filtered down, which anti-aliases every edge.
4. Scene: gradient / textured backgrounds, a floor with lines, clutter that includes limb-like
   shapes in body colours, occluders in front of the person, lighting, blur and noise, all scaled
   by `difficulty` in [0, 1].

A joint is *visible* when it lies inside the image, its pixel is on the silhouette, and the
front-most surface there is a body part that meets at that joint (not an occluder and not another
limb in front of it); pelvis
and thorax need, besides, both hips / both shoulders visible (LSP derives them from those, so the
LSP reader's pelvis / thorax visibility can only be more generous). All 16 joints are labelled. The silhouette is the person's visible region (occluders cut it), as in UP-S1h.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from torch.utils.data import Dataset

from mirrornet.data.records import PoseRecord
from mirrornet.skeleton import JOINT_INDEX, NUM_JOINTS

__all__ = [
    "SyntheticPeople",
    "POSE_FAMILIES",
    "JOINT_LIMITS",
    "SEGMENT_PROPORTIONS",
    "PART_NAMES",
    "export_synthetic",
]

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

# Drawn body parts; label value in the part map is index + 1 (0 = scene, 255 = occluder).
PART_NAMES: tuple[str, ...] = (
    "torso", "neck", "head",
    "r_upper_arm", "r_forearm", "r_hand", "l_upper_arm", "l_forearm", "l_hand",
    "r_thigh", "r_shank", "r_foot", "l_thigh", "l_shank", "l_foot",
)
_PART = {name: i + 1 for i, name in enumerate(PART_NAMES)}
_OCCLUDER_LABEL = 255

# The parts that meet at each joint: a joint is visible if one of them is the front-most surface.
_JOINT_PARTS: dict[str, tuple[str, ...]] = {
    "r_ankle": ("r_shank", "r_foot"), "r_knee": ("r_thigh", "r_shank"), "r_hip": ("torso", "r_thigh"),
    "l_hip": ("torso", "l_thigh"), "l_knee": ("l_thigh", "l_shank"), "l_ankle": ("l_shank", "l_foot"),
    "pelvis": ("torso", "r_thigh", "l_thigh"), "thorax": ("torso", "neck", "r_upper_arm", "l_upper_arm"),
    "upper_neck": ("torso", "neck", "head"), "head_top": ("head",),
    "r_wrist": ("r_forearm", "r_hand"), "r_elbow": ("r_upper_arm", "r_forearm"),
    "r_shoulder": ("torso", "r_upper_arm"), "l_shoulder": ("torso", "l_upper_arm"),
    "l_elbow": ("l_upper_arm", "l_forearm"), "l_wrist": ("l_forearm", "l_hand"),
}
_INCIDENT = np.zeros((NUM_JOINTS, 256), dtype=bool)  # (16, label) -> joint visible through label
for _name, _parts in _JOINT_PARTS.items():
    for _p in _parts:
        _INCIDENT[JOINT_INDEX[_name], _PART[_p]] = True

# Part map -> person mask lookup (every part label is person, scene and occluders are not).
_PERSON_LUT = [0] + [255] * len(PART_NAMES) + [0] * (255 - len(PART_NAMES))

_SKIN_TONES = np.array(
    [(255, 224, 196), (241, 194, 125), (224, 172, 105), (198, 134, 66), (161, 102, 64), (110, 68, 40)],
    dtype=np.float64,
)
_HAIR_COLOURS = np.array(
    [(20, 16, 14), (60, 38, 24), (110, 72, 40), (200, 160, 90), (150, 60, 30), (170, 170, 170)],
    dtype=np.float64,
)

_DEG = math.pi / 180.0


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _hsv(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> np.ndarray:
    """A random colour with uniform hue and saturation / value drawn from the given ranges."""
    h, ss, vv = rng.random(3)
    r, g, b = colorsys.hsv_to_rgb(h, s[0] + ss * (s[1] - s[0]), v[0] + vv * (v[1] - v[0]))
    return np.array([r, g, b]) * 255.0


_NOISE_POOL_SIZE = 1 << 20
_noise_pool: np.ndarray | None = None


def _gaussian_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal pixel noise: a random window of a fixed pool of normals.

    Drawing 49k normals per 128 px image costs more than the rest of the pixel work together;
    a window at a random offset of a fixed pool (drawn once from a fixed seed) is as good for
    sensor noise and stays deterministic in (seed, index).
    """
    global _noise_pool
    n = int(np.prod(shape))
    if n > _NOISE_POOL_SIZE // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    if _noise_pool is None:
        _noise_pool = np.random.default_rng(20240607).standard_normal(_NOISE_POOL_SIZE, dtype=np.float32)
    start = int(rng.integers(_NOISE_POOL_SIZE - n))
    return _noise_pool[start:start + n].reshape(shape)


# --------------------------------------------------------------------------------------------
# Poses
# --------------------------------------------------------------------------------------------


def _sample_angles(family: str, rng: np.random.Generator) -> dict[str, float]:
    """Joint angles (degrees) of one pose family, before noise and limits.

    Keys are "<side>_<joint>" for the limbs (side "r" or "l") and plain names for the trunk.
    """
    u = rng.uniform
    a: dict[str, float] = {}
    for side in "rl":
        a[f"{side}_hip_flex"] = u(-5, 10)
        a[f"{side}_hip_abd"] = u(0, 12)
        a[f"{side}_hip_twist"] = u(-10, 20)
        a[f"{side}_knee_flex"] = u(0, 15)
        a[f"{side}_ankle_flex"] = u(-5, 10)
        a[f"{side}_shoulder_flex"] = u(-15, 25)
        a[f"{side}_shoulder_abd"] = u(5, 35)
        a[f"{side}_shoulder_twist"] = u(-30, 30)
        a[f"{side}_elbow_flex"] = u(0, 50)
    a.update(torso_lean=u(-5, 10), torso_side=u(-5, 5), torso_twist=u(-10, 10),
             head_pitch=u(-10, 15), head_yaw=u(-30, 30), body_tilt=0.0, body_roll=0.0)
    first, second = ("r", "l") if rng.random() < 0.5 else ("l", "r")  # which side leads
    if family == "standing":
        pass
    elif family in ("walking", "running"):
        phase = u(0, 2 * math.pi)
        run = family == "running"
        amp = u(35, 55) if run else u(15, 30)
        sw = math.sin(phase)
        a[f"{first}_hip_flex"] = amp * sw + (15 if run else 0)
        a[f"{second}_hip_flex"] = -amp * sw + (15 if run else 0)
        a[f"{first}_knee_flex"] = (20 if run else 5) + (90 if run else 45) * max(0.0, math.sin(phase + 1.2))
        a[f"{second}_knee_flex"] = (20 if run else 5) + (90 if run else 45) * max(0.0, -math.sin(phase + 1.2))
        a[f"{first}_shoulder_flex"] = -0.9 * amp * sw
        a[f"{second}_shoulder_flex"] = 0.9 * amp * sw
        for side in "rl":
            a[f"{side}_shoulder_abd"] = u(5, 20)
            a[f"{side}_elbow_flex"] = u(70, 110) if run else u(5, 40)
        a["torso_lean"] = u(8, 25) if run else u(-3, 8)
        a["torso_twist"] = 0.3 * amp * sw
        if run:
            a["body_tilt"] = u(0, 10)
    elif family == "jumping":
        if rng.random() < 0.5:  # tuck jump, arms up
            for side in "rl":
                a[f"{side}_hip_flex"] = u(40, 100)
                a[f"{side}_knee_flex"] = u(60, 130)
                a[f"{side}_shoulder_flex"] = u(110, 175)
                a[f"{side}_shoulder_abd"] = u(0, 30)
                a[f"{side}_elbow_flex"] = u(0, 40)
                a[f"{side}_ankle_flex"] = u(10, 40)
        else:  # star jump
            for side in "rl":
                a[f"{side}_hip_abd"] = u(20, 45)
                a[f"{side}_knee_flex"] = u(0, 25)
                a[f"{side}_shoulder_abd"] = u(100, 160)
                a[f"{side}_shoulder_flex"] = u(-10, 20)
                a[f"{side}_elbow_flex"] = u(0, 30)
                a[f"{side}_ankle_flex"] = u(15, 40)
        a["body_tilt"] = u(-10, 10)
        a["body_roll"] = u(-8, 8)
    elif family == "throwing":
        t = first  # throwing arm
        o = second
        a[f"{t}_shoulder_abd"] = u(70, 100)
        a[f"{t}_shoulder_flex"] = u(-40, 10)
        a[f"{t}_shoulder_twist"] = u(50, 90)
        a[f"{t}_elbow_flex"] = u(60, 120)
        a[f"{o}_shoulder_flex"] = u(30, 100)
        a[f"{o}_shoulder_abd"] = u(10, 50)
        a[f"{o}_elbow_flex"] = u(0, 50)
        a["torso_twist"] = u(15, 35) * (1 if t == "r" else -1)
        a["torso_lean"] = u(-10, 15)
        a[f"{o}_hip_flex"] = u(15, 40)
        a[f"{t}_hip_flex"] = u(-25, -5)
        for side in "rl":
            a[f"{side}_hip_abd"] = u(5, 20)
            a[f"{side}_knee_flex"] = u(5, 40)
    elif family == "kicking":
        k, s = first, second
        a[f"{k}_hip_flex"] = u(50, 110)
        a[f"{k}_knee_flex"] = u(0, 50)
        a[f"{k}_hip_abd"] = u(0, 20)
        a[f"{k}_ankle_flex"] = u(10, 40)
        a[f"{s}_knee_flex"] = u(5, 30)
        a[f"{s}_hip_flex"] = u(-10, 10)
        for side in "rl":
            a[f"{side}_shoulder_abd"] = u(30, 80)
            a[f"{side}_shoulder_flex"] = u(-30, 40)
            a[f"{side}_elbow_flex"] = u(10, 60)
        a["torso_lean"] = u(-20, 5)
    elif family == "sitting":
        for side in "rl":
            a[f"{side}_hip_flex"] = u(75, 105)
            a[f"{side}_knee_flex"] = u(70, 110)
            a[f"{side}_hip_abd"] = u(5, 25)
            a[f"{side}_shoulder_flex"] = u(10, 50)
            a[f"{side}_shoulder_abd"] = u(0, 20)
            a[f"{side}_elbow_flex"] = u(30, 100)
        a["torso_lean"] = u(-10, 20)
    elif family == "bending":
        a["torso_lean"] = u(45, 88)
        a["head_pitch"] = u(-45, -10)
        for side in "rl":
            a[f"{side}_hip_flex"] = u(-5, 15)
            a[f"{side}_knee_flex"] = u(0, 40)
            a[f"{side}_shoulder_flex"] = u(40, 100)
            a[f"{side}_shoulder_abd"] = u(0, 30)
            a[f"{side}_elbow_flex"] = u(0, 40)
    else:  # pragma: no cover - families are a closed set
        raise ValueError(f"unknown pose family {family!r}; choose from {POSE_FAMILIES}")
    return a


def _limit_angles(angles: dict[str, float], rng: np.random.Generator, noise_deg: float) -> dict[str, float]:
    """Add Gaussian noise to every angle and clip each into its anatomical range."""
    keys = list(angles)
    noise = rng.normal(0.0, noise_deg, size=len(keys))
    out: dict[str, float] = {}
    for k, n in zip(keys, noise):
        base = k[2:] if k[:2] in ("r_", "l_") else k
        v = angles[k] + (0.0 if base.startswith("body_") else float(n))
        if base in JOINT_LIMITS:
            lo, hi = JOINT_LIMITS[base]
            v = min(max(v, lo), hi)
        out[k] = v
    return out


def _build_body(angles: dict[str, float], seg: dict[str, float]) -> dict[str, Any]:
    """Forward kinematics: 3-D joints (16, 3) and the extra points the renderer needs.

    Body frame: x = the person's left, y = up, z = the direction the pelvis faces; origin = pelvis.
    Each limb hangs along -y at rest; flexion is a rotation about the limb's own x axis
    (Rx(-flex) forward for hips, shoulders and elbows, Rx(+flex) backward for knees).
    """
    d = _DEG
    root = _rx(angles["body_tilt"] * d) @ _rz(angles["body_roll"] * d)
    torso = root @ _rx(angles["torso_lean"] * d) @ _rz(angles["torso_side"] * d) @ _ry(angles["torso_twist"] * d)
    j = np.zeros((NUM_JOINTS, 3))
    pelvis = np.zeros(3)
    thorax = torso @ np.array([0.0, seg["spine"], 0.0])
    head_r = torso @ _rx(angles["head_pitch"] * d) @ _ry(angles["head_yaw"] * d)
    upper_neck = thorax + torso @ _rx(0.3 * angles["head_pitch"] * d) @ np.array([0.0, seg["neck"], 0.0])
    head_top = upper_neck + head_r @ np.array([0.0, seg["head"], 0.0])
    j[JOINT_INDEX["pelvis"]] = pelvis
    j[JOINT_INDEX["thorax"]] = thorax
    j[JOINT_INDEX["upper_neck"]] = upper_neck
    j[JOINT_INDEX["head_top"]] = head_top
    toes = {}
    knee_axes = np.zeros((2, 3))
    elbow_axes = np.zeros((2, 3))
    for k, side in enumerate("rl"):
        sign = -1.0 if side == "r" else 1.0
        hip = root @ np.array([sign * seg["hip_half"], 0.0, 0.0])
        leg = (root @ _rz(sign * angles[f"{side}_hip_abd"] * d) @ _rx(-angles[f"{side}_hip_flex"] * d)
               @ _ry(sign * angles[f"{side}_hip_twist"] * d))
        knee = hip + leg @ np.array([0.0, -seg["thigh"], 0.0])
        shank = leg @ _rx(angles[f"{side}_knee_flex"] * d)
        ankle = knee + shank @ np.array([0.0, -seg["shank"], 0.0])
        toes[side] = ankle + shank @ _rx(angles[f"{side}_ankle_flex"] * d) @ np.array([0.0, -0.02, seg["foot"]])
        shoulder = thorax + torso @ np.array([sign * seg["shoulder_half"], 0.0, 0.0])
        arm = (torso @ _rz(sign * angles[f"{side}_shoulder_abd"] * d) @ _rx(-angles[f"{side}_shoulder_flex"] * d)
               @ _ry(sign * angles[f"{side}_shoulder_twist"] * d))
        elbow = shoulder + arm @ np.array([0.0, -seg["upper_arm"], 0.0])
        fore = arm @ _rx(-angles[f"{side}_elbow_flex"] * d)
        wrist = elbow + fore @ np.array([0.0, -seg["forearm"], 0.0])
        j[JOINT_INDEX[f"{side}_hip"]] = hip
        j[JOINT_INDEX[f"{side}_knee"]] = knee
        j[JOINT_INDEX[f"{side}_ankle"]] = ankle
        j[JOINT_INDEX[f"{side}_shoulder"]] = shoulder
        j[JOINT_INDEX[f"{side}_elbow"]] = elbow
        j[JOINT_INDEX[f"{side}_wrist"]] = wrist
        knee_axes[k] = leg[:, 0]
        elbow_axes[k] = arm[:, 0]
    return {"joints": j, "root": root, "torso": torso, "head": head_r, "toes": toes,
            "knee_axes": knee_axes, "elbow_axes": elbow_axes}


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


class _Part:
    """One body part for the painter's algorithm: drawing operations, a label and a depth."""

    __slots__ = ("label", "depth", "ops")

    def __init__(self, label: int, depth: float) -> None:
        self.label = label
        self.depth = depth
        self.ops: list[tuple[str, list[float], np.ndarray]] = []

    def limb(self, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, colour: np.ndarray,
             caps: bool = True) -> None:
        """A tapered segment p0 -> p1 with end radii r0, r1 (2× canvas pixels) and round caps."""
        d = p1 - p0
        n = math.hypot(d[0], d[1])
        if n > 1e-6:
            px, py = -d[1] / n, d[0] / n
            self.ops.append(("poly", [p0[0] + px * r0, p0[1] + py * r0, p1[0] + px * r1, p1[1] + py * r1,
                                      p1[0] - px * r1, p1[1] - py * r1, p0[0] - px * r0, p0[1] - py * r0], colour))
        if caps or n <= 1e-6:
            self.circle(p0, r0, colour)
            self.circle(p1, r1, colour)

    def circle(self, c: np.ndarray, r: float, colour: np.ndarray) -> None:
        self.ops.append(("ellipse", [c[0] - r, c[1] - r, c[0] + r, c[1] + r], colour))

    def poly(self, pts: np.ndarray, colour: np.ndarray) -> None:
        self.ops.append(("poly", pts.ravel().tolist(), colour))


def _sub_quad(p0: np.ndarray, p1: np.ndarray, perp: np.ndarray, h0: float, h1: float,
              t0: float, t1: float) -> np.ndarray:
    """The band t0..t1 (fractions of the way from p0 to p1) of a tapered quad, as (4, 2) points."""
    a = p0 + (p1 - p0) * t0
    b = p0 + (p1 - p0) * t1
    ha = h0 + (h1 - h0) * t0
    hb = h0 + (h1 - h0) * t1
    return np.array([a + perp * ha, b + perp * hb, b - perp * hb, a - perp * ha])


class SyntheticPeople(Dataset):
    """A map-style dataset of procedurally drawn people (see the module docstring).

    Item i is a dict of numpy arrays (torch's default collate turns them into tensors):
    ``image`` (S, S, 3) uint8 RGB, ``joints`` (16, 2) float64 0-based pixel coordinates in MPII
    order, ``visible`` (16,) float64, ``mask`` (S, S) bool silhouette, ``box`` (4,) float64
    x1, y1, x2, y2 of the whole drawn person (not clipped to the image), and with
    ``return_factors=True`` also ``factors``: a dict of the hidden variables (pose family, joint
    angles, 3-D joints, camera, colours, scene settings).

    Args:
        num: number of samples.
        image_size: side S of the square images in pixels (>= 16).
        seed: non-negative seed; sample i of seed S is always the same image.
        difficulty: 0 = plain background, no clutter, occluders, blur or noise; 1 = busy scenes,
            frequent occluders, blur, noise and cut-off people.
        return_factors: include the hidden factors in each item.
    """

    def __init__(self, num: int, image_size: int = 128, seed: int = 0, difficulty: float = 0.5,
                 return_factors: bool = False) -> None:
        if int(num) != num or num < 0:
            raise ValueError(f"SyntheticPeople: num must be a non-negative integer, got {num!r}")
        if int(image_size) != image_size or image_size < 16:
            raise ValueError(f"SyntheticPeople: image_size must be an integer >= 16, got {image_size!r}")
        if int(seed) != seed or seed < 0:
            raise ValueError(f"SyntheticPeople: seed must be a non-negative integer, got {seed!r}")
        if not (0.0 <= float(difficulty) <= 1.0):
            raise ValueError(f"SyntheticPeople: difficulty must lie in [0, 1], got {difficulty!r}")
        self.num = int(num)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.difficulty = float(difficulty)
        self.return_factors = bool(return_factors)

    def __len__(self) -> int:
        return self.num

    def _check_index(self, index: int) -> int:
        index = int(index)
        if index < 0:
            index += self.num
        if not 0 <= index < self.num:
            raise IndexError(f"SyntheticPeople index {index} out of range for {self.num} samples")
        return index

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Sample `index` as a dict (see the class docstring)."""
        sample = self._generate(self._check_index(index))
        if not self.return_factors:
            sample.pop("factors")
        return sample

    def record(self, index: int) -> PoseRecord:
        """Sample `index` as a PoseRecord (image and silhouette arrays inside).

        ``center`` is the centre of the person box and ``scale`` = max(box w, box h) / 200 (the
        crop side is 200·scale before the transform's padding); ``head_box`` is the box of the
        drawn head circle; every joint is labelled; ``extras`` holds ``box`` and ``factors``.
        """
        index = self._check_index(index)
        s = self._generate(index)
        box = s["box"]
        return PoseRecord(
            image=s["image"],
            joints=s["joints"],
            visible=s["visible"],
            center=np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0]),
            scale=max(box[2] - box[0], box[3] - box[1]) / 200.0,
            labelled=np.ones(NUM_JOINTS),
            silhouette=s["mask"],
            head_box=s["factors"]["head_box"],
            image_id=f"synthetic_s{self.seed}_{index:06d}",
            index=index,
            extras={"box": box, "factors": s["factors"]},
        )

    def records(self) -> "SyntheticRecords":
        """A lazy Sequence of PoseRecords: each record is generated when it is indexed."""
        return SyntheticRecords(self)

    # ----------------------------------------------------------------------------------------

    def _generate(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(index,)))
        S = self.image_size
        diff = self.difficulty

        # --- body -------------------------------------------------------------------------
        family_index = int(rng.integers(len(POSE_FAMILIES)))
        family = POSE_FAMILIES[family_index]
        angles = _limit_angles(_sample_angles(family, rng), rng, noise_deg=5.0)
        height = float(rng.normal(1.7, 0.08))
        variation = rng.uniform(0.9, 1.1, size=len(SEGMENT_PROPORTIONS))
        seg = {k: height * p * v for (k, p), v in zip(SEGMENT_PROPORTIONS.items(), variation)}
        build = float(rng.uniform(0.85, 1.2))  # limb thickness
        body = _build_body(angles, seg)
        j3 = body["joints"]  # (16, 3)

        # --- camera -----------------------------------------------------------------------
        yaw = float(rng.uniform(0.0, 360.0))
        pitch = float(rng.uniform(-10.0, 30.0))
        roll = float(rng.normal(0.0, 6.0 + 6.0 * diff))
        cam = _rz(roll * _DEG) @ _rx(pitch * _DEG) @ _ry(yaw * _DEG)
        head_c3 = j3[JOINT_INDEX["upper_neck"]] + body["head"] @ np.array([0.0, 0.5, 0.1]) * seg["head"]
        extra3 = np.stack([body["toes"]["r"], body["toes"]["l"], head_c3])
        pts_cam = np.concatenate([j3, extra3]) @ cam.T  # (19, 3)
        xy = np.stack([pts_cam[:, 0], -pts_cam[:, 1]], axis=1)  # image axes, body units
        depth = pts_cam[:, 2]  # larger = nearer the camera

        # --- framing: the person fills most of the frame, now and then cut off -------------
        margin = 0.06 * height
        lo = xy.min(axis=0) - margin
        hi = xy.max(axis=0) + margin
        extent = float(np.max(hi - lo))
        cut = rng.random() < 0.05 + 0.15 * diff
        fill = rng.uniform(1.0, 1.25) if cut else rng.uniform(0.75, 0.95)
        f = fill * S / extent  # pixels per body unit
        size_px = (hi - lo) * f
        slack = S - size_px
        if cut:
            offset = rng.uniform(-0.25, 0.25, size=2) * size_px + slack / 2.0
        else:
            offset = rng.uniform(0.0, 1.0, size=2) * np.maximum(slack, 0.0) + np.minimum(slack, 0.0) / 2.0
        origin = offset - lo * f  # pixel position of the body-unit origin
        uv = xy * f + origin  # (19, 2) 0-based pixel coordinates
        joints = uv[:NUM_JOINTS].copy()

        # --- appearance -------------------------------------------------------------------
        skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.92, 1.05)
        hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
        shirt = _hsv(rng, (0.2, 0.95), (0.25, 0.95))
        shirt2 = _hsv(rng, (0.0, 0.9), (0.15, 1.0))
        trousers = _hsv(rng, (0.1, 0.8), (0.12, 0.8))
        shoes = _hsv(rng, (0.0, 0.6), (0.1, 0.95))
        badge = 255.0 - shirt if rng.random() < 0.5 else _hsv(rng, (0.6, 1.0), (0.7, 1.0))
        shirt_pattern = int(rng.integers(4))  # plain, horizontal stripes, vertical band, two-tone
        long_sleeves = bool(rng.random() < 0.4)
        long_trousers = bool(rng.random() < 0.55)
        n_stripes = int(rng.integers(2, 5))

        # --- scene ------------------------------------------------------------------------
        canvas, scene_factors = self._background(rng, S)
        draw = ImageDraw.Draw(canvas)
        labels = Image.new("L", canvas.size, 0)
        ldraw = ImageDraw.Draw(labels)
        n_clutter = self._clutter(rng, draw, S, diff, (skin, shirt, trousers, shirt2))

        # --- the person, far to near --------------------------------------------------------
        k2 = 2.0 * f  # 2× canvas pixels per body unit
        P = uv * 2.0 + 0.5  # 2× canvas coordinates of every point (pixel centres)
        J = JOINT_INDEX
        w = build * height * k2  # radius unit: fraction of the height in 2× pixels
        parts: list[_Part] = []

        depth_list = depth.tolist()

        def part(name: str, *idx: int) -> _Part:
            p = _Part(_PART[name], sum(depth_list[i] for i in idx) / len(idx))
            parts.append(p)
            return p

        for side in "rl":
            sleeve = shirt2 if shirt_pattern == 3 else shirt
            hip, knee, ankle = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
            toe = NUM_JOINTS + (0 if side == "r" else 1)
            part(f"{side}_thigh", hip, knee).limb(P[hip], P[knee], 0.05 * w, 0.034 * w, trousers)
            part(f"{side}_shank", knee, ankle).limb(
                P[knee], P[ankle], 0.034 * w, 0.022 * w, trousers if long_trousers else skin)
            part(f"{side}_foot", ankle, toe).limb(P[ankle], P[toe], 0.026 * w, 0.018 * w, shoes)
            sh, el, wr = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
            part(f"{side}_upper_arm", sh, el).limb(P[sh], P[el], 0.034 * w, 0.025 * w, sleeve)
            part(f"{side}_forearm", el, wr).limb(
                P[el], P[wr], 0.025 * w, 0.018 * w, sleeve if long_sleeves else skin)
            d_hand = P[wr] - P[el]
            n_hand = math.hypot(d_hand[0], d_hand[1])
            hand_c = P[wr] + (d_hand / n_hand * 0.018 * w if n_hand > 1e-6 else 0.0)
            part(f"{side}_hand", wr).circle(hand_c, 0.028 * w, skin)

        # Torso: a tapered quad whose apparent width follows its 3-D width and depth.
        pel, tho = J["pelvis"], J["thorax"]
        p0, p1 = P[pel], P[tho]
        spine = p1 - p0
        ns = math.hypot(spine[0], spine[1])
        perp = np.array([-spine[1] / ns, spine[0] / ns]) if ns > 1e-6 else np.array([1.0, 0.0])

        def apparent(frame: np.ndarray, half_w: float, half_d: float) -> float:
            ex = cam @ frame[:, 0]
            ez = cam @ frame[:, 2]
            a = ex[0] * perp[0] - ex[1] * perp[1]
            b = ez[0] * perp[0] - ez[1] * perp[1]
            return math.hypot(half_w * a, half_d * b) * k2

        h_hip = apparent(body["root"], seg["hip_half"] + 0.045 * height * build, 0.075 * height * build)
        h_sho = apparent(body["torso"], seg["shoulder_half"] + 0.02 * height * build, 0.065 * height * build)
        torso = part("torso", pel, tho)
        torso.poly(_sub_quad(p0, p1, perp, h_hip, h_sho, 0.0, 1.0), shirt)
        torso.circle(P[J["r_shoulder"]], 0.036 * w, shirt)
        torso.circle(P[J["l_shoulder"]], 0.036 * w, shirt)
        if shirt_pattern == 1:
            for t in np.linspace(0.3, 0.85, n_stripes):
                torso.poly(_sub_quad(p0, p1, perp, h_hip, h_sho, t, t + 0.06), shirt2)
        elif shirt_pattern == 2:
            torso.poly(_sub_quad(p0, p1, perp, 0.25 * h_hip, 0.25 * h_sho, 0.0, 1.0), shirt2)
        torso.poly(_sub_quad(p0, p1, perp, h_hip, h_sho, 0.0, 0.28), trousers)  # waistband
        to_cam = cam[2]  # camera-frame z of a body-frame vector v is to_cam @ v
        chest_front = float(to_cam @ body["torso"][:, 2])
        if chest_front > 0.05:
            # Marks on the front only: a V-neck and a badge on the LEFT chest (the person's left).
            T3 = j3[tho]
            R = body["torso"]
            hd = 0.065 * height * build

            def proj(v3: np.ndarray) -> np.ndarray:
                c = cam @ v3
                return np.array([c[0], -c[1]]) * k2 + origin * 2.0 + 0.5

            sh = seg["shoulder_half"]
            vneck = np.stack([proj(T3 + R @ np.array([x, y, hd])) for x, y in
                              ((-0.35 * sh, 0.0), (0.0, -0.28 * seg["spine"]), (0.35 * sh, 0.0))])
            torso.poly(vneck, skin)
            bx, by, bw, bh = 0.55 * sh, -0.35 * seg["spine"], 0.28 * sh, 0.12 * seg["spine"]
            badge_pts = np.stack([proj(T3 + R @ np.array([x, y, hd])) for x, y in
                                  ((bx - bw, by - bh), (bx + bw, by - bh), (bx + bw, by + bh), (bx - bw, by + bh))])
            torso.poly(badge_pts, badge)

        neck = part("neck", tho, J["upper_neck"])
        neck.limb(P[tho], P[J["upper_neck"]], 0.026 * w, 0.024 * w, skin)

        # Head: skin disc, hair on the top and back, eyes and mouth on the side facing the camera.
        head = _Part(_PART["head"], float(depth[NUM_JOINTS + 2]) + 1e-3)
        parts.append(head)
        hc = P[NUM_JOINTS + 2]
        r_head = 0.55 * seg["head"] * k2
        Rh = body["head"]

        def head_point(v: tuple[float, float, float]) -> tuple[np.ndarray, float]:
            v3 = Rh @ np.array(v)
            c = cam @ v3
            return hc + np.array([c[0], -c[1]]) * r_head, float(c[2])

        hair_c, _ = head_point((0.0, 0.22, -0.25))
        face_c, face_z = head_point((0.0, -0.05, 0.15))
        if face_z > -0.05:
            head.circle(hair_c, r_head * 1.0, hair)
            head.circle(face_c, r_head * 0.86, skin)
            for ex in (-0.38, 0.38):
                eye, ez = head_point((ex, 0.1, 0.92))
                if ez > 0.15:
                    head.circle(eye, 0.13 * r_head, np.array([30.0, 30.0, 40.0]))
            mouth, mz = head_point((0.0, -0.42, 0.9))
            if mz > 0.15:
                head.circle(mouth, 0.12 * r_head, np.array([170.0, 40.0, 50.0]))
        else:
            head.circle(face_c, r_head * 0.86, skin)
            head.circle(hair_c, r_head * 1.0, hair)

        # Painter's algorithm; further parts a little darker (depth shading).
        parts.sort(key=lambda p: p.depth)
        dmin, dmax = depth.min(), depth.max()
        span = max(dmax - dmin, 1e-6)
        xs: list[float] = []
        ys: list[float] = []
        for p in parts:
            shade = 0.78 + 0.22 * (p.depth - dmin) / span
            for kind, coords, colour in p.ops:
                c = tuple(min(255, max(0, int(v * shade))) for v in colour.tolist())
                if kind == "poly":
                    draw.polygon(coords, fill=c)
                    ldraw.polygon(coords, fill=p.label)
                else:
                    draw.ellipse(coords, fill=c)
                    ldraw.ellipse(coords, fill=p.label)
                xs.extend(coords[0::2])
                ys.extend(coords[1::2])
        # Person box in 1x pixels (the inverse of P = 2 uv + 0.5), not clipped to the image.
        box = (np.array([min(xs), min(ys), max(xs), max(ys)]) - 0.5) / 2.0

        # --- occluders in front of the person -----------------------------------------------
        occluders: list[dict[str, Any]] = []
        if rng.random() < 0.7 * diff:
            for _ in range(1 + int(rng.random() < 0.3)):
                occluders.append(self._occluder(rng, draw, ldraw, P[int(rng.integers(NUM_JOINTS))], S))

        # --- visibility from the part map -----------------------------------------------------
        lab = np.asarray(labels)
        inside = (joints[:, 0] >= -0.5) & (joints[:, 0] < S - 0.5) & (joints[:, 1] >= -0.5) & (joints[:, 1] < S - 0.5)
        px = np.clip(np.floor(P[:NUM_JOINTS]).astype(int), 0, 2 * S - 1)
        front = lab[px[:, 1], px[:, 0]]
        visible = inside & _INCIDENT[np.arange(NUM_JOINTS), front]

        # --- down to 1×, silhouette, post effects --------------------------------------------
        image = canvas.reduce(2)  # 2x2 box filter: the anti-aliasing
        mask = np.asarray(labels.point(_PERSON_LUT).reduce(2)) >= 128
        # At a silhouette's edge the 2x pixel and the 1x pixel may disagree; a visible joint must
        # also lie on the 1x silhouette, so that the mask always covers the visible joints.
        pix = np.clip(np.round(joints).astype(int), 0, S - 1)
        visible &= mask[pix[:, 1], pix[:, 0]]
        # Pelvis and thorax also need both of their parents visible, as the LSP reader derives them.
        visible[J["pelvis"]] &= visible[J["r_hip"]] & visible[J["l_hip"]]
        visible[J["thorax"]] &= visible[J["r_shoulder"]] & visible[J["l_shoulder"]]
        blur = 0.0
        if rng.random() < 0.5 * diff:
            blur = float(rng.uniform(0.3, 0.4 + 0.8 * diff)) * S / 128.0
            image = image.filter(ImageFilter.GaussianBlur(blur))
        # Lighting and noise in 8-bit PIL operations: a float pipeline over the pixels would cost
        # as much as drawing the whole person.
        cast = 1.0 + rng.uniform(-0.12, 0.12, size=3) * (0.3 + diff)  # colour cast
        brightness = float(rng.uniform(1.0 - 0.35 * diff, 1.0))
        gain = cast / cast.max() * brightness  # <= 1: a multiply by a constant colour
        image = ImageChops.multiply(image, Image.new("RGB", (S, S), tuple(int(round(255 * g)) for g in gain)))
        theta = rng.uniform(0.0, 2 * math.pi)
        ramp = float(rng.uniform(0.0, 0.1 + 0.5 * diff))  # darkening across the image
        if ramp > 0.02:
            coord = np.linspace(0.0, 1.0, S)
            side = coord[None, :] * math.cos(theta) + coord[:, None] * math.sin(theta)  # (S, S)
            side = (side - side.min()) / max(side.max() - side.min(), 1e-9)
            shade_map = Image.fromarray(np.round(255.0 * (1.0 - ramp * side)).astype(np.uint8))
            image = ImageChops.multiply(image, Image.merge("RGB", (shade_map,) * 3))
        noise = 0.0
        if rng.random() < 0.3 + 0.6 * diff:
            noise = float(rng.uniform(0.0, 14.0 * diff))
            if noise > 0.5:
                grain = np.clip(_gaussian_noise(rng, (S, S, 3)) * noise + 128.5, 0, 255).astype(np.uint8)
                image = ImageChops.add(image, Image.fromarray(grain), 1.0, -128)
        image_u8 = np.array(image)  # a writable copy

        head_box = np.array([[(hc[0] - r_head - 0.5) / 2.0, (hc[1] - r_head - 0.5) / 2.0],
                             [(hc[0] + r_head - 0.5) / 2.0, (hc[1] + r_head - 0.5) / 2.0]])
        factors = {
            "family": family,
            "family_index": family_index,
            "angles": angles,
            "segments": seg,
            "height": height,
            "build": build,
            "joints_3d": j3,
            "knee_axes": body["knee_axes"],
            "elbow_axes": body["elbow_axes"],
            "camera": {"yaw": yaw, "pitch": pitch, "roll": roll},
            "pixels_per_unit": f,
            "cut": bool(cut),
            "head_box": head_box,
            "appearance": {"skin": skin, "hair": hair, "shirt": shirt, "shirt2": shirt2,
                           "trousers": trousers, "shoes": shoes, "shirt_pattern": shirt_pattern,
                           "long_sleeves": long_sleeves, "long_trousers": long_trousers},
            "scene": {**scene_factors, "clutter": n_clutter, "occluders": occluders, "blur": blur,
                      "noise": noise, "brightness": brightness, "light_ramp": ramp},
            "chest_faces_camera": chest_front > 0.05,
            "face_towards_camera": face_z > -0.05,
        }
        return {"image": image_u8, "joints": joints, "visible": visible.astype(np.float64), "mask": mask,
                "box": box, "factors": factors}

    # ----------------------------------------------------------------------------------------

    def _background(self, rng: np.random.Generator, S: int) -> tuple[Image.Image, dict[str, Any]]:
        """A random background at 1× upsampled to the 2× canvas: gradient, texture, floor."""
        diff = self.difficulty
        top = rng.uniform(40, 230, size=3)
        bottom = top * rng.uniform(0.6, 1.1) + rng.uniform(-40, 40, size=3) * (0.3 + diff)
        t = np.linspace(0.0, 1.0, S, dtype=np.float32)[:, None, None]  # (S, 1, 1)
        img = np.broadcast_to(top.astype(np.float32) + (bottom - top).astype(np.float32) * t, (S, S, 3))
        texture = int(rng.integers(4)) if rng.random() < 0.2 + 0.8 * diff else 0
        strength = float(rng.uniform(10, 25 + 40 * diff))
        if texture == 1:  # stripes at a random angle
            ang = rng.uniform(0, math.pi)
            period = rng.uniform(0.04, 0.25) * S
            c = np.arange(S, dtype=np.float32)
            phase = (c[None, :] * math.cos(ang) + c[:, None] * math.sin(ang)) * (2 * math.pi / period)
            img = img + (np.sin(phase) * strength)[:, :, None]
        elif texture == 2:  # blotches: a coarse random field smoothly upsampled
            coarse = rng.uniform(-1, 1, size=(int(rng.integers(3, 9)),) * 2 + (3,)).astype(np.float32)
            field = Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8)).resize((S, S), Image.Resampling.BILINEAR)
            img = img + (np.asarray(field, dtype=np.float32) - 127.5) * (strength / 127.5)
        elif texture == 3:  # checkerboard (tiles, wall)
            cell = max(2, int(rng.uniform(0.05, 0.2) * S))
            c = np.arange(S) // cell
            img = img + (((c[:, None] + c[None, :]) % 2) * strength - strength / 2)[:, :, None].astype(np.float32)
        canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize((2 * S, 2 * S), Image.Resampling.NEAREST)
        floor = bool(rng.random() < 0.6)
        if floor:
            draw = ImageDraw.Draw(canvas)
            horizon = rng.uniform(0.45, 0.85) * 2 * S
            floor_colour = tuple(int(v) for v in rng.uniform(40, 200, size=3))
            draw.rectangle([0, horizon, 2 * S, 2 * S], fill=floor_colour)
            line_colour = tuple(int(v) for v in np.clip(np.array(floor_colour) + rng.uniform(-60, 60), 0, 255))
            vx = rng.uniform(0, 2 * S)
            for x in np.linspace(-2 * S, 4 * S, int(rng.integers(2, 9))):
                draw.line([vx, horizon, x, 2 * S], fill=line_colour, width=max(1, S // 64))
        return canvas, {"texture": texture, "floor": floor}

    def _clutter(self, rng: np.random.Generator, draw: ImageDraw.ImageDraw, S: int, diff: float,
                 body_colours: tuple[np.ndarray, ...]) -> int:
        """Objects behind the person; about half are limb-like shapes in body colours."""
        n = int(rng.poisson(0.3 + 7.0 * diff))
        for _ in range(n):
            kind = rng.random()
            if rng.random() < 0.5:
                colour = body_colours[int(rng.integers(len(body_colours)))] * rng.uniform(0.8, 1.1)
            elif rng.random() < 0.5:
                colour = _SKIN_TONES[int(rng.integers(len(_SKIN_TONES)))]
            else:
                colour = _hsv(rng, (0.0, 1.0), (0.1, 1.0))
            fill = tuple(int(v) for v in np.clip(colour, 0, 255))
            c = rng.uniform(-0.1, 1.1, size=2) * 2 * S
            if kind < 0.55:  # limb-like: a tapered capsule
                ang = rng.uniform(0, 2 * math.pi)
                length = rng.uniform(0.1, 0.4) * 2 * S
                r0 = rng.uniform(0.015, 0.05) * 2 * S
                r1 = r0 * rng.uniform(0.6, 1.0)
                p1 = c + length * np.array([math.cos(ang), math.sin(ang)])
                tmp = _Part(0, 0.0)
                tmp.limb(c, p1, r0, r1, np.zeros(3))
                for k, coords, _ in tmp.ops:
                    (draw.polygon if k == "poly" else draw.ellipse)(coords, fill=fill)
            elif kind < 0.8:
                r = rng.uniform(0.03, 0.15, size=2) * 2 * S
                draw.ellipse([c[0] - r[0], c[1] - r[1], c[0] + r[0], c[1] + r[1]], fill=fill)
            else:
                r = rng.uniform(0.03, 0.2, size=2) * 2 * S
                draw.rectangle([c[0] - r[0], c[1] - r[1], c[0] + r[0], c[1] + r[1]], fill=fill)
        return n

    def _occluder(self, rng: np.random.Generator, draw: ImageDraw.ImageDraw, ldraw: ImageDraw.ImageDraw,
                  near: np.ndarray, S: int) -> dict[str, Any]:
        """An opaque object in front of the person near one joint (2× canvas point `near`).

        Returns its geometry in 1× pixels: a "board" (center, unit axes u and v, half sizes along
        them) or a "ball" (center, radius).
        """
        fill = tuple(int(v) for v in _hsv(rng, (0.0, 1.0), (0.1, 1.0)))
        c = near + rng.normal(0.0, 0.06 * 2 * S, size=2)
        if rng.random() < 0.6:  # a rotated board or pole
            ang = rng.uniform(0, math.pi)
            a = rng.uniform(0.06, 0.3) * 2 * S
            b = rng.uniform(0.03, 0.12) * 2 * S
            u = np.array([math.cos(ang), math.sin(ang)])
            v = np.array([-u[1], u[0]])
            pts = np.stack([c + a * u + b * v, c + a * u - b * v, c - a * u - b * v, c - a * u + b * v]).ravel().tolist()
            draw.polygon(pts, fill=fill)
            ldraw.polygon(pts, fill=_OCCLUDER_LABEL)
            return {"shape": "board", "center": (c - 0.5) / 2.0, "axes": np.stack([u, v]),
                    "half_sizes": np.array([a, b]) / 2.0}
        else:  # a ball
            r = rng.uniform(0.05, 0.14) * 2 * S
            bb = [c[0] - r, c[1] - r, c[0] + r, c[1] + r]
            draw.ellipse(bb, fill=fill)
            ldraw.ellipse(bb, fill=_OCCLUDER_LABEL)
            return {"shape": "ball", "center": (c - 0.5) / 2.0, "radius": r / 2.0}


class SyntheticRecords(Sequence):
    """A lazy Sequence[PoseRecord] over a SyntheticPeople dataset (records made on access)."""

    def __init__(self, people: SyntheticPeople) -> None:
        self.people = people

    def __len__(self) -> int:
        return len(self.people)

    @overload
    def __getitem__(self, index: int) -> PoseRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[PoseRecord]: ...

    def __getitem__(self, index: int | slice) -> PoseRecord | list[PoseRecord]:
        if isinstance(index, slice):
            return [self.people.record(i) for i in range(*index.indices(len(self)))]
        return self.people.record(index)

    def __iter__(self) -> Iterator[PoseRecord]:
        for i in range(len(self)):
            yield self.people.record(i)


from mirrornet.data.synthetic_export import export_synthetic  # noqa: E402  (re-export; imports lazily back)
