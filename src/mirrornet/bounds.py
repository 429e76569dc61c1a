"""The lower bounds of the joint stages (Secs. 3.3-3.5, Appendix A): Eqs. 15, 26-29, 35-36.

Each bound is assembled from the terms of the sub-networks' own objectives in
:mod:`mirrornet.objectives`, read off one forward pass of
:class:`~mirrornet.model.MirrorNet` (:class:`~mirrornet.outputs.MirrorNetOutputs`):

========================  ==========================================================  ===========
function                  bound                                                       paper
========================  ==========================================================  ===========
unlabeled_elbo            fidelity + plausibility + H[q_α] − KL_a − KL_g − KL_z       Eqs. 15, 35
labeled_elbo              fidelity + plausibility − KLs + λ log q_α(s | x)            Eqs. 26-28, 36
semi_supervised_elbo      the two above over the rows of a mixed batch                Eq. 29
========================  ==========================================================  ===========

fidelity, KL_a and KL_g are the image VAE's terms of Eq. 31 (``out.image``), plausibility and
KL_z the pose VAE's of Eq. 34 (``out.pose``) at the pose the mirrors saw, log q_α(s | x) the
recognizer's of Eq. 30 (Eq. 28) at the annotation. ``*_terms`` give the bounds per sample (B,),
``*_elbo`` their batch means (sum over dimensions, mean over the batch); ``loss = -out["total"]``.

A bound reads everything ``MirrorNet.forward`` decided from its outputs: x*, which rows are
annotated, and ``pose_source``, which picks one of the two readings of the labelled bound
(``model.pose_source``; default "annotation"): Eqs. 26-27 as written, with s = annotation, or
the terms of Eq. 15 evaluated at s ~ q_α(s | x) plus λ log q_α(s_annotated | x). See
:func:`labeled_terms` and docs/model.md. ``generator_variance`` (σ²_θ = σ²_φ = 1, or θ's and φ's
variance branches) and ``alpha_supervision`` are the readings :mod:`mirrornet.objectives`
describes. The four readings a config chooses (λ, ``generator_variance``, ``alpha_supervision``,
``pose_variance``) travel together as one :class:`BoundSettings`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from mirrornet import choices
from mirrornet.distributions import gaussian_entropy
from mirrornet.objectives import (
    DEFAULT_LAMBDA,
    GENERATOR_VARIANCES,
    _check_choice,
    _check_shape,
    batch_means,
    image_vae_terms,
    pose_vae_terms,
    recognizer_terms,
)
from mirrornet.outputs import MirrorNetOutputs

__all__ = [
    "BoundSettings",
    "mirror_terms",
    "unlabeled_terms",
    "labeled_terms",
    "unlabeled_elbo",
    "labeled_elbo",
    "semi_supervised_elbo",
    "unlabeled_weight_at",
]


@dataclass(frozen=True)
class BoundSettings:
    """The readings of the joint bounds that a run chooses (``model.lam`` … ``model.pose_variance``).

    Attributes:
        lam: λ of Eq. 27 (0.01 in the paper), a finite number ≥ 0.
        generator_variance: ``"fixed"`` (σ²_θ = σ²_φ = 1, the paper) or ``"learned"``.
        alpha_supervision: the outputs of α that Eq. 28 supervises, ``"all_outputs"`` or
            ``"last_output"``.
        pose_variance: σ²_φ (fixed) or its floor (learned); None: the paper's reading.

    Raises:
        ValueError: a value outside its range (checked when the settings are made).
    """

    lam: float = DEFAULT_LAMBDA
    generator_variance: str = choices.DEFAULT_GENERATOR_VARIANCE
    alpha_supervision: str = choices.DEFAULT_ALPHA_SUPERVISION
    pose_variance: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.lam) or self.lam < 0:
            raise ValueError(f"lam (λ of Eq. 27) must be a finite number ≥ 0, got {self.lam!r}")
        _check_choice("generator_variance", self.generator_variance, GENERATOR_VARIANCES)
        _check_choice("alpha_supervision", self.alpha_supervision, choices.ALPHA_SUPERVISIONS)


def _s_is_annotation(out: MirrorNetOutputs) -> Tensor:
    """(B,) bool: rows of ``out`` whose s is the annotation rather than a sample of q_α."""
    if out.pose_source == "annotation":
        return out.annotated
    return torch.zeros_like(out.annotated)


def mirror_terms(
    out: MirrorNetOutputs, generator_variance: str, pose_variance: float | None
) -> dict[str, Tensor]:
    """The terms shared by Eqs. 15 and 26, per sample (B,): fidelity, plausibility, three KLs.

    The image VAE's terms of Eq. 31 (0 when the forward skipped the image mirror) and the pose
    VAE's of Eq. 34, at the pose the mirrors saw.
    ``generator_variance="fixed"`` evaluates both generators with σ² = 1 (Secs. 4.2, 4.3), so
    their variance branches are unused; ``"learned"`` uses those branches (Figs. 6-7).
    """
    _check_choice("generator_variance", generator_variance, GENERATOR_VARIANCES)
    learned = generator_variance == "learned"
    pose = pose_vae_terms(out.pose, out.s_mirror, learned, pose_variance)
    if out.image is None:  # a forward without the image mirror: its terms are 0
        zero = pose["plausibility"].new_zeros(pose["plausibility"].shape)
        image = {"fidelity": zero, "kl_a": zero, "kl_g": zero}
    else:
        image = image_vae_terms(out.image, out.x_star, learned)
    # In the order the terms are logged.
    return {"fidelity": image["fidelity"], "plausibility": pose["plausibility"],
            "kl_a": image["kl_a"], "kl_g": image["kl_g"], "kl_z": pose["kl_z"]}


def unlabeled_terms(out: MirrorNetOutputs, settings: BoundSettings = BoundSettings()) -> dict[str, Tensor]:
    """Eq. 15 / 35 per sample: the terms and ``total`` of L^X_n, each of shape (B,).

    L^X_n = log p_θ(x* | s, a, g) + log p_φ(s | z) + H[q_α(s | x)] − KL_a − KL_g − KL_z,
    one Monte Carlo sample of s, a, g, z (Sec. 3.3.2); the entropy is analytic.

    Args:
        out: MirrorNet outputs in which s is a sample of q_α on every row.
        settings: the bound's readings (``generator_variance`` and ``pose_variance`` are read).

    Returns:
        {"fidelity", "plausibility", "entropy", "kl_a", "kl_g", "kl_z", "total"}, each (B,).
    """
    if bool(_s_is_annotation(out).any()):
        raise ValueError(
            "unlabeled bound: some rows of out hold s = annotation (pose_source='annotation'); "
            "Eq. 15 needs s ~ q_alpha(s|x) — use labeled/semi_supervised_elbo for those rows"
        )
    terms = mirror_terms(out, settings.generator_variance, settings.pose_variance)
    terms["entropy"] = gaussian_entropy(out.s_logvar, like=out.s_mean)  # H[q_α(s|x)]
    terms["total"] = (
        terms["fidelity"] + terms["plausibility"] + terms["entropy"]
        - terms["kl_a"] - terms["kl_g"] - terms["kl_z"]
    )
    return terms


def labeled_terms(
    out: MirrorNetOutputs, target: Tensor, weights: Tensor | None = None, settings: BoundSettings = BoundSettings()
) -> dict[str, Tensor]:
    """Eqs. 26-28 / 36 per sample: the terms and ``total`` of L^{X,S}_{n,λ}, each (B,).

    ``out.pose_source == "annotation"`` (Eqs. 26-27 as written): s is the annotation, so
    total = fidelity + plausibility − KL_a − KL_g − KL_z + λ·log_q_alpha, and α receives a
    gradient only through λ·log q_α(s | x).

    ``out.pose_source == "recognizer"``: fidelity, plausibility and the KLs are evaluated at
    s ~ q_α(s | x) as in Eq. 15, with the entropy H[q_α] of Eq. 15 included (a constant while
    σ_α is fixed), plus λ·log q_α(s_annotated | x); the two mirrors then send gradients to α
    on annotated images too.

    log_q_alpha is Eq. 28 at the annotation under q_α's variance, summed over the outputs of α
    that Eq. 30 supervises (every hourglass stack with ``alpha_supervision="all_outputs"``, the
    last output only with ``"last_output"``); joints with weight 0 are left out.

    Args:
        out: MirrorNet outputs of annotated images (x*, ``pose_source`` and s are read from it).
        target: (B, K, h, w) annotated heatmaps.
        weights: (B, K) joint weights (0 = not annotated); None weighs every joint 1.
        settings: λ and the readings of the bound.

    Returns:
        {"fidelity", "plausibility", ["entropy",] "kl_a", "kl_g", "kl_z", "log_q_alpha",
        "total"}, each (B,).
    """
    _check_shape("target", target, out.s_mean.shape)
    if out.pose_source == "annotation" and not bool(out.annotated.all()):
        raise ValueError(
            "labeled bound with pose_source='annotation' needs s = annotation on every row, but out "
            f"has annotated={out.annotated.tolist()}; give MirrorNet.forward the annotation of every "
            "row (or use semi_supervised_elbo for a mixed batch)"
        )
    terms = mirror_terms(out, settings.generator_variance, settings.pose_variance)
    total = terms["fidelity"] + terms["plausibility"] - terms["kl_a"] - terms["kl_g"] - terms["kl_z"]
    if out.pose_source == "recognizer":
        terms["entropy"] = gaussian_entropy(out.s_logvar, like=out.s_mean)
        total = total + terms["entropy"]
    # Eq. 28: log q_α(s_n | x_n) at the annotation, over the outputs Eq. 30 supervises.
    stacks = out.stacks or [out.s_mean]
    log_q = recognizer_terms(stacks, target, weights, out.s_logvar, settings.alpha_supervision)["log_q_alpha"]
    terms["log_q_alpha"] = log_q
    terms["total"] = total + settings.lam * log_q
    return terms


def unlabeled_elbo(out: MirrorNetOutputs, settings: BoundSettings = BoundSettings()) -> dict[str, Tensor]:
    """Eq. 15 / 35, the bound L^X on an image without annotation.

    fidelity log p_θ(x* | s, a, g) + plausibility log p_φ(s | z) + entropy H[q_α(s | x)]
    − KL(q_β ‖ N(0, I)) − KL(q_γ ‖ N(0, I)) − KL(q_δ ‖ N(0, I)), with s, a, g, z drawn by
    Eqs. 20-23. Sum over dimensions, mean over the batch.

    Args:
        out: outputs of :meth:`MirrorNet.forward` (s sampled on every row).
        settings: the bound's readings (``generator_variance`` and ``pose_variance`` are read).

    Returns:
        {"fidelity", "plausibility", "entropy", "kl_a", "kl_g", "kl_z", "total"}, scalars.
    """
    return batch_means(unlabeled_terms(out, settings))


def labeled_elbo(
    out: MirrorNetOutputs, target: Tensor, weights: Tensor | None = None, settings: BoundSettings = BoundSettings()
) -> dict[str, Tensor]:
    """Eqs. 26-28 / 36, the bound L^{X,S}_λ on annotated images.

    See :func:`labeled_terms` for the two readings selected by ``out.pose_source``. Sum over
    dimensions, mean over the batch.

    Args:
        out: outputs of :meth:`MirrorNet.forward` given the annotation of every row.
        target: (B, K, h, w) annotated heatmaps.
        weights: (B, K) joint weights; None weighs every joint 1.
        settings: λ (0.01 in the paper) and the readings of the bound.

    Returns:
        {"fidelity", "plausibility", ["entropy",] "kl_a", "kl_g", "kl_z", "log_q_alpha",
        "lambda_log_q_alpha", "total"}, scalars.
    """
    result = batch_means(labeled_terms(out, target, weights, settings))
    # The λ term as it enters the total (the share through which α is supervised).
    result["lambda_log_q_alpha"] = settings.lam * result["log_q_alpha"]
    return result


def unlabeled_weight_at(epochs_done: float, weight: float = 1.0, rampup_epochs: float = 0.0) -> float:
    """w_u of :func:`semi_supervised_elbo` after ``epochs_done`` epochs of the stage.

    ``weight`` × exp(−5 (1 − t)²) with t = min(1, epochs_done / rampup_epochs): the sigmoid-shaped
    ramp of semi-supervised learning's consistency weights (Laine & Aila, 2017), which starts at
    weight·e⁻⁵ ≈ 0.007·weight and reaches ``weight`` after ``rampup_epochs``. Without a ramp
    (``rampup_epochs`` 0) the weight is constant, the paper's Eq. 29 with ``weight`` 1.

    Args:
        epochs_done: fractional epochs of the semi-supervised stage done (≥ 0).
        weight: the final weight w_u.
        rampup_epochs: the ramp's length in epochs (0: no ramp).

    Returns:
        The weight.
    """
    if rampup_epochs <= 0:
        return float(weight)
    t = min(1.0, max(0.0, epochs_done) / rampup_epochs)
    return float(weight) * math.exp(-5.0 * (1.0 - t) ** 2)


def _mean_or_zero(values: Tensor) -> Tensor:
    """Mean of a possibly empty (n,) tensor; 0 for an empty one (instead of NaN)."""
    return values.mean() if values.numel() > 0 else values.new_zeros(())


def semi_supervised_elbo(
    out: MirrorNetOutputs,
    target: Tensor,
    weights: Tensor | None = None,
    settings: BoundSettings = BoundSettings(),
    *,
    unlabeled_weight: float = 1.0,
) -> dict[str, Tensor]:
    """Eq. 29: L = Σ_{n annotated} L^{X,S}_{n,λ} + Σ_{n not annotated} L^X_n, over a mixed batch.

    The rows are split by ``out.annotated`` (as given to :meth:`MirrorNet.forward`). total =
    (sum of the labelled bounds over annotated rows + w_u × the sum of the unlabelled bounds
    over the other rows) / B, i.e. sum over dimensions, mean over the batch; the paper's
    Eq. 29 is w_u = 1. A weight w_u < 1 (e.g. ramped up from 0, ``train.unlabeled_weight`` and
    ``train.unlabeled_rampup_epochs``) is not in the paper. Terms are logged per
    kind, averaged over the rows of that kind (0 when there are none): "labeled/<term>" and
    "unlabeled/<term>", plus "labeled/total" and "unlabeled/total".

    Args:
        out: outputs of :meth:`MirrorNet.forward` on a mixed batch (``annotated`` given).
        target: (B, K, h, w) annotated heatmaps (rows of non-annotated images ignored).
        weights: (B, K) joint weights, or None.
        settings: λ and the readings of both bounds.
        unlabeled_weight: w_u ≥ 0, the weight of the unlabelled rows' bounds (1 in Eq. 29).

    Returns:
        Dict of scalars: "total", the batch shares and the per-kind terms.
    """
    if not (math.isfinite(unlabeled_weight) and unlabeled_weight >= 0):
        raise ValueError(f"unlabeled_weight must be a finite number >= 0, got {unlabeled_weight!r}")
    batch = out.s_mean.shape[0]
    labeled_rows = out.annotated.nonzero().flatten()
    unlabeled_rows = (~out.annotated).nonzero().flatten()
    lab = labeled_terms(
        out.select(labeled_rows), target[labeled_rows], None if weights is None else weights[labeled_rows], settings
    )
    unl = unlabeled_terms(out.select(unlabeled_rows), settings)
    result = {"total": (lab["total"].sum() + unlabeled_weight * unl["total"].sum()) / batch}
    for term in ("fidelity", "plausibility"):  # as they enter the total (for alpha_grad/<term>)
        result[term] = (lab[term].sum() + unlabeled_weight * unl[term].sum()) / batch
    result["lambda_log_q_alpha"] = settings.lam * lab["log_q_alpha"].sum() / batch
    result.update({f"labeled/{k}": _mean_or_zero(v) for k, v in lab.items()})
    result.update({f"unlabeled/{k}": _mean_or_zero(v) for k, v in unl.items()})
    result["unlabeled_weight"] = torch.tensor(float(unlabeled_weight), device=result["total"].device)
    return result
