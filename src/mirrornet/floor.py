"""The image-blind floor: what a predictor scores without looking at the image.

A top-down crop is built from the person's box, so the box alone already says a lot about where
the joints are. The floor predictor places the mean annotated training pose, in crop pixels, in
every evaluation crop and maps it back to the image; its score, on the same split and metric, is
printed beside every accuracy table so that a figure reads as "so far above the floor", not as
"so far above zero" (on LSP's test split at PCK@0.2 the floor is about 71).

:func:`mean_crop_pose` averages the training poses; :func:`floor_report` scores the floor for a
set of :class:`~mirrornet.inference.Predictions` (their crops' affines are what it needs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mirrornet.data.records import PoseRecord
from mirrornet.data.transforms import apply_affine, get_affine
from mirrornet.skeleton import NUM_JOINTS

__all__ = ["mean_crop_pose", "floor_report", "training_crop_pose", "records_floor"]


def mean_crop_pose(
    records: Sequence[PoseRecord],
    input_size: Sequence[int],
    padding: float,
    annotated: np.ndarray | None = None,
) -> np.ndarray:
    """The mean pose of the annotated records in crop pixels, each cut out as evaluation cuts
    it (the record's centre and scale, no augmentation).

    Args:
        records: the training people.
        input_size: (H, W) of the crop.
        padding: the crop's margin factor (``data.padding``).
        annotated: (N,) bool, the records that count (default: all).

    Returns:
        (16, 2) float64; a joint no record labels is NaN.

    Raises:
        ValueError: no annotated record.
    """
    mask = np.ones(len(records), dtype=bool) if annotated is None else np.asarray(annotated, dtype=bool)
    total = np.zeros((NUM_JOINTS, 2))
    count = np.zeros(NUM_JOINTS)
    for record, use in zip(records, mask):
        if not use:
            continue
        labelled = np.asarray(record.labelled if record.labelled is not None else record.visible) > 0
        crop = apply_affine(record.joints, get_affine(record.center, record.scale, input_size, 0.0, False, padding))
        labelled &= np.isfinite(crop).all(axis=1)
        total[labelled] += crop[labelled]
        count[labelled] += 1
    if not count.any():
        raise ValueError("the floor needs annotated training people; there is none")
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count[:, None]


def training_crop_pose(data, config) -> np.ndarray:
    """:func:`mean_crop_pose` of a run's annotated training people
    (:class:`~mirrornet.training.datamodule.TrainingData`) with the crops of ``config.data``."""
    return mean_crop_pose(data.train.records, config.data.input_size, config.data.padding, data.annotated)


def floor_report(predictions, crop_pose: np.ndarray, kind: str, threshold: float) -> dict[str, float]:
    """The floor's "Total" on every metric of :func:`mirrornet.inference.metric_names`.

    Args:
        predictions: an evaluation's :class:`~mirrornet.inference.Predictions` (the crops and
            annotations of the evaluated people; its predictions are not used).
        crop_pose: (16, 2) the pose in crop pixels (:func:`mean_crop_pose`).
        kind / threshold: the evaluation's metric.
    """
    report = predictions.with_crop_pose(np.nan_to_num(crop_pose, nan=-1e6)).report(kind, threshold)
    return {name: float(result["groups"]["Total"]) for name, result in report.items()}


def records_floor(
    train: Sequence[PoseRecord],
    test: Sequence[PoseRecord],
    input_size: Sequence[int],
    padding: float,
    kind: str = "pck",
    threshold: float = 0.2,
) -> dict[str, float]:
    """The floor of ``train``'s mean pose on ``test``, from the records alone (no image is read):
    each test person's crop is the evaluation's (its centre and scale, no augmentation).

    Returns:
        The floor's "Total" by metric name (:func:`floor_report`).
    """
    from mirrornet.inference import Predictions
    from mirrornet.metrics import bbox_sizes, head_sizes_from_boxes

    affines = np.stack([get_affine(r.center, r.scale, input_size, 0.0, False, padding) for r in test])
    gt = np.stack([np.asarray(r.joints, dtype=np.float64) for r in test])
    mask = np.stack([np.asarray(r.labelled if r.labelled is not None else r.visible, dtype=np.float64) for r in test])
    heads = np.array([head_sizes_from_boxes(r.head_box[None])[0] if r.head_box is not None else 0.0 for r in test])
    predictions = Predictions(
        pred_image=np.zeros_like(gt), pred_crop=np.zeros_like(gt), gt_image=gt,
        gt_crop=np.stack([apply_affine(j, a) for j, a in zip(gt, affines)]), mask=mask,
        bbox_size=bbox_sizes(gt, mask), head_size=heads, affine=affines,
    )
    return floor_report(predictions, mean_crop_pose(train, input_size, padding), kind, threshold)
