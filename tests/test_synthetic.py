"""Tests of SyntheticPeople: determinism, anatomy, visibility, silhouettes, records."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mirrornet.data.records import PoseRecord
from mirrornet.data.synthetic import (
    JOINT_LIMITS,
    POSE_FAMILIES,
    SEGMENT_PROPORTIONS,
    SyntheticPeople,
    _build_body,
)
from mirrornet.skeleton import JOINT_INDEX, SYMMETRIC_LIMBS

J = JOINT_INDEX


def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in ("image", "joints", "visible", "mask", "box"))


# ------------------------------------------------------------------------------------------
# determinism


def test_same_seed_and_index_give_the_same_sample_in_any_order() -> None:
    a = SyntheticPeople(20, image_size=64, seed=7, difficulty=0.8)
    b = SyntheticPeople(5, image_size=64, seed=7, difficulty=0.8)  # a different length
    later = [a[i] for i in (3, 4, 0)]
    assert _same(a[4], b[4]) and _same(later[1], b[4])
    assert _same(later[0], b[3]) and _same(a[-1], a[19])


def test_different_seeds_and_indices_differ() -> None:
    a = SyntheticPeople(4, image_size=64, seed=1)
    b = SyntheticPeople(4, image_size=64, seed=2)
    assert not np.array_equal(a[0]["image"], b[0]["image"])
    assert not np.allclose(a[0]["joints"], b[0]["joints"])
    assert not np.allclose(a[0]["joints"], a[1]["joints"])


def test_dataloader_workers_give_the_same_samples() -> None:
    people = SyntheticPeople(6, image_size=32, seed=3)
    direct = torch.stack([torch.from_numpy(people[i]["image"]) for i in range(6)])
    loader = torch.utils.data.DataLoader(people, batch_size=3, num_workers=2)
    batches = list(loader)
    assert batches[0]["image"].shape == (3, 32, 32, 3) and batches[0]["image"].dtype == torch.uint8
    assert batches[0]["mask"].dtype == torch.bool and batches[0]["joints"].shape == (3, 16, 2)
    assert torch.equal(torch.cat([b["image"] for b in batches]), direct)


def test_item_types_and_shapes() -> None:
    s = SyntheticPeople(1, image_size=48, seed=0, return_factors=True)[0]
    assert s["image"].shape == (48, 48, 3) and s["image"].dtype == np.uint8
    assert s["joints"].shape == (16, 2) and s["visible"].shape == (16,) and s["box"].shape == (4,)
    assert s["mask"].shape == (48, 48) and s["mask"].dtype == bool
    assert s["factors"]["family"] in POSE_FAMILIES
    assert "factors" not in SyntheticPeople(1, image_size=48, seed=0)[0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num": -1}, "num"),
        ({"num": 3, "image_size": 8}, "image_size"),
        ({"num": 3, "seed": -2}, "seed"),
        ({"num": 3, "difficulty": 1.5}, "difficulty"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SyntheticPeople(**kwargs)


def test_index_out_of_range_raises() -> None:
    people = SyntheticPeople(3, image_size=32)
    with pytest.raises(IndexError, match="3"):
        people[3]
    with pytest.raises(IndexError):
        people.record(-4)


# ------------------------------------------------------------------------------------------
# anatomy, checked in 3-D


def _knee_bends(j3: np.ndarray) -> np.ndarray:
    """(thigh × shank) · (right hip → left hip) per side: >= 0 for a knee that folds backwards."""
    lateral = j3[J["l_hip"]] - j3[J["r_hip"]]
    out = []
    for side in "rl":
        thigh = j3[J[f"{side}_knee"]] - j3[J[f"{side}_hip"]]
        shank = j3[J[f"{side}_ankle"]] - j3[J[f"{side}_knee"]]
        out.append(np.cross(thigh, shank) @ lateral)
    return np.array(out)


def _elbow_bends(j3: np.ndarray, elbow_axes: np.ndarray) -> np.ndarray:
    """(upper arm × forearm) · elbow flexion axis: <= 0 when the forearm folds to the front."""
    out = []
    for k, side in enumerate("rl"):
        upper = j3[J[f"{side}_elbow"]] - j3[J[f"{side}_shoulder"]]
        fore = j3[J[f"{side}_wrist"]] - j3[J[f"{side}_elbow"]]
        # The axis must be the upper arm's own lateral axis: a unit vector across the bone.
        assert abs(np.linalg.norm(elbow_axes[k]) - 1.0) < 1e-9
        assert abs(elbow_axes[k] @ upper) < 1e-9
        out.append(np.cross(upper, fore) @ elbow_axes[k])
    return np.array(out)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_knee_check_catches_a_hyperextended_knee() -> None:
    seg = {k: v * 1.7 for k, v in SEGMENT_PROPORTIONS.items()}
    angles = {f"{s}_{k}": 0.0 for s in "rl" for k in
              ("hip_flex", "hip_abd", "hip_twist", "knee_flex", "ankle_flex",
               "shoulder_flex", "shoulder_abd", "shoulder_twist", "elbow_flex")}
    angles.update(torso_lean=0.0, torso_side=0.0, torso_twist=0.0, head_pitch=0.0, head_yaw=0.0,
                  body_tilt=0.0, body_roll=0.0)
    angles.update(r_knee_flex=40.0, l_knee_flex=-40.0, r_elbow_flex=60.0, l_elbow_flex=-60.0)
    body = _build_body(angles, seg)
    knees = _knee_bends(body["joints"])
    elbows = _elbow_bends(body["joints"], body["elbow_axes"])
    assert knees[0] > 0 > knees[1]  # right folds back (good), left folds forward (bad)
    assert elbows[0] < 0 < elbows[1]
    # Standing straight: the left shank hangs below the knee, the right wrist in front of the body.
    assert body["joints"][J["r_wrist"], 2] > body["joints"][J["r_elbow"], 2]


def test_knees_and_elbows_never_bend_backwards_and_angles_stay_in_limits() -> None:
    people = SyntheticPeople(400, image_size=16, seed=11, return_factors=True)
    families = set()
    for i in range(len(people)):
        f = people._generate(i)["factors"]
        families.add(f["family"])
        j3 = f["joints_3d"]
        assert (_knee_bends(j3) >= -1e-12).all(), (i, f["family"])
        assert (_elbow_bends(j3, f["elbow_axes"]) <= 1e-12).all(), (i, f["family"])
        for side in "rl":
            knee = 180.0 - _angle(j3[J[f"{side}_hip"]] - j3[J[f"{side}_knee"]],
                                  j3[J[f"{side}_ankle"]] - j3[J[f"{side}_knee"]])
            elbow = 180.0 - _angle(j3[J[f"{side}_shoulder"]] - j3[J[f"{side}_elbow"]],
                                   j3[J[f"{side}_wrist"]] - j3[J[f"{side}_elbow"]])
            assert knee <= JOINT_LIMITS["knee_flex"][1] + 1e-6 and elbow <= JOINT_LIMITS["elbow_flex"][1] + 1e-6
        for key, value in f["angles"].items():
            base = key[2:] if key[:2] in ("r_", "l_") else key
            if base in JOINT_LIMITS:
                lo, hi = JOINT_LIMITS[base]
                assert lo <= value <= hi, (key, value)
    assert families == set(POSE_FAMILIES)


def test_left_and_right_segments_are_equal_and_centre_joints_are_midpoints() -> None:
    people = SyntheticPeople(60, image_size=64, seed=5, return_factors=True)
    ratios = []
    for i in range(len(people)):
        s = people[i]
        j3 = s["factors"]["joints_3d"]
        for (a, b), (c, d) in SYMMETRIC_LIMBS:
            assert np.linalg.norm(j3[a] - j3[b]) == pytest.approx(np.linalg.norm(j3[c] - j3[d]), rel=1e-12)
        ratios.append(np.linalg.norm(j3[J["r_hip"]] - j3[J["r_knee"]]) / s["factors"]["height"])
        for joints in (j3, s["joints"]):
            np.testing.assert_allclose(joints[J["pelvis"]], (joints[J["r_hip"]] + joints[J["l_hip"]]) / 2, atol=1e-9)
            np.testing.assert_allclose(
                joints[J["thorax"]], (joints[J["r_shoulder"]] + joints[J["l_shoulder"]]) / 2, atol=1e-9)
    # Thigh = 0.245 of the height, varied by at most ±10 % per person.
    assert 0.245 * 0.9 - 1e-9 <= min(ratios) < max(ratios) <= 0.245 * 1.1 + 1e-9
    assert max(ratios) - min(ratios) > 0.02


# ------------------------------------------------------------------------------------------
# visibility and silhouettes


def test_visible_joints_lie_in_the_image_and_on_the_silhouette() -> None:
    size = 128
    people = SyntheticPeople(80, image_size=size, seed=2, difficulty=1.0)
    n_visible = n_hidden = 0
    for i in range(len(people)):
        s = people[i]
        vis = s["visible"] > 0
        xy = s["joints"][vis]
        assert ((xy >= -0.5) & (xy < size - 0.5)).all()
        px = np.round(xy).astype(int)
        assert s["mask"][px[:, 1], px[:, 0]].all(), i
        n_visible += int(vis.sum())
        n_hidden += int((~vis).sum())
    # Hard scenes hide some joints, but most stay visible.
    assert n_hidden > 20 and n_visible > 0.6 * 80 * 16


def test_person_fills_the_frame_and_box_contains_the_silhouette() -> None:
    size = 96
    people = SyntheticPeople(40, image_size=size, seed=9, difficulty=0.0, return_factors=True)
    for i in range(len(people)):
        s = people[i]
        box = s["box"]
        ys, xs = np.nonzero(s["mask"])
        # PIL fills the pixels a shape touches: up to one pixel beyond the geometric outline.
        assert box[0] <= xs.min() + 1.0 and box[2] >= xs.max() - 1.0
        assert box[1] <= ys.min() + 1.0 and box[3] >= ys.max() - 1.0
        if not s["factors"]["cut"]:
            assert 0.6 * size <= max(box[2] - box[0], box[3] - box[1]) <= size
            assert (s["visible"] > 0).sum() >= 8  # a clean, uncut scene shows most joints


def _inside_occluder(p: np.ndarray, occ: dict, margin: float) -> bool:
    d = p - occ["center"]
    if occ["shape"] == "ball":
        return float(np.linalg.norm(d)) < occ["radius"] - margin
    local = np.abs(occ["axes"] @ d)
    return bool((local < occ["half_sizes"] - margin).all())


def test_joints_under_an_occluder_are_not_visible() -> None:
    people = SyntheticPeople(150, image_size=64, seed=4, difficulty=1.0, return_factors=True)
    covered = 0
    for i in range(len(people)):
        s = people[i]
        for occ in s["factors"]["scene"]["occluders"]:
            for j in range(16):
                if _inside_occluder(s["joints"][j], occ, margin=1.0):
                    covered += 1
                    assert s["visible"][j] == 0, (i, j)
                    px = np.round(s["joints"][j]).astype(int)
                    if (0 <= px).all() and (px < 64).all():
                        assert not s["mask"][px[1], px[0]]
    assert covered >= 20  # the check is not vacuous


def test_clean_scenes_have_no_clutter_occluders_blur_or_noise() -> None:
    people = SyntheticPeople(30, image_size=32, seed=1, difficulty=0.0, return_factors=True)
    for i in range(len(people)):
        scene = people[i]["factors"]["scene"]
        assert scene["occluders"] == [] and scene["blur"] == 0.0 and scene["noise"] <= 0.5
    hard = SyntheticPeople(30, image_size=32, seed=1, difficulty=1.0, return_factors=True)
    assert sum(len(hard[i]["factors"]["scene"]["occluders"]) for i in range(30)) > 5
    assert sum(hard[i]["factors"]["scene"]["clutter"] for i in range(30)) > 60


# ------------------------------------------------------------------------------------------
# records


def test_record_matches_the_sample() -> None:
    people = SyntheticPeople(3, image_size=80, seed=6, return_factors=True)
    s = people[1]
    rec = people.record(1)
    assert isinstance(rec, PoseRecord) and rec.index == 1 and rec.image_id == "synthetic_s6_000001"
    assert np.array_equal(rec.image, s["image"]) and np.array_equal(rec.silhouette, s["mask"])
    np.testing.assert_array_equal(rec.joints, s["joints"])
    np.testing.assert_array_equal(rec.visible, s["visible"])
    np.testing.assert_array_equal(rec.labelled, np.ones(16))
    box = s["box"]
    np.testing.assert_allclose(rec.center, [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    assert rec.scale == pytest.approx(max(box[2] - box[0], box[3] - box[1]) / 200)
    (x1, y1), (x2, y2) = rec.head_box
    top = rec.joints[J["head_top"]]
    assert x1 <= top[0] <= x2 and y1 <= top[1] <= y2
    # The head box is the head circle: square, about 0.55 × 2 of the head segment across.
    head_len = np.linalg.norm(s["factors"]["joints_3d"][J["head_top"]] - s["factors"]["joints_3d"][J["upper_neck"]])
    assert x2 - x1 == pytest.approx(y2 - y1)
    assert x2 - x1 == pytest.approx(1.1 * head_len * s["factors"]["pixels_per_unit"])


def test_records_is_a_lazy_sequence() -> None:
    people = SyntheticPeople(4, image_size=32, seed=8)
    recs = people.records()
    assert len(recs) == 4
    assert np.array_equal(recs[2].joints, people.record(2).joints)
    assert [r.index for r in recs[1:3]] == [1, 2]
    assert [r.index for r in recs] == [0, 1, 2, 3]
    assert np.array_equal(recs[-1].image, people.record(3).image)
