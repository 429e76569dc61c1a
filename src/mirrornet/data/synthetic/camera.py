"""The camera of a synthetic image: a weak-perspective view framed like an LSP crop.

Camera frame: x to the image's right, y up, z towards the camera (larger depth = nearer). Image
coordinates are 0-based pixel centres with y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mirrornet.data.synthetic.body import DEG, BodyShape, PosedBody, rotation_x, rotation_y, rotation_z
from mirrornet.skeleton import JOINT_INDEX, NUM_JOINTS

__all__ = [
    "Camera", "Projection", "POINT_TOE", "POINT_HEAD_CENTRE", "NUM_POINTS",
    "sample_camera_angles", "camera_rotation", "body_points", "frame_person", "place_camera",
]

# Projected points: the 16 joints (MPII order), then the tips of the feet and the head's centre.
POINT_TOE = {"r": NUM_JOINTS, "l": NUM_JOINTS + 1}
POINT_HEAD_CENTRE = NUM_JOINTS + 2
NUM_POINTS = NUM_JOINTS + 3


@dataclass(frozen=True)
class Camera:
    """A weak-perspective camera.

    Attributes:
        yaw: rotation about the vertical in degrees (0 = the person faces the camera).
        pitch: elevation in degrees (positive = seen from above).
        roll: in-plane rotation in degrees.
        rotation: (3, 3) body frame → camera frame.
        pixels_per_unit: image pixels per metre.
        origin: (2,) pixel position of the body frame's origin (the pelvis).
        cut: whether the framing lets part of the person leave the image.
    """

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray
    pixels_per_unit: float
    origin: np.ndarray
    cut: bool


@dataclass(frozen=True)
class Projection:
    """The body's points seen by a camera.

    Attributes:
        camera: the camera.
        pixels: (19, 2) image positions of the points (joints, toes, head centre; see
            `POINT_TOE`, `POINT_HEAD_CENTRE`).
        depth: (19,) camera-frame z of the points, larger = nearer the camera.
    """

    camera: Camera
    pixels: np.ndarray
    depth: np.ndarray

    @property
    def joints(self) -> np.ndarray:
        """(16, 2) image positions of the joints (a copy)."""
        return self.pixels[:NUM_JOINTS].copy()


def sample_camera_angles(rng: np.random.Generator, difficulty: float) -> tuple[float, float, float]:
    """Any yaw, a pitch of -10 … 30° (mostly from above), a roll that grows with `difficulty`.

    Args:
        rng: the sample's random generator.
        difficulty: scene difficulty in [0, 1].

    Returns:
        (yaw, pitch, roll) in degrees.
    """
    yaw = float(rng.uniform(0.0, 360.0))
    pitch = float(rng.uniform(-10.0, 30.0))
    roll = float(rng.normal(0.0, 6.0 + 6.0 * difficulty))
    return yaw, pitch, roll


def camera_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The body → camera rotation: yaw about the vertical, then pitch, then roll.

    Args:
        yaw: degrees about the body's y axis (0 = the person faces the camera).
        pitch: degrees about the camera's x axis (positive = seen from above).
        roll: degrees about the viewing axis.

    Returns:
        (3, 3) rotation matrix.
    """
    return rotation_z(roll * DEG) @ rotation_x(pitch * DEG) @ rotation_y(yaw * DEG)


def body_points(body: PosedBody, segments: dict[str, float]) -> np.ndarray:
    """The (19, 3) points a camera projects: the joints, the toes and the head's centre.

    Args:
        body: the posed body.
        segments: its segment lengths (the head's centre sits half a head above the neck).

    Returns:
        The points in the body frame, in the order of `POINT_TOE` and `POINT_HEAD_CENTRE`.
    """
    head_centre = body.joints[JOINT_INDEX["upper_neck"]] + body.head @ np.array([0.0, 0.5, 0.1]) * segments["head"]
    extra = np.stack([body.toes["r"], body.toes["l"], head_centre])
    return np.concatenate([body.joints, extra])


def frame_person(rng: np.random.Generator, xy: np.ndarray, height: float, image_size: int,
                 difficulty: float) -> tuple[float, np.ndarray, bool]:
    """Scale and place the person: 75–95 % of the frame, now and then enlarged and cut off.

    Args:
        rng: the sample's random generator.
        xy: (N, 2) points in image axes (x right, y down), in metres.
        height: body height, which sets the margin around the points.
        image_size: side of the square image in pixels.
        difficulty: scene difficulty; cut-off people are more frequent when it is high.

    Returns:
        (pixels per metre, (2,) pixel position of the body origin, whether the person is cut).
    """
    margin = 0.06 * height
    low = xy.min(axis=0) - margin
    high = xy.max(axis=0) + margin
    extent = float(np.max(high - low))
    cut = rng.random() < 0.05 + 0.15 * difficulty
    fill = rng.uniform(1.0, 1.25) if cut else rng.uniform(0.75, 0.95)
    pixels_per_unit = fill * image_size / extent
    size_px = (high - low) * pixels_per_unit
    slack = image_size - size_px
    if cut:
        offset = rng.uniform(-0.25, 0.25, size=2) * size_px + slack / 2.0
    else:  # anywhere inside the frame; centred on the axis where the person does not fit
        offset = rng.uniform(0.0, 1.0, size=2) * np.maximum(slack, 0.0) + np.minimum(slack, 0.0) / 2.0
    origin = offset - low * pixels_per_unit
    return pixels_per_unit, origin, cut


def place_camera(rng: np.random.Generator, body: PosedBody, shape: BodyShape, image_size: int,
                 difficulty: float) -> Projection:
    """Draw a camera for the posed body and project its points into the image.

    Args:
        rng: the sample's random generator.
        body: the posed body.
        shape: its proportions.
        image_size: side of the square image in pixels.
        difficulty: scene difficulty in [0, 1].

    Returns:
        The camera and the projected points.
    """
    yaw, pitch, roll = sample_camera_angles(rng, difficulty)
    rotation = camera_rotation(yaw, pitch, roll)
    in_camera = body_points(body, shape.segments) @ rotation.T  # (19, 3)
    xy = np.stack([in_camera[:, 0], -in_camera[:, 1]], axis=1)  # image axes, metres
    pixels_per_unit, origin, cut = frame_person(rng, xy, shape.height, image_size, difficulty)
    camera = Camera(yaw, pitch, roll, rotation, pixels_per_unit, origin, cut)
    return Projection(camera, xy * pixels_per_unit + origin, in_camera[:, 2])
