"""α at run time, and its one evaluation loop: batches → keypoints in image pixels → PCK / PCKh.

Predictions are the arg-max of α's last stack (Sec. 5.2), mapped back to original-image pixels
and compared with the annotation in the original image: PCK@0.2 (LSP, Sec. 5.1.1) or PCKh@0.5
(MPII, Sec. 5.1.2), chosen from the config by :func:`metric_for`.

Every evaluation goes through :class:`Evaluation`: the per-epoch evaluation of training
(Lightning drives the batches and calls :meth:`Evaluation.add` from its validation step),
:func:`collect_predictions` / :func:`evaluate_model` (``mirrornet evaluate``, the final
evaluation of a run, the demo) and, for images without annotation, :func:`predict_batch`
(``mirrornet predict``). Nothing here imports the training code, so inference runs without
Lightning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mirrornet.config import Config

__all__ = [
    "Evaluation",
    "Predictions",
    "collect_predictions",
    "evaluate_model",
    "metric_for",
    "metric_names",
    "predict_batch",
    "score_predictions",
]


def metric_for(
    config: Config, fmt: str | None = None, metric: str | None = None, threshold: float | None = None
) -> tuple[str, float]:
    """The metric (``pck`` / ``pckh``) and threshold of an evaluation.

    ``config.eval`` decides unless ``metric`` or ``threshold`` is given; its ``auto`` is PCKh@0.5
    for MPII and PCK@0.2 for LSP, LSPET and the synthetic people.

    Args:
        config: the run's config.
        fmt: the data format evaluated (default: the config's test format).
        metric: ``pck`` or ``pckh`` instead of ``config.eval.metric``; the threshold is then
            ``threshold`` or that metric's own (0.2 / 0.5), not ``config.eval.threshold``.
        threshold: τ instead of the config's.

    Returns:
        (kind, threshold).
    """
    fmt = fmt or config.data.test_format or config.data.format
    kind = metric or config.eval.metric
    if kind == "auto":
        kind = "pckh" if fmt == "mpii" else "pck"
    if threshold is None and metric is None:
        threshold = config.eval.threshold
    if threshold is None:
        threshold = 0.5 if kind == "pckh" else 0.2
    return kind, float(threshold)


def metric_names(kind: str, threshold: float) -> tuple[str, ...]:
    """The names of every metric an evaluation reports (:meth:`Predictions.report`), the paper's
    first: for PCK, ``PCK@τ``, ``PCK@0.1`` and ``torso-PCK@0.2`` (LSP's other convention, the
    torso as normaliser: :func:`mirrornet.metrics.torso_sizes`); for PCKh, ``PCKh@τ`` and
    ``PCKh@0.1`` (the two the MPII tool prints)."""
    return tuple(name for name, _, _ in _metric_specs(kind, threshold))


def _metric_specs(kind: str, threshold: float) -> list[tuple[str, str, float]]:
    """(name, normaliser, τ) of every reported metric; the paper's first, no name twice."""
    tau = f"{threshold:g}"
    if kind == "pckh":
        specs = [(f"PCKh@{tau}", "head", threshold), ("PCKh@0.1", "head", 0.1)]
    else:
        specs = [(f"PCK@{tau}", "box", threshold), ("PCK@0.1", "box", 0.1), ("torso-PCK@0.2", "torso", 0.2)]
    seen: set[str] = set()
    return [spec for spec in specs if not (spec[0] in seen or seen.add(spec[0]))]


def _decode(runner, codec, image: Tensor, flip_test: bool) -> tuple[Tensor, Tensor]:
    """α's joints in input-crop pixels and their scores: (B, K, 2), (B, K)."""
    heatmaps = runner.recognize(image)[-1].float()  # (B, K, h, w)
    flipped = runner.recognize(image.flip(-1))[-1].float() if flip_test else None
    return codec.decode(heatmaps, flipped_heatmaps=flipped)


def _to_image(codec, crop_coords: Tensor, affine: Tensor) -> Tensor:
    """Input-crop pixels → original-image pixels, on the CPU as float32: (B, K, 2)."""
    return codec.to_image_coords(crop_coords.to(affine.device), affine).float().cpu()


@torch.no_grad()
def predict_batch(model, codec, image: Tensor, affine: Tensor, flip_test: bool = False) -> tuple[Tensor, Tensor]:
    """α's keypoints for a batch of crops, in original-image pixels.

    Args:
        model: anything with MirrorNet's ``recognize`` (a MirrorNet, or a runner of
            :mod:`mirrornet.onnx_runtime`); only α runs.
        codec: the heatmap codec of the run.
        image: (B, 3, H, W) normalised crops.
        affine: (B, 2, 3) original-image → crop maps.
        flip_test: also run the mirrored crops and average the heatmaps (un-flipped).

    Returns:
        coords (B, 16, 2) float32 original-image pixels, scores (B, 16).
    """
    coords, scores = _decode(model, codec, image, flip_test)
    return _to_image(codec, coords, affine), scores.float().cpu()


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


@dataclass
class Predictions:
    """α's predictions over an evaluation set, beside its annotation (N people).

    Attributes:
        pred_image: (N, 16, 2) predicted joints in original-image pixels.
        pred_crop: (N, 16, 2) the same in input-crop pixels.
        gt_image: (N, 16, 2) annotated joints in original-image pixels.
        gt_crop: (N, 16, 2) the same mapped into the crop.
        mask: (N, 16) annotated joints.
        bbox_size: (N,) max(h, w) of the tight box around the labelled joints (PCK's normaliser).
        head_size: (N,) 0.6 × head-box diagonal (PCKh's normaliser).
        affine: (N, 2, 3) original-image → crop maps.
    """

    pred_image: np.ndarray
    pred_crop: np.ndarray
    gt_image: np.ndarray
    gt_crop: np.ndarray
    mask: np.ndarray
    bbox_size: np.ndarray
    head_size: np.ndarray
    affine: np.ndarray

    def __len__(self) -> int:
        return int(self.pred_image.shape[0])

    def score(self, kind: str, threshold: float) -> dict:
        """The metrics dict (``metric``, ``joints``, ``groups``, ``counts``) of :func:`score_predictions`."""
        return score_predictions(
            kind, threshold, self.pred_image, self.gt_image, self.mask, self.bbox_size, self.head_size
        )

    def report(self, kind: str, threshold: float) -> dict[str, dict]:
        """Every metric of :func:`metric_names` by name, each a metrics dict as :meth:`score`'s."""
        from mirrornet import metrics

        out: dict[str, dict] = {}
        for name, norm, tau in _metric_specs(kind, threshold):
            if norm == "head":
                out[name] = score_predictions("pckh", tau, self.pred_image, self.gt_image, self.mask,
                                              self.bbox_size, self.head_size)
            else:
                size = self.bbox_size if norm == "box" else metrics.torso_sizes(self.gt_image, self.mask)
                out[name] = metrics.pck(self.pred_image, self.gt_image, self.mask, tau, norm=size, name=name)
        return out

    def with_crop_pose(self, crop_pose: np.ndarray) -> "Predictions":
        """The same people predicted by one pose in crop pixels, placed in every person's crop
        and mapped back to the image (the image-blind floor: :mod:`mirrornet.floor`).

        Args:
            crop_pose: (16, 2) input-crop pixels.
        """
        crop = np.broadcast_to(np.asarray(crop_pose, dtype=np.float64), self.pred_crop.shape)
        full = np.concatenate([self.affine.astype(np.float64), np.tile([[[0.0, 0.0, 1.0]]], (len(self), 1, 1))], axis=1)
        inverse = np.linalg.inv(full)[:, :2]  # (N, 2, 3) crop -> image
        image = np.einsum("nij,nkj->nki", inverse[:, :, :2], crop) + inverse[:, None, :, 2]
        return dataclasses.replace(self, pred_image=image.astype(np.float32), pred_crop=crop.astype(np.float32))

    def person_scores(self, kind: str, threshold: float) -> np.ndarray:
        """Each person's share of correct joints among those of the "Total" group (N,), judged
        as :meth:`score` judges them (:func:`mirrornet.metrics.person_pck`)."""
        from mirrornet import metrics

        norm = self.head_size if kind == "pckh" else self.bbox_size
        return metrics.person_pck(self.pred_image, self.gt_image, self.mask, norm, threshold)


class Evaluation:
    """The evaluation loop's state: feed it batches, then read its :class:`Predictions`.

    Args:
        runner: a MirrorNet, or a runner of :mod:`mirrornet.onnx_runtime` (only α runs).
        codec: the heatmap codec of the run.
        flip_test: average with the mirrored crops' heatmaps.
        device: where the crops go before α runs (None: where the batch already is).
    """

    def __init__(self, runner, codec, flip_test: bool = False, device: torch.device | str | None = None) -> None:
        self.runner = runner
        self.codec = codec
        self.flip_test = bool(flip_test)
        self.device = device
        self._parts: list[tuple[np.ndarray, ...]] = []

    @torch.no_grad()
    def add(self, batch: dict) -> None:
        """Predict one batch of :class:`~mirrornet.data.PoseDataset` items and keep it with its annotation."""
        image, affine = batch["image"], batch["affine"]
        if self.device is not None:
            image, affine = image.to(self.device), affine.to(self.device)
        crop, _ = _decode(self.runner, self.codec, image, self.flip_test)  # (B, K, 2) crop px
        pred_image = _to_image(self.codec, crop, affine)
        gt = batch["joints"].float().cpu()  # (B, K, 2) image px
        forward = batch["affine"].float().cpu()  # (B, 2, 3) image -> crop
        gt_crop = gt @ forward[:, :, :2].transpose(1, 2) + forward[:, None, :, 2]
        self._parts.append((
            pred_image.numpy(),
            crop.float().cpu().numpy(),
            gt.numpy(),
            gt_crop.numpy(),
            batch["labelled"].float().cpu().numpy(),
            batch["bbox_size"].float().cpu().numpy(),
            batch["head_size"].float().cpu().numpy(),
            forward.numpy(),
        ))

    def __len__(self) -> int:
        return sum(len(p[0]) for p in self._parts)

    def predictions(self) -> Predictions:
        """Everything added so far, stacked.

        Raises:
            ValueError: no batch was added.
        """
        if not self._parts:
            raise ValueError("the evaluation set is empty")
        return Predictions(*(np.concatenate(p) for p in zip(*self._parts)))


def _runner_for_batches(model, backend, device, batch: dict, batches) -> object:
    """The object that runs α for :func:`collect_predictions`, chosen at its first batch (the
    crop size and batch size of ``auto``'s probe come from it)."""
    from mirrornet.onnx_runtime import runner_for

    image = batch["image"]
    dataset = getattr(batches, "dataset", None)
    return runner_for(
        model, backend, device, (int(image.shape[-2]), int(image.shape[-1])),
        probe_batch=int(image.shape[0]), expected_crops=len(dataset) if hasattr(dataset, "__len__") else None,
    )


@torch.no_grad()
def collect_predictions(
    model: torch.nn.Module,
    batches: Iterable[dict],
    codec,
    flip_test: bool = False,
    device: torch.device | str = "cpu",
    progress: bool = False,
    backend: object = "torch",
) -> Predictions:
    """α's predictions over batches of :class:`~mirrornet.data.PoseDataset` items (e.g. a DataLoader).

    Args:
        model: a MirrorNet (put in eval mode on ``device``; only α runs).
        batches: the evaluation batches, in order.
        codec: the heatmap codec of the run.
        flip_test: average with the mirrored crops' heatmaps.
        device: where α runs.
        progress: a progress bar over the batches.
        backend: where α runs: ``torch``, ``onnx``, ``auto`` or a ready
            :class:`~mirrornet.onnx_runtime.BackendChoice` (see :mod:`mirrornet.onnx_runtime`);
            ``auto`` and ``onnx`` are resolved at the first batch, from its crop size.

    Raises:
        ValueError: there is no batch.
    """
    from mirrornet.console import progress_bar

    model.eval().to(device)
    evaluation: Evaluation | None = None
    for batch in progress_bar(batches, progress, desc="evaluate", leave=False):
        if evaluation is None:
            runner = _runner_for_batches(model, backend, device, batch, batches)
            evaluation = Evaluation(runner, codec, flip_test, device=device)
        evaluation.add(batch)
    if evaluation is None:
        raise ValueError("the evaluation set is empty")
    return evaluation.predictions()


def evaluate_model(
    model: torch.nn.Module,
    batches: Iterable[dict],
    codec,
    kind: str = "pck",
    threshold: float = 0.2,
    flip_test: bool = False,
    device: torch.device | str = "cpu",
    progress: bool = False,
    backend: object = "torch",
) -> dict:
    """Evaluate α over batches: :func:`collect_predictions`, scored by ``kind``@``threshold``.

    Returns:
        The metrics dict (``metric``, ``joints``, ``groups``, ``counts``).
    """
    predictions = collect_predictions(model, batches, codec, flip_test, device, progress, backend)
    return predictions.score(kind, threshold)
