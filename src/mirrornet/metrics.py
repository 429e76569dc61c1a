"""PCK and PCKh, per joint and per group as in the paper's Tables 2–7 (Sec. 5.1.1, 5.1.2).

- PCK@τ (LSP, τ = 0.2; Yang & Ramanan [55], paper Sec. 5.1.1): a joint is correct when its error is
  ≤ τ · max(h, w), h and w the height and width of the tight box around the person's labelled
  ground-truth joints.
- PCKh@τ (MPII, τ = 0.5; Andriluka et al. [1], paper Sec. 5.1.2): correct when the error is
  ≤ τ · l, l = 0.6 × the diagonal of the ground-truth head box — the official MPII tool's
  `SC_BIAS = 0.6`, as re-implemented in HRNet's `mpii.evaluate`.

Only joints with mask 1 count. Percentages (0–100). A group's score is the mean of the scores
of its joints (`skeleton.PCK_GROUPS`), left and right weighing the same, as the official tools
report a part: the MPII tool (`evaluatePCKh.m`, HRNet's `mpii.evaluate`: ``0.5 * (PCKh[lsho] +
PCKh[rsho])``) and the LSP tool (`eval_pck.m`, the mean of the two sides' PCK). "Total" pools
all joints but pelvis and thorax (`skeleton.TOTAL_JOINTS`), i.e. it is the mean of the per-joint
scores weighted by their counts, as the MPII tool's `jnt_ratio` weighting; for PCK on LSP, whose
test people carry all 14 joints, that is the plain mean over the joints. People whose normaliser
is not positive (a box or head size of 0) cannot be judged and are left out; their number is
reported as "excluded".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mirrornet.skeleton import GROUP_NAMES, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PCK_GROUPS, TOTAL_JOINTS

__all__ = [
    "HEAD_SIZE_FACTOR",
    "bbox_sizes",
    "head_sizes_from_boxes",
    "torso_sizes",
    "correct_keypoints",
    "person_pck",
    "pck",
    "pckh",
    "pckh_report",
    "format_table",
]

# Head size = 0.6 × head-box diagonal (MPII evaluation, `SC_BIAS`).
HEAD_SIZE_FACTOR = 0.6


def _check(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mask = np.asarray(mask, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[1:] != (NUM_JOINTS, 2) or gt.shape != pred.shape:
        raise ValueError(f"pred and gt must both be (N, {NUM_JOINTS}, 2), got {pred.shape} and {gt.shape}")
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask must be (N, {NUM_JOINTS}), got {mask.shape}")
    return pred, gt, mask > 0


def bbox_sizes(gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """max(h, w) of the tight box around each person's labelled joints (N,); 0 with none labelled.

    Args:
        gt: (N, K, 2) ground-truth joints.
        mask: (N, K) labelled joints.
    """
    gt = np.asarray(gt, dtype=np.float64)
    mask = np.asarray(mask) > 0
    lo = np.where(mask[..., None], gt, np.inf).min(axis=1)  # (N, 2)
    hi = np.where(mask[..., None], gt, -np.inf).max(axis=1)
    size = np.max(hi - lo, axis=1)
    return np.where(mask.any(axis=1), size, 0.0)


def torso_sizes(gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The torso normaliser of LSP's second PCK convention (N,): the distance from the left
    shoulder to the right hip, or from the right shoulder to the left hip when the first pair
    is not labelled; 0 when neither is (the person is then excluded).

    Args:
        gt: (N, 16, 2) ground-truth joints.
        mask: (N, 16) labelled joints.
    """
    gt = np.asarray(gt, dtype=np.float64)
    mask = np.asarray(mask) > 0
    out = np.zeros(gt.shape[0])
    # Filled in reverse order of preference, so that the preferred pair wins where both exist.
    for shoulder, hip in ((JOINT_INDEX["r_shoulder"], JOINT_INDEX["l_hip"]), (JOINT_INDEX["l_shoulder"], JOINT_INDEX["r_hip"])):
        both = mask[:, shoulder] & mask[:, hip]
        out = np.where(both, np.linalg.norm(gt[:, shoulder] - gt[:, hip], axis=-1), out)
    return out


def head_sizes_from_boxes(head_boxes: np.ndarray) -> np.ndarray:
    """0.6 × the diagonal of each head box (N, 2, 2) ((x1, y1), (x2, y2)) → (N,)."""
    boxes = np.asarray(head_boxes, dtype=np.float64)
    return HEAD_SIZE_FACTOR * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)


def correct_keypoints(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint correctness (error ≤ threshold · norm) and the mask of joints that count.

    Returns:
        correct (N, 16) bool and counted (N, 16) bool (mask and a positive normaliser).
    """
    pred, gt, valid = _check(pred, gt, mask)
    norm = np.asarray(norm, dtype=np.float64).reshape(-1)
    if norm.shape != (pred.shape[0],):
        raise ValueError(f"norm must be (N,) = ({pred.shape[0]},), got {norm.shape}")
    judged = np.isfinite(norm) & (norm > 0)
    counted = valid & judged[:, None]
    err = np.linalg.norm(pred - gt, axis=-1)  # (N, 16)
    with np.errstate(divide="ignore", invalid="ignore"):
        correct = (err / np.where(judged, norm, 1.0)[:, None] <= threshold) & counted
    return correct, counted


def person_pck(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray, threshold: float
) -> np.ndarray:
    """Each person's share of correct joints among the "Total" joints (N,), in [0, 1].

    Joints are judged as :func:`correct_keypoints` judges them (PCK with the tight-box size as
    ``norm``, PCKh with the head size); a person none of whose "Total" joints counts scores 0.
    """
    correct, counted = correct_keypoints(pred, gt, mask, norm, threshold)
    total = list(TOTAL_JOINTS)
    return correct[:, total].sum(axis=1) / np.maximum(counted[:, total].sum(axis=1), 1)


def _summarise(correct: np.ndarray, counted: np.ndarray, metric: str, excluded: int) -> dict:
    hits = correct.sum(axis=0).astype(np.float64)  # (16,)
    counts = counted.sum(axis=0).astype(np.int64)

    def pct(joints: Sequence[int]) -> float:
        n = counts[list(joints)].sum()
        return float(100.0 * hits[list(joints)].sum() / n) if n > 0 else float("nan")

    def side_mean(joints: Sequence[int]) -> float:
        # The official group score: the mean of the joint scores, left and right alike.
        scores = [pct([j]) for j in joints if counts[j] > 0]
        return float(np.mean(scores)) if scores else float("nan")

    groups = {name: side_mean(idx) for name, idx in PCK_GROUPS.items()}
    groups["Total"] = pct(TOTAL_JOINTS)
    group_counts = {name: int(counts[list(idx)].sum()) for name, idx in PCK_GROUPS.items()}
    group_counts["Total"] = int(counts[list(TOTAL_JOINTS)].sum())
    return {
        "metric": metric,
        "joints": {name: pct([j]) for j, name in enumerate(JOINT_NAMES)},
        "groups": groups,
        "counts": {**{name: int(counts[j]) for j, name in enumerate(JOINT_NAMES)}, **group_counts},
        "excluded": int(excluded),
    }


def _fmt_tau(threshold: float) -> str:
    return f"{threshold:g}"


def pck(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray,
    threshold: float = 0.2,
    norm: np.ndarray | None = None,
    name: str | None = None,
) -> dict:
    """PCK@τ (paper Sec. 5.1.1, after Yang & Ramanan [55]).

    A joint is correct when ‖pred − gt‖ ≤ τ · max(h, w), with h, w the size of the tight box around
    the person's labelled ground-truth joints (or `norm` when given). Only joints with mask 1
    count. A group is the mean of its joints' scores (left and right weigh the same, as in the
    LSP tool `eval_pck.m`); "Total" (all joints but pelvis and thorax) pools the counts of its
    joints — on LSP, whose people carry every joint, the plain mean of the 14 joint scores.

    Args:
        pred: (N, 16, 2) predicted joints, original-image pixels.
        gt: (N, 16, 2) ground truth.
        mask: (N, 16) 1 for labelled joints.
        threshold: τ.
        norm: (N,) normaliser per person; default the tight-box max(h, w) of the labelled joints.
        name: the metric's name in the result (default ``PCK@τ``; e.g. ``torso-PCK@0.2`` with
            :func:`torso_sizes` as ``norm``).

    Returns:
        {"metric": "PCK@0.2", "joints": {name: %}, "groups": {"Head": %, ..., "Total": %},
        "counts": {joint or group name: number of joints judged}, "excluded": people without a
        positive normaliser}. A group with no judged joint scores NaN.
    """
    _, gt_arr, valid = _check(pred, gt, mask)
    if norm is None:
        norm = bbox_sizes(gt_arr, valid)
    correct, counted = correct_keypoints(pred, gt, mask, norm, threshold)
    excluded = int((valid.any(axis=1) & ~counted.any(axis=1)).sum())
    return _summarise(correct, counted, name or f"PCK@{_fmt_tau(threshold)}", excluded)


def pckh(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, head_sizes: np.ndarray, threshold: float = 0.5) -> dict:
    """PCKh@τ, the official MPII evaluation (Andriluka et al. [1]; paper Sec. 5.1.2).

    A joint is correct when ‖pred − gt‖ / l ≤ τ, l = `head_sizes` = 0.6 × the ground-truth
    head-box diagonal (see `head_sizes_from_boxes`). Only joints with mask 1 count (the tool's
    `jnt_visible = 1 − jnt_missing`). A group is the mean of its left and right joints' scores
    and "Total" leaves out pelvis and thorax and weights each joint by its count, both as the
    tool does.

    Args:
        pred: (N, 16, 2) predicted joints.
        gt: (N, 16, 2) ground truth.
        mask: (N, 16) 1 for annotated joints.
        head_sizes: (N,) head sizes l in pixels.
        threshold: τ.

    Returns:
        The same dictionary as `pck`, with "metric" = "PCKh@0.5".
    """
    _, _, valid = _check(pred, gt, mask)
    correct, counted = correct_keypoints(pred, gt, mask, head_sizes, threshold)
    excluded = int((valid.any(axis=1) & ~counted.any(axis=1)).sum())
    return _summarise(correct, counted, f"PCKh@{_fmt_tau(threshold)}", excluded)


def pckh_report(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, head_sizes: np.ndarray, thresholds: Sequence[float] = (0.5, 0.1)
) -> dict[str, dict]:
    """PCKh at several thresholds (the MPII tool prints PCKh@0.5 and PCKh@0.1), keyed by metric name."""
    return {r["metric"]: r for r in (pckh(pred, gt, mask, head_sizes, t) for t in thresholds)}


def format_table(rows: Mapping[str, Mapping[str, float]], metric: str, extra_columns: Sequence[str] = ()) -> str:
    """A plain-text table in the layout of the paper's Table 2: one row per method.

    Args:
        rows: method name → its group scores ({"Head": ..., ..., "Total": ...}), or a whole result
            of `pck` / `pckh` (its "groups" are used). Missing values print as "-".
        metric: the metric named in the header, e.g. "PCK@0.2".
        extra_columns: keys of each row printed before the groups (e.g. "#annotated").

    Returns:
        The table as text, columns separated by two spaces, values with two decimals.
    """
    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)):
            return "-" if not np.isfinite(value) else f"{float(value):.2f}"
        return str(value)

    header = ["Method", *extra_columns, *GROUP_NAMES]
    body = []
    for name, row in rows.items():
        groups = row["groups"] if isinstance(row.get("groups"), Mapping) else row
        body.append([str(name), *(cell(row.get(c)) for c in extra_columns), *(cell(groups.get(g)) for g in GROUP_NAMES)])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    first = len(extra_columns) + 1

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(wd) if i < first else c.rjust(wd) for i, (c, wd) in enumerate(zip(cells, widths))).rstrip()

    title = " " * (sum(widths[:first]) + 2 * first) + metric
    rule = "-" * len(line(header))
    return "\n".join([title.rstrip(), line(header), rule, *(line(r) for r in body)])
