"""PCK / PCKh on hand-computed cases: the ≤ boundary, masked joints, count-weighted groups and Total."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mirrornet.metrics import bbox_sizes, format_table, head_sizes_from_boxes, pck, pckh, pckh_report
from mirrornet.skeleton import JOINT_INDEX as J


def person_grid() -> np.ndarray:
    """16 joints at integer pixels inside a box 100 wide (x 0..100) and 50 high (y 0..50)."""
    x = np.array([0, 7, 13, 20, 27, 33, 40, 47, 53, 60, 67, 73, 80, 87, 93, 100], dtype=float)
    return np.stack([x, np.floor(x / 2)], axis=1)


def test_bbox_size_uses_labelled_joints_only():
    gt = person_grid()[None]
    mask = np.ones((1, 16))
    assert bbox_sizes(gt, mask)[0] == pytest.approx(100)
    mask[0, 15] = 0  # drop the right-most joint: box shrinks to x 0..93
    assert bbox_sizes(gt, mask)[0] == 93.0
    assert bbox_sizes(gt, np.zeros((1, 16)))[0] == 0


def test_pck_boundary_mask_and_weighted_total():
    gt = np.stack([person_grid(), person_grid()])  # both: max(h, w) = 100 -> threshold 20 px
    pred = gt.copy()
    pred[0, J["r_wrist"], 0] += 20.0      # exactly on the boundary: correct (≤)
    pred[0, J["l_wrist"], 1] += 20.001    # just outside: wrong
    pred[1, J["r_wrist"]] += [12.0, 16.0]  # distance 20: correct
    pred[1, J["r_knee"], 0] += 50.0        # wrong
    pred[1, J["pelvis"], 0] += 50.0        # wrong, but pelvis is not in Total
    mask = np.ones((2, 16))
    mask[1, J["l_elbow"]] = 0              # not labelled: not counted (box unchanged)
    mask[1, J["l_ankle"]] = 0
    res = pck(pred, gt, mask)
    assert res["metric"] == "PCK@0.2"
    assert res["joints"]["r_wrist"] == 100.0
    assert res["joints"]["l_wrist"] == 50.0 and res["counts"]["l_wrist"] == 2
    assert res["groups"]["Wrist"] == 75.0 and res["counts"]["Wrist"] == 4
    assert res["groups"]["Elbow"] == 100.0 and res["counts"]["Elbow"] == 3
    assert res["groups"]["Knee"] == pytest.approx(75.0)
    assert res["groups"]["Ankle"] == 100.0 and res["counts"]["Ankle"] == 3
    assert res["joints"]["pelvis"] == 50.0
    # Total: 14 joints × 2 people − 2 unlabelled = 26 counted; wrong: l_wrist of 0, r_knee of 1
    assert res["counts"]["Total"] == 26
    assert res["groups"]["Total"] == pytest.approx(100 * 24 / 26)
    assert res["excluded"] == 0


def test_pck_given_norm():
    gt = person_grid()[None]
    pred = gt.copy()
    pred[0, :, 0] += 3.0
    assert pck(pred, gt, np.ones((1, 16)), norm=np.array([10.0]))["groups"]["Total"] == 0.0
    assert pck(pred, gt, np.ones((1, 16)), norm=np.array([15.0]))["groups"]["Total"] == 100.0
    assert pck(pred, gt, np.ones((1, 16)), threshold=0.5, norm=np.array([6.0]))["metric"] == "PCK@0.5"


def test_pckh_official_rules():
    gt = np.stack([person_grid(), person_grid()])
    boxes = np.array([[[0, 0], [30, 40]], [[0, 0], [60, 80]]], dtype=float)  # diagonals 50, 100
    heads = head_sizes_from_boxes(boxes)
    np.testing.assert_allclose(heads, [30.0, 60.0])  # 0.6 × diagonal
    pred = gt.copy()
    pred[0, J["head_top"], 0] += 15.0   # 15 / 30 = 0.5: correct (≤)
    pred[0, J["r_elbow"], 0] += 15.1    # wrong
    pred[1, J["r_elbow"], 1] += 29.0    # 29 / 60 < 0.5: correct
    pred[1, J["thorax"], 0] += 100.0    # wrong, thorax not in Total
    mask = np.ones((2, 16))
    mask[0, J["l_elbow"]] = 0
    res = pckh(pred, gt, mask, heads)
    assert res["metric"] == "PCKh@0.5"
    assert res["groups"]["Head"] == 100.0
    # The official group score is the mean of the sides, r_elbow 1/2 and l_elbow 1/1 -> 75 %;
    # pooling their counts would give 2/3 = 66.7 %.
    assert res["groups"]["Elbow"] == pytest.approx(75.0)
    assert res["joints"]["thorax"] == 50.0
    assert res["counts"]["Total"] == 27 and res["groups"]["Total"] == pytest.approx(100 * 26 / 27)
    rep = pckh_report(pred, gt, mask, heads, thresholds=(0.5, 0.1))
    assert set(rep) == {"PCKh@0.5", "PCKh@0.1"}
    # at 0.1 (3 px and 6 px) the two 15 px head/elbow errors and the 29 px elbow fail
    assert rep["PCKh@0.1"]["groups"]["Total"] == pytest.approx(100 * 24 / 27)


def test_zero_normaliser_people_are_excluded_and_reported():
    gt = np.stack([person_grid(), person_grid()])
    pred = gt.copy()
    pred[1] += 1.0
    res = pckh(pred, gt, np.ones((2, 16)), np.array([30.0, 0.0]))
    assert res["excluded"] == 1 and res["counts"]["Total"] == 14 and res["groups"]["Total"] == 100.0
    empty = pck(pred, gt, np.zeros((2, 16)))
    assert math.isnan(empty["groups"]["Total"]) and empty["excluded"] == 0


def test_shape_errors():
    with pytest.raises(ValueError, match="pred and gt"):
        pck(np.zeros((2, 14, 2)), np.zeros((2, 14, 2)), np.ones((2, 14)))
    with pytest.raises(ValueError, match="mask"):
        pck(np.zeros((2, 16, 2)), np.zeros((2, 16, 2)), np.ones((2, 15)))
    with pytest.raises(ValueError, match="norm"):
        pckh(np.zeros((2, 16, 2)), np.zeros((2, 16, 2)), np.ones((2, 16)), np.ones(3))


def test_format_table_layout():
    gt = person_grid()[None]
    res = pck(gt, gt, np.ones((1, 16)))
    rows = {"Baseline": {**res, "#annotated": 2200}, "Supervised MirrorNet": {"Head": 92.94, "Total": float("nan")}}
    text = format_table(rows, "PCK@0.2", extra_columns=("#annotated",))
    lines = text.splitlines()
    assert lines[0].strip() == "PCK@0.2"
    assert lines[1].split() == ["Method", "#annotated", "Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]
    assert lines[3].split() == ["Baseline", "2200", *["100.00"] * 8]
    assert lines[4].split() == ["Supervised", "MirrorNet", "-", "92.94", *["-"] * 7]


def test_groups_average_the_sides_where_pooling_differs():
    """PCK's groups are the mean of the left and right joint scores (eval_pck.m, evaluatePCKh.m),
    not their pooled counts: with 3 people, r_wrist judged on 3 (1 correct) and l_wrist on 1
    (correct), Wrist = (33.3 + 100) / 2 = 66.7 % (pooled: 2 / 4 = 50 %)."""
    gt = np.stack([person_grid()] * 3)
    pred = gt.copy()
    pred[1, J["r_wrist"], 0] += 50.0
    pred[2, J["r_wrist"], 0] += 50.0
    mask = np.ones((3, 16))
    mask[1:, J["l_wrist"]] = 0
    res = pck(pred, gt, mask, norm=np.array([40.0, 40.0, 40.0]))
    assert res["joints"]["r_wrist"] == pytest.approx(100 / 3)
    assert res["joints"]["l_wrist"] == 100.0
    assert res["groups"]["Wrist"] == pytest.approx((100 / 3 + 100) / 2)
    # Total still pools the counts (the MPII tool's jnt_ratio): 42 judged joints, 2 wrong.
    assert res["counts"]["Total"] == 14 * 3 - 2
    assert res["groups"]["Total"] == pytest.approx(100 * 38 / 40)
    # A group with one side never judged is that side's score.
    mask[:, J["l_wrist"]] = 0
    assert pck(pred, gt, mask, norm=np.array([40.0] * 3))["groups"]["Wrist"] == pytest.approx(100 / 3)
