"""The whole pipeline of one sample, and `SyntheticPeople`, the dataset over it.

All randomness of sample i of seed S comes from one generator seeded with
`SeedSequence(S, spawn_key=(i,))`, consumed by the steps in a fixed order (pose, body, camera,
appearance, background, clutter, occluders, camera effects): the order is part of what a seed
means, so the same (seed, index) always gives the same sample whatever the access order or the
number of workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
from torch.utils.data import Dataset

from mirrornet.data.images import DataSettingError
from mirrornet.data.records import PoseRecord
from mirrornet.data.synthetic.appearance import Appearance, sample_appearance
from mirrornet.data.synthetic.body import BodyShape, PosedBody, pose_body, sample_body_shape
from mirrornet.data.synthetic.camera import Projection, place_camera
from mirrornet.data.synthetic.effects import apply_camera_effects
from mirrornet.data.synthetic.parts import Canvas
from mirrornet.data.synthetic.pose import Pose, sample_pose
from mirrornet.data.synthetic.render import PersonDrawing, canvas_points, draw_person
from mirrornet.data.synthetic.scene import add_occluders, draw_background, draw_clutter
from mirrornet.data.synthetic.visibility import joint_visibility, silhouette
from mirrornet.skeleton import NUM_JOINTS

__all__ = ["SyntheticPeople", "SyntheticRecords", "generate_sample", "sample_generator"]


def sample_generator(seed: int, index: int) -> np.random.Generator:
    """The random generator of one sample, independent of every other sample's.

    Args:
        seed: dataset seed.
        index: sample index.

    Returns:
        A generator seeded with ``SeedSequence(seed, spawn_key=(index,))``.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def generate_sample(seed: int, index: int, image_size: int, difficulty: float) -> dict[str, Any]:
    """Make sample `index` of `seed`: pose, body, camera, appearance, scene, person, effects.

    Args:
        seed: non-negative dataset seed.
        index: non-negative sample index.
        image_size: side S of the square image in pixels.
        difficulty: scene difficulty in [0, 1].

    Returns:
        ``{"image", "joints", "visible", "mask", "box", "factors"}`` (see `SyntheticPeople`).
    """
    rng = sample_generator(seed, index)
    pose = sample_pose(rng)
    shape = sample_body_shape(rng)
    body = pose_body(pose.angles, shape.segments)
    projection = place_camera(rng, body, shape, image_size, difficulty)
    look = sample_appearance(rng)

    background, scene_factors = draw_background(rng, image_size, difficulty)
    canvas = Canvas.over(background)
    num_clutter = draw_clutter(rng, canvas.draw, image_size, difficulty,
                               (look.skin, look.shirt, look.trousers, look.shirt2))
    person = draw_person(canvas, body, shape, projection, look)
    canvas_joints = canvas_points(projection)[:NUM_JOINTS]
    occluders = add_occluders(rng, canvas, canvas_joints, image_size, difficulty)

    joints = projection.joints
    mask = silhouette(canvas.labels)
    visible = joint_visibility(canvas.labels, canvas_joints, joints, mask)
    image, effects = apply_camera_effects(rng, canvas.image.reduce(2), difficulty)  # 2×2 box filter: anti-aliasing
    scene = {**scene_factors, "clutter": num_clutter, "occluders": occluders, **effects}
    factors = _factors(pose, shape, body, projection, look, person, scene)
    return {"image": image, "joints": joints, "visible": visible.astype(np.float64), "mask": mask,
            "box": person.box, "factors": factors}


def _factors(pose: Pose, shape: BodyShape, body: PosedBody, projection: Projection, look: Appearance,
             person: PersonDrawing, scene: dict[str, Any]) -> dict[str, Any]:
    """The hidden variables of a sample, as `SyntheticPeople(return_factors=True)` reports them."""
    camera = projection.camera
    return {
        "family": pose.family,
        "family_index": pose.family_index,
        "angles": pose.angles,
        "segments": shape.segments,
        "height": shape.height,
        "build": shape.build,
        "joints_3d": body.joints,
        "knee_axes": body.knee_axes,
        "elbow_axes": body.elbow_axes,
        "camera": {"yaw": camera.yaw, "pitch": camera.pitch, "roll": camera.roll},
        "pixels_per_unit": camera.pixels_per_unit,
        "cut": bool(camera.cut),
        "head_box": person.head_box,
        "appearance": look.factors(),
        "scene": scene,
        "chest_faces_camera": person.chest_faces_camera,
        "face_towards_camera": person.face_towards_camera,
    }


class SyntheticPeople(Dataset):
    """A map-style dataset of procedurally drawn people (see `mirrornet.data.synthetic`).

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
            raise DataSettingError(f"SyntheticPeople: num must be a non-negative integer, got {num!r}")
        if int(image_size) != image_size or image_size < 16:
            raise DataSettingError(f"SyntheticPeople: image_size must be an integer >= 16, got {image_size!r}")
        if int(seed) != seed or seed < 0:
            raise DataSettingError(f"SyntheticPeople: seed must be a non-negative integer, got {seed!r}")
        if not (0.0 <= float(difficulty) <= 1.0):
            raise DataSettingError(f"SyntheticPeople: difficulty must lie in [0, 1], got {difficulty!r}")
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

    def sample(self, index: int) -> dict[str, Any]:
        """Sample `index` with its factors, whatever `return_factors` says.

        Args:
            index: sample index; negative values count from the end.

        Returns:
            The sample dict of `generate_sample`.

        Raises:
            IndexError: `index` is out of range.
        """
        return generate_sample(self.seed, self._check_index(index), self.image_size, self.difficulty)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Sample `index` as a dict (see the class docstring)."""
        sample = self.sample(index)
        if not self.return_factors:
            sample.pop("factors")
        return sample

    def record(self, index: int) -> PoseRecord:
        """Sample `index` as a PoseRecord (image and silhouette arrays inside).

        ``center`` is the centre of the person box and ``scale`` = max(box w, box h) / 200 (the
        crop side is 200·scale before the transform's padding); ``head_box`` is the box of the
        drawn head circle; every joint is labelled; ``extras`` holds ``box`` and ``factors``.

        Args:
            index: sample index; negative values count from the end.

        Returns:
            The record.
        """
        index = self._check_index(index)
        sample = self.sample(index)
        box = sample["box"]
        return PoseRecord(
            image=sample["image"],
            joints=sample["joints"],
            visible=sample["visible"],
            center=np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0]),
            scale=max(box[2] - box[0], box[3] - box[1]) / 200.0,
            labelled=np.ones(NUM_JOINTS),
            silhouette=sample["mask"],
            head_box=sample["factors"]["head_box"],
            image_id=f"synthetic_s{self.seed}_{index:06d}",
            index=index,
            extras={"box": box, "factors": sample["factors"]},
        )

    def records(self) -> SyntheticRecords:
        """A lazy Sequence of PoseRecords: each record is generated when it is indexed."""
        return SyntheticRecords(self)


class SyntheticRecords(Sequence):
    """A lazy Sequence[PoseRecord] over a SyntheticPeople dataset (records made on access).

    Args:
        people: the dataset.
    """

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
