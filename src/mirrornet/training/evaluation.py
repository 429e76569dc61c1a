"""Evaluation of the recognizer α: PCK@0.2 (LSP, Sec. 5.1.1) or PCKh@0.5 (MPII, Sec. 5.1.2).

Predictions are the arg-max of α's last stack (Sec. 5.2), mapped back to original-image pixels,
and compared with the annotation in the original image. The per-epoch figures of a method are
averaged over its last ``eval.last_k_epochs`` epochs (10 in the paper) to give the reported row
of Tables 2–7 (:func:`mean_of_last_epochs`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from mirrornet.config import Config

__all__ = [
    "metric_for",
    "predict_batch",
    "score_predictions",
    "evaluate_model",
    "mean_of_last_epochs",
]


def metric_for(config: Config, fmt: str | None = None) -> tuple[str, float]:
    """The metric (``pck`` / ``pckh``) and threshold for a data format under ``config.eval``.

    ``auto`` is PCKh@0.5 for MPII and PCK@0.2 for LSP, LSPET and the synthetic people.
    """
    fmt = fmt or config.data.test_format or config.data.format
    kind = config.eval.metric
    if kind == "auto":
        kind = "pckh" if fmt == "mpii" else "pck"
    threshold = config.eval.threshold
    if threshold is None:
        threshold = 0.5 if kind == "pckh" else 0.2
    return kind, float(threshold)


@torch.no_grad()
def predict_batch(model: torch.nn.Module, codec, image: Tensor, affine: Tensor, flip_test: bool = False) -> tuple[Tensor, Tensor]:
    """α's keypoints for a batch of crops, in original-image pixels.

    Args:
        model: a MirrorNet (only α is run).
        codec: the heatmap codec of the run.
        image: (B, 3, H, W) normalised crops.
        affine: (B, 2, 3) original-image → crop maps.
        flip_test: also run the mirrored crops and average the heatmaps (un-flipped).

    Returns:
        coords (B, 16, 2) float32 original-image pixels, scores (B, 16).
    """
    heatmaps = model.recognize(image)[-1].float()  # (B, K, h, w)
    flipped = model.recognize(image.flip(-1))[-1].float() if flip_test else None
    coords, scores = codec.decode(heatmaps, flipped_heatmaps=flipped)  # (B, K, 2) crop px
    coords = codec.to_image_coords(coords.to(affine.device), affine)  # (B, K, 2) image px
    return coords.float().cpu(), scores.float().cpu()


def score_predictions(
    kind: str,
    threshold: float,
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray,
    bbox_size: np.ndarray,
    head_size: np.ndarray,
) -> dict:
    """PCK (normalised by the tight box) or PCKh (by the head size) of stacked predictions.

    Args:
        kind: ``pck`` or ``pckh``.
        threshold: τ.
        pred / gt: (N, 16, 2) original-image pixels.
        mask: (N, 16) annotated joints.
        bbox_size: (N,) max(h, w) of the tight box around the labelled joints.
        head_size: (N,) 0.6 × head-box diagonal.

    Returns:
        The metrics dict of :func:`mirrornet.metrics.pck` / :func:`~mirrornet.metrics.pckh`.
    """
    from mirrornet import metrics

    if kind == "pckh":
        if not (head_size > 0).any():
            raise ValueError("PCKh needs head boxes, but no evaluated person has one")
        return metrics.pckh(pred, gt, mask, head_size, threshold=threshold)
    return metrics.pck(pred, gt, mask, threshold=threshold, norm=bbox_size)


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    loader: Iterable[dict],
    codec,
    kind: str = "pck",
    threshold: float = 0.2,
    flip_test: bool = False,
    device: torch.device | str = "cpu",
    progress: bool = False,
    backend: object = "torch",
) -> dict:
    """Evaluate α over a DataLoader of :class:`~mirrornet.data.PoseDataset` batches.

    Args:
        backend: where α runs: ``torch``, ``onnx``, ``auto`` or a ready
            :class:`~mirrornet.onnx_runtime.BackendChoice` (see :mod:`mirrornet.onnx_runtime`);
            ``auto`` and ``onnx`` are resolved at the first batch, from its crop size.

    Returns:
        The metrics dict (``metric``, ``joints``, ``groups``, ``counts``).
    """
    model.eval().to(device)
    preds, gts, masks, boxes, heads = [], [], [], [], []
    from mirrornet.console import progress_bar

    iterator = progress_bar(loader, progress, desc="evaluate", leave=False)
    runner = None
    for batch in iterator:
        if runner is None:
            from mirrornet.onnx_runtime import runner_for

            image = batch["image"]
            dataset = getattr(loader, "dataset", None)
            runner = runner_for(
                model, backend, device, (int(image.shape[-2]), int(image.shape[-1])),
                probe_batch=int(image.shape[0]), expected_crops=len(dataset) if hasattr(dataset, "__len__") else None,
            )
        coords, _ = predict_batch(
            runner, codec, batch["image"].to(device), batch["affine"].to(device), flip_test
        )
        preds.append(coords.numpy())
        gts.append(batch["joints"].numpy())
        masks.append(batch["labelled"].numpy())
        boxes.append(batch["bbox_size"].numpy())
        heads.append(batch["head_size"].numpy())
    if not preds:
        raise ValueError("the evaluation set is empty")
    return score_predictions(
        kind,
        threshold,
        np.concatenate(preds),
        np.concatenate(gts),
        np.concatenate(masks),
        np.concatenate(boxes),
        np.concatenate(heads),
    )


def mean_of_last_epochs(records: Sequence[dict], k: int) -> dict:
    """The reported row: each group's score averaged over the last ``k`` evaluated epochs.

    Args:
        records: per-epoch records (oldest first) holding ``eval`` = {"metric", "groups"}.
        k: number of last epochs (fewer if the method has fewer).

    Returns:
        {"metric": name, "groups": {group: mean %}, "epochs": number averaged,
        "alpha_epochs": [α epoch of each averaged record]}.
    """
    evaluated = [r for r in records if r.get("eval")]
    if not evaluated:
        raise ValueError("no evaluated epoch to report")
    last = evaluated[-k:]
    groups: dict[str, float] = {}
    for name in last[-1]["eval"]["groups"]:
        values = [float(r["eval"]["groups"][name]) for r in last]
        finite = [v for v in values if math.isfinite(v)]
        groups[name] = float(np.mean(finite)) if finite else float("nan")
    return {
        "metric": last[-1]["eval"]["metric"],
        "groups": groups,
        "epochs": len(last),
        "alpha_epochs": [int(r["alpha_epoch"]) for r in last],
    }
