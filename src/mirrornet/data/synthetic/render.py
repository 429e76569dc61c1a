"""Drawing a synthetic person far to near, on the 2× canvas and its part map.

Each part is a tapered quad with round caps, drawn far to near (painter's algorithm on the mean
camera depth of its end points) and darkened a little with depth. The head shows a face only on
the side facing the camera, and the chest a V-neck and a badge on the person's *left* only when it
faces the camera, so that left and right can be told apart from the image.

Canvas coordinates are 2 × image pixels + 0.5 (the 2× pixel centres of the image's points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mirrornet.data.synthetic.appearance import SHIRT_PATTERNS, Appearance
from mirrornet.data.synthetic.body import BodyShape, PosedBody
from mirrornet.data.synthetic.camera import POINT_HEAD_CENTRE, POINT_TOE, Camera, Projection
from mirrornet.data.synthetic.parts import PART_LABEL, Canvas, PartDrawing, quad_band
from mirrornet.skeleton import JOINT_INDEX

__all__ = ["PersonDrawing", "draw_person", "canvas_points", "person_parts", "paint_parts"]

_EYE_COLOUR = np.array([30.0, 30.0, 40.0])
_MOUTH_COLOUR = np.array([170.0, 40.0, 50.0])


@dataclass(frozen=True)
class PersonDrawing:
    """What drawing the person leaves besides the pixels.

    Attributes:
        box: (4,) x1, y1, x2, y2 of everything drawn, in image pixels, not clipped to the image.
        head_centre: (2,) centre of the head disc in canvas coordinates.
        head_radius: its radius in canvas pixels.
        chest_faces_camera: the V-neck and badge were drawn.
        face_towards_camera: eyes and mouth could be drawn (the face is on the camera's side).
    """

    box: np.ndarray
    head_centre: np.ndarray
    head_radius: float
    chest_faces_camera: bool
    face_towards_camera: bool

    @property
    def head_box(self) -> np.ndarray:
        """(2, 2) corners of the head disc's bounding box in image pixels, ``[[x1, y1], [x2, y2]]``."""
        centre, radius = self.head_centre, self.head_radius
        return np.array([[(centre[0] - radius - 0.5) / 2.0, (centre[1] - radius - 0.5) / 2.0],
                         [(centre[0] + radius - 0.5) / 2.0, (centre[1] + radius - 0.5) / 2.0]])


def canvas_points(projection: Projection) -> np.ndarray:
    """(19, 2) canvas coordinates of the projected points (pixel centres of the 2× canvas)."""
    return projection.pixels * 2.0 + 0.5


@dataclass(frozen=True)
class _Frame:
    """What every part needs: canvas points, depths, scales and the sizes of the person."""

    points: np.ndarray      # (19, 2) canvas coordinates
    depths: list[float]     # (19,) camera depths
    scale: float            # canvas pixels per metre
    width_unit: float       # build × height in canvas pixels: the unit of limb radii
    camera: Camera
    body: PosedBody
    shape: BodyShape
    parts: list[PartDrawing]  # in the order they are made (the painter's sort keeps it for ties)

    def part(self, name: str, *point_indices: int) -> PartDrawing:
        """A new part at the mean depth of the given points, appended to `parts`."""
        part = PartDrawing(PART_LABEL[name], sum(self.depths[i] for i in point_indices) / len(point_indices))
        self.parts.append(part)
        return part


def _limb_parts(frame: _Frame, look: Appearance) -> None:
    """Legs, feet, arms and hands of both sides."""
    points, unit = frame.points, frame.width_unit
    for side in "rl":
        hip, knee, ankle = (JOINT_INDEX[f"{side}_{name}"] for name in ("hip", "knee", "ankle"))
        toe = POINT_TOE[side]
        frame.part(f"{side}_thigh", hip, knee).limb(points[hip], points[knee], 0.05 * unit, 0.034 * unit,
                                                   look.trousers)
        frame.part(f"{side}_shank", knee, ankle).limb(
            points[knee], points[ankle], 0.034 * unit, 0.022 * unit, look.trousers if look.long_trousers else look.skin)
        frame.part(f"{side}_foot", ankle, toe).limb(points[ankle], points[toe], 0.026 * unit, 0.018 * unit,
                                                    look.shoes)
        shoulder, elbow, wrist = (JOINT_INDEX[f"{side}_{name}"] for name in ("shoulder", "elbow", "wrist"))
        frame.part(f"{side}_upper_arm", shoulder, elbow).limb(
            points[shoulder], points[elbow], 0.034 * unit, 0.025 * unit, look.sleeve)
        frame.part(f"{side}_forearm", elbow, wrist).limb(
            points[elbow], points[wrist], 0.025 * unit, 0.018 * unit, look.sleeve if look.long_sleeves else look.skin)
        # The hand sits a little beyond the wrist, along the forearm.
        forearm = points[wrist] - points[elbow]
        length = math.hypot(forearm[0], forearm[1])
        hand_centre = points[wrist] + (forearm / length * 0.018 * unit if length > 1e-6 else 0.0)
        frame.part(f"{side}_hand", wrist).circle(hand_centre, 0.028 * unit, look.skin)


def _torso_part(frame: _Frame, look: Appearance) -> bool:
    """The torso: a tapered quad whose apparent width follows its 3-D width and depth.

    Returns:
        Whether the chest faces the camera (and got its V-neck and badge).
    """
    pelvis, thorax = JOINT_INDEX["pelvis"], JOINT_INDEX["thorax"]
    p0, p1 = frame.points[pelvis], frame.points[thorax]
    spine = p1 - p0
    length = math.hypot(spine[0], spine[1])
    normal = np.array([-spine[1] / length, spine[0] / length]) if length > 1e-6 else np.array([1.0, 0.0])
    rotation = frame.camera.rotation

    def apparent(orientation: np.ndarray, half_width: float, half_depth: float) -> float:
        # Half the extent, across the spine on the image, of an ellipse of those half axes.
        axis_x = rotation @ orientation[:, 0]
        axis_z = rotation @ orientation[:, 2]
        across_x = axis_x[0] * normal[0] - axis_x[1] * normal[1]
        across_z = axis_z[0] * normal[0] - axis_z[1] * normal[1]
        return math.hypot(half_width * across_x, half_depth * across_z) * frame.scale

    height, build, segments = frame.shape.height, frame.shape.build, frame.shape.segments
    h_hip = apparent(frame.body.root, segments["hip_half"] + 0.045 * height * build, 0.075 * height * build)
    h_sho = apparent(frame.body.torso, segments["shoulder_half"] + 0.02 * height * build, 0.065 * height * build)
    torso = frame.part("torso", pelvis, thorax)
    torso.polygon(quad_band(p0, p1, normal, h_hip, h_sho, 0.0, 1.0), look.shirt)
    torso.circle(frame.points[JOINT_INDEX["r_shoulder"]], 0.036 * frame.width_unit, look.shirt)
    torso.circle(frame.points[JOINT_INDEX["l_shoulder"]], 0.036 * frame.width_unit, look.shirt)
    pattern = SHIRT_PATTERNS[look.shirt_pattern]
    if pattern == "stripes":
        for t in np.linspace(0.3, 0.85, look.num_stripes):
            torso.polygon(quad_band(p0, p1, normal, h_hip, h_sho, t, t + 0.06), look.shirt2)
    elif pattern == "band":  # a vertical band down the middle
        torso.polygon(quad_band(p0, p1, normal, 0.25 * h_hip, 0.25 * h_sho, 0.0, 1.0), look.shirt2)
    torso.polygon(quad_band(p0, p1, normal, h_hip, h_sho, 0.0, 0.28), look.trousers)  # waistband
    # The camera-frame z of a body-frame vector v is rotation[2] @ v.
    chest_faces_camera = float(rotation[2] @ frame.body.torso[:, 2]) > 0.05
    if chest_faces_camera:
        _chest_marks(frame, torso, look)
    return chest_faces_camera


def _chest_marks(frame: _Frame, torso: PartDrawing, look: Appearance) -> None:
    """A V-neck and a badge on the person's LEFT chest, on the front surface of the torso."""
    camera = frame.camera
    thorax = frame.body.joints[JOINT_INDEX["thorax"]]
    orientation = frame.body.torso
    front = 0.065 * frame.shape.height * frame.shape.build  # the chest's distance in front of the spine

    def project(point: np.ndarray) -> np.ndarray:
        in_camera = camera.rotation @ point
        return np.array([in_camera[0], -in_camera[1]]) * frame.scale + camera.origin * 2.0 + 0.5

    def on_chest(offsets: tuple[tuple[float, float], ...]) -> np.ndarray:
        return np.stack([project(thorax + orientation @ np.array([x, y, front])) for x, y in offsets])

    shoulder, spine = frame.shape.segments["shoulder_half"], frame.shape.segments["spine"]
    torso.polygon(on_chest(((-0.35 * shoulder, 0.0), (0.0, -0.28 * spine), (0.35 * shoulder, 0.0))), look.skin)
    # +x is the person's left.
    centre_x, centre_y, half_w, half_h = 0.55 * shoulder, -0.35 * spine, 0.28 * shoulder, 0.12 * spine
    corners = ((centre_x - half_w, centre_y - half_h), (centre_x + half_w, centre_y - half_h),
               (centre_x + half_w, centre_y + half_h), (centre_x - half_w, centre_y + half_h))
    torso.polygon(on_chest(corners), look.badge)


def _head_part(frame: _Frame, look: Appearance) -> tuple[np.ndarray, float, bool]:
    """The head: a skin disc, hair on its top and back, eyes and a mouth where they face the camera.

    Returns:
        (canvas centre, canvas radius, whether the face is on the camera's side).
    """
    # Just in front of the neck, which meets it at the same depth.
    head = PartDrawing(PART_LABEL["head"], float(frame.depths[POINT_HEAD_CENTRE]) + 1e-3)
    frame.parts.append(head)
    centre = frame.points[POINT_HEAD_CENTRE]
    radius = 0.55 * frame.shape.segments["head"] * frame.scale
    orientation, rotation = frame.body.head, frame.camera.rotation

    def head_point(offset: tuple[float, float, float]) -> tuple[np.ndarray, float]:
        # A point on the head sphere (unit radius, head frame): canvas position and camera depth.
        in_camera = rotation @ (orientation @ np.array(offset))
        return centre + np.array([in_camera[0], -in_camera[1]]) * radius, float(in_camera[2])

    hair_centre, _ = head_point((0.0, 0.22, -0.25))
    face_centre, face_depth = head_point((0.0, -0.05, 0.15))
    face_towards_camera = face_depth > -0.05
    if face_towards_camera:
        head.circle(hair_centre, radius * 1.0, look.hair)
        head.circle(face_centre, radius * 0.86, look.skin)
        for eye_x in (-0.38, 0.38):
            eye, eye_depth = head_point((eye_x, 0.1, 0.92))
            if eye_depth > 0.15:
                head.circle(eye, 0.13 * radius, _EYE_COLOUR)
        mouth, mouth_depth = head_point((0.0, -0.42, 0.9))
        if mouth_depth > 0.15:
            head.circle(mouth, 0.12 * radius, _MOUTH_COLOUR)
    else:  # seen from behind: the hair covers the face disc
        head.circle(face_centre, radius * 0.86, look.skin)
        head.circle(hair_centre, radius * 1.0, look.hair)
    return centre, radius, face_towards_camera


def person_parts(body: PosedBody, shape: BodyShape, projection: Projection,
                 look: Appearance) -> tuple[list[PartDrawing], PersonDrawing]:
    """The person's parts, unsorted, with everything about them but the box.

    Args:
        body: the posed body.
        shape: its proportions.
        projection: its points seen by the camera.
        look: its appearance.

    Returns:
        (the parts, a PersonDrawing whose box is still empty).
    """
    scale = 2.0 * projection.camera.pixels_per_unit  # canvas pixels per metre
    frame = _Frame(points=canvas_points(projection), depths=projection.depth.tolist(), scale=scale,
                   width_unit=shape.build * shape.height * scale, camera=projection.camera, body=body,
                   shape=shape, parts=[])
    _limb_parts(frame, look)
    chest_faces_camera = _torso_part(frame, look)
    thorax, upper_neck = JOINT_INDEX["thorax"], JOINT_INDEX["upper_neck"]
    frame.part("neck", thorax, upper_neck).limb(frame.points[thorax], frame.points[upper_neck],
                                                0.026 * frame.width_unit, 0.024 * frame.width_unit, look.skin)
    head_centre, head_radius, face_towards_camera = _head_part(frame, look)
    return frame.parts, PersonDrawing(np.zeros(4), head_centre, head_radius, chest_faces_camera, face_towards_camera)


def paint_parts(canvas: Canvas, parts: list[PartDrawing], depth: np.ndarray) -> np.ndarray:
    """Paint the parts far to near, the farther a little darker; return the box of all shapes.

    Args:
        canvas: the canvas to paint on (image and part map).
        parts: the parts; sorted here by depth (stable: ties keep their order).
        depth: depths of all projected points, which set the range of the shading.

    Returns:
        (4,) x1, y1, x2, y2 of the painted shapes in image pixels (not clipped to the image).
    """
    parts.sort(key=lambda part: part.depth)
    nearest, farthest = depth.max(), depth.min()
    span = max(nearest - farthest, 1e-6)
    xs: list[float] = []
    ys: list[float] = []
    for part in parts:
        shade = 0.78 + 0.22 * (part.depth - farthest) / span
        for kind, coords, colour in part.shapes:
            shaded = tuple(min(255, max(0, int(channel * shade))) for channel in colour.tolist())
            canvas.paint(kind, coords, shaded, part.label)
            xs.extend(coords[0::2])
            ys.extend(coords[1::2])
    # Back from canvas coordinates (2 uv + 0.5) to image pixels.
    return (np.array([min(xs), min(ys), max(xs), max(ys)]) - 0.5) / 2.0


def draw_person(canvas: Canvas, body: PosedBody, shape: BodyShape, projection: Projection,
                look: Appearance) -> PersonDrawing:
    """Draw the person on `canvas`, writing its part labels into the canvas's part map.

    Args:
        canvas: the 2× canvas (the scene behind the person is already on it).
        body: the posed body.
        shape: its proportions.
        projection: its points seen by the camera.
        look: its appearance.

    Returns:
        The person's box, head disc and which of its faces are towards the camera.
    """
    parts, drawing = person_parts(body, shape, projection, look)
    box = paint_parts(canvas, parts, projection.depth)
    return PersonDrawing(box, drawing.head_centre, drawing.head_radius, drawing.chest_faces_camera,
                         drawing.face_towards_camera)
