"""The image-blind floor, the torso normaliser, detector-like boxes and the new augmentations."""

from __future__ import annotations

import numpy as np
import pytest

from mirrornet.data.records import PoseRecord
from mirrornet.data.augment import half_body_box, jitter_colour
from mirrornet.data.transforms import TopDownTransform, apply_affine, get_affine
from mirrornet.floor import floor_report, mean_crop_pose
from mirrornet.inference import Predictions, metric_names
from mirrornet.metrics import pck, torso_sizes
from mirrornet.skeleton import JOINT_INDEX, NUM_JOINTS

SIZE = (64, 64)


def _person(rng: np.random.Generator, index: int, shape: np.ndarray) -> PoseRecord:
    centre = rng.uniform(100, 300, size=2)
    scale = rng.uniform(0.5, 1.5)
    joints = centre + shape * scale * 100
    return PoseRecord(image="", joints=joints, visible=np.ones(NUM_JOINTS), center=centre, scale=scale,
                      labelled=np.ones(NUM_JOINTS), index=index)


def _predictions(records: list[PoseRecord]) -> Predictions:
    affines = np.stack([get_affine(r.center, r.scale, SIZE, padding=1.25) for r in records])
    gt = np.stack([r.joints for r in records])
    n = len(records)
    return Predictions(
        pred_image=np.zeros_like(gt), pred_crop=np.zeros_like(gt), gt_image=gt,
        gt_crop=np.stack([apply_affine(r.joints, a) for r, a in zip(records, affines)]),
        mask=np.ones((n, NUM_JOINTS)), bbox_size=np.full(n, 100.0), head_size=np.zeros(n), affine=affines,
    )


def test_the_floor_is_perfect_when_every_person_has_the_mean_pose() -> None:
    rng = np.random.default_rng(0)
    shape = rng.uniform(-0.5, 0.5, size=(NUM_JOINTS, 2))
    people = [_person(rng, i, shape) for i in range(20)]
    crop_pose = mean_crop_pose(people, SIZE, 1.25)
    report = floor_report(_predictions(people), crop_pose, "pck", 0.2)
    assert report == {name: pytest.approx(100.0) for name in metric_names("pck", 0.2)}


def test_the_floor_fails_people_of_another_pose() -> None:
    rng = np.random.default_rng(1)
    shape = rng.uniform(-0.5, 0.5, size=(NUM_JOINTS, 2))
    train = [_person(rng, i, shape) for i in range(10)]
    test = [_person(rng, i, -shape) for i in range(10)]  # the mirrored pose
    report = floor_report(_predictions(test), mean_crop_pose(train, SIZE, 1.25), "pck", 0.2)
    assert report["PCK@0.2"] < 50.0


def test_unannotated_records_do_not_move_the_mean_pose() -> None:
    rng = np.random.default_rng(2)
    shape = rng.uniform(-0.5, 0.5, size=(NUM_JOINTS, 2))
    people = [_person(rng, i, shape) for i in range(4)] + [_person(rng, 4, -shape)]
    mean = mean_crop_pose(people, SIZE, 1.25, annotated=np.array([True] * 4 + [False]))
    assert np.allclose(mean, mean_crop_pose(people[:4], SIZE, 1.25))


def test_torso_size_is_left_shoulder_to_right_hip_or_the_other_diagonal() -> None:
    gt = np.zeros((2, NUM_JOINTS, 2))
    gt[:, JOINT_INDEX["l_shoulder"]] = (0, 0)
    gt[:, JOINT_INDEX["r_hip"]] = (3, 4)
    gt[:, JOINT_INDEX["r_shoulder"]] = (0, 0)
    gt[:, JOINT_INDEX["l_hip"]] = (6, 8)
    mask = np.ones((2, NUM_JOINTS))
    mask[1, JOINT_INDEX["r_hip"]] = 0
    assert torso_sizes(gt, mask).tolist() == [5.0, 10.0]
    mask[1, JOINT_INDEX["l_hip"]] = 0
    assert torso_sizes(gt, mask)[1] == 0.0


def test_named_pck_uses_the_given_normaliser() -> None:
    gt = np.zeros((1, NUM_JOINTS, 2))
    pred = gt + [3.0, 0.0]
    result = pck(pred, gt, np.ones((1, NUM_JOINTS)), 0.2, norm=np.array([10.0]), name="torso-PCK@0.2")
    assert result["metric"] == "torso-PCK@0.2" and result["groups"]["Total"] == 0.0
    assert pck(pred, gt, np.ones((1, NUM_JOINTS)), 0.2, norm=np.array([20.0]))["groups"]["Total"] == 100.0


def test_box_jitter_is_seeded_by_person_and_off_when_augmenting() -> None:
    rng = np.random.default_rng(3)
    person = _person(rng, 7, rng.uniform(-0.5, 0.5, size=(NUM_JOINTS, 2)))
    jittered = TopDownTransform(SIZE, box_jitter=(0.1, 0.05), jitter_seed=1)
    plain = TopDownTransform(SIZE)
    a, b = jittered.crop_box(person, None), jittered.crop_box(person, None)
    assert np.allclose(a[0], b[0]) and a[1] == b[1]
    assert not np.allclose(a[0], plain.crop_box(person, None)[0])
    other = TopDownTransform(SIZE, box_jitter=(0.1, 0.05), jitter_seed=2).crop_box(person, None)
    assert not np.allclose(a[0], other[0])
    assert 0.8 <= a[1] / person.scale <= 1.2
    augmenting = TopDownTransform(SIZE, augment=True, box_jitter=(0.1, 0.05))
    centre, scale = augmenting.crop_box(person, None)
    assert np.allclose(centre, person.center) and scale == person.scale


def test_half_body_box_spans_the_chosen_half() -> None:
    joints = np.zeros((NUM_JOINTS, 2))
    joints[:, 1] = np.arange(NUM_JOINTS) * 10.0
    centre, scale = half_body_box(joints, np.ones(NUM_JOINTS), upper=False, aspect=1.0, padding=1.25)
    lower = joints[[0, 1, 2, 3, 4, 5, 6]]
    assert np.allclose(centre, (lower.min(0) + lower.max(0)) / 2)
    assert 200 * scale * 1.25 == pytest.approx(1.5 * 60.0)
    assert half_body_box(joints, np.r_[np.ones(7), np.zeros(9)], upper=True, aspect=1.0, padding=1.25) is None


def test_colour_jitter_changes_both_images_alike_and_zero_strength_changes_nothing() -> None:
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    same = jitter_colour([image], 0.0, np.random.default_rng(0))[0]
    assert np.abs(same.astype(int) - image).max() <= 1
    a, b = jitter_colour([image, image.copy()], 0.5, np.random.default_rng(5))
    assert np.array_equal(a, b) and not np.array_equal(a, image)
