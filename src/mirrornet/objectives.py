"""The objectives of MirrorNet, one function per equation of the paper (Secs. 3-4, Appendix A).

Every function returns a dict of named terms and ``"total"``, the bound to *maximise*
(``loss = -out["total"]``). Each term is a positive log-quantity or KL, summed over its
dimensions and averaged over the batch, so it can be logged as is:

========================  ==========================================================  ========
function                  bound                                                       paper
========================  ==========================================================  ========
recognizer_objective      log q_α(s | x), σ²_α = 0.01, summed over α's outputs        Eq. 30
image_vae_objective       log p_θ(x* | s, a, g) − KL_a − KL_g, σ²_θ = 1               Eq. 31
pose_vae_objective        log p_φ(s | z) − KL_z, σ²_φ = 1                             Eq. 34
mask_objective            −MSE(w, silhouette)                                         Sec. 4.2
unlabeled_elbo            fidelity + plausibility + H[q_α] − KL_a − KL_g − KL_z       Eqs. 15, 35
labeled_elbo              fidelity + plausibility − KLs + λ log q_α(s | x)            Eqs. 26-28, 36
semi_supervised_elbo      the two above over the rows of a mixed batch                Eq. 29
========================  ==========================================================  ========

Term names: ``fidelity`` = log p_θ(x* | s, a, g); ``plausibility`` = log p_φ(s | z);
``entropy`` = H[q_α(s | x)]; ``kl_a``, ``kl_g``, ``kl_z`` = KL of q_β, q_γ, q_δ to N(0, I);
``log_q_alpha`` = log q_α(s | x) at the annotation (Eq. 28, before the factor λ).

The labelled bound has two readings, chosen by ``pose_source`` (a config key; default
"annotation"): Eq. 26-27 as written, with s = annotation, or the terms of Eq. 15 evaluated at
s ~ q_α(s | x) plus λ log q_α(s_annotated | x). See :func:`labeled_elbo` and docs/model.md.

Two more readings are config keys (docs/model.md):

* ``generator_variance`` (``model.generator_variance``): ``"fixed"`` (default) evaluates
  log p_θ and log p_φ with σ²_θ = σ²_φ = 1 in every stage, as Secs. 4.2 and 4.3 fix them "for
  stability"; ``"learned"`` uses the variance branches of θ and φ (Figs. 6-7) in the joint stages.
* ``alpha_supervision`` (``model.alpha_supervision``): ``"all_outputs"`` (default) sums
  log q_α over every output of a multi-output α (hourglass stacks), in Eq. 30 and in the λ term
  of Eq. 27 alike; ``"last_output"`` uses the final output only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor

from mirrornet.distributions import (
    gaussian_entropy,
    gaussian_log_prob,
    kl_to_standard_normal,
)
from mirrornet.model import POSE_SOURCES, MirrorNetOutputs

__all__ = [
    "ALPHA_DRIVING_TERMS",
    "ALPHA_LOGVAR",
    "ALPHA_SUPERVISIONS",
    "GENERATOR_VARIANCES",
    "DEFAULT_LAMBDA",
    "recognizer_objective",
    "image_vae_objective",
    "pose_vae_objective",
    "mask_objective",
    "unlabeled_terms",
    "labeled_terms",
    "unlabeled_elbo",
    "labeled_elbo",
    "semi_supervised_elbo",
    "unlabeled_weight_at",
]

#: log σ²_α with σ²_α = 0.01, the recognizer's fixed variance (Sec. 4.1).
ALPHA_LOGVAR: float = math.log(0.01)
#: λ of Eq. 27 (the paper uses 0.01 in all experiments).
DEFAULT_LAMBDA: float = 0.01
#: log σ² = 0, i.e. σ²_θ = σ²_φ = 1 (Secs. 4.2, 4.3: "fixed to 1 for stability").
_UNIT_LOGVAR: float = 0.0
#: Readings of the generators' variances σ²_θ, σ²_φ (``model.generator_variance``).
GENERATOR_VARIANCES: tuple[str, ...] = ("fixed", "learned")
#: The terms of the joint bounds through which α is trained, under the names each joint
#: objective returns them as they enter its total (the entropy H[q_α] is constant while σ_α is
#: fixed). Their gradient norms into α are logged as ``alpha_grad/<term>``.
ALPHA_DRIVING_TERMS: tuple[str, ...] = ("fidelity", "plausibility", "lambda_log_q_alpha")
#: Which outputs of α the Gaussian log q_α(s | x) supervises (``model.alpha_supervision``).
ALPHA_SUPERVISIONS: tuple[str, ...] = ("all_outputs", "last_output")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _supervised_outputs(stacks: Tensor | Sequence[Tensor], alpha_supervision: str) -> list[Tensor]:
    """The outputs of α that log q_α supervises: all of them (Eq. 30) or the last one."""
    _check_choice("alpha_supervision", alpha_supervision, ALPHA_SUPERVISIONS)
    stack_list = [stacks] if isinstance(stacks, Tensor) else list(stacks)
    if not stack_list:
        raise ValueError("alpha returned no output to supervise (stacks is empty)")
    return stack_list if alpha_supervision == "all_outputs" else stack_list[-1:]


def _pose_logvar(branch: Tensor, learned: bool, pose_variance: float | None) -> Tensor | float:
    """log σ²_φ: 1 (the paper), the decoder's branch, ``pose_variance``, or the branch floored
    at ``pose_variance`` (learned and a variance given)."""
    if pose_variance is None:
        return branch if learned else _UNIT_LOGVAR
    if not (math.isfinite(pose_variance) and pose_variance > 0):
        raise ValueError(f"pose_variance (σ²_φ) must be a positive number, got {pose_variance!r}")
    floor = math.log(pose_variance)
    return branch.clamp_min(floor) if learned else floor


def _generator_logvars(
    out, generator_variance: str, pose_variance: float | None = None
) -> tuple[Tensor | float, Tensor | float]:
    """log σ²_θ and log σ²_φ of the joint bounds: 0 (σ² = 1) or the generators' branches, σ²_φ
    replaced (fixed) or floored (learned) by ``pose_variance`` when given."""
    _check_choice("generator_variance", generator_variance, GENERATOR_VARIANCES)
    learned = generator_variance == "learned"
    x_logvar = out.x_logvar if learned else _UNIT_LOGVAR
    return x_logvar, _pose_logvar(out.s_rec_logvar, learned, pose_variance)


class _ImageVAELike(Protocol):
    x_mean: Tensor
    x_logvar: Tensor
    a_mean: Tensor
    a_logvar: Tensor
    g_mean: Tensor
    g_logvar: Tensor


class _PoseVAELike(Protocol):
    z_mean: Tensor
    z_logvar: Tensor
    s_rec_mean: Tensor
    s_rec_logvar: Tensor


def _check_shape(name: str, value: Tensor, expected: torch.Size) -> None:
    if value.shape != expected:
        raise ValueError(f"{name} has shape {tuple(value.shape)}, expected {tuple(expected)}")


def _joint_weight(weights: Tensor | None, heatmaps: Tensor) -> Tensor | None:
    """(B, K) joint weights -> (B, K, 1, 1), checked against (B, K, h, w) heatmaps."""
    if weights is None:
        return None
    if weights.shape != heatmaps.shape[:2]:
        raise ValueError(
            f"weights has shape {tuple(weights.shape)}, expected (B, K) = {tuple(heatmaps.shape[:2])}"
        )
    return weights[:, :, None, None]


def _reduce(terms: dict[str, Tensor]) -> dict[str, Tensor]:
    """Per-sample terms (B,) -> batch means (scalars)."""
    return {name: value.mean() for name, value in terms.items()}


def _mean_or_zero(values: Tensor) -> Tensor:
    """Mean of a possibly empty (n,) tensor; 0 for an empty one (instead of NaN)."""
    return values.mean() if values.numel() > 0 else values.new_zeros(())


# --------------------------------------------------------------------------------------------
# Pretraining objectives (Sec. 4).
def _log_q_alpha_per_output(
    outputs: list[Tensor], target: Tensor, weights: Tensor | None, logvar: Tensor | float
) -> list[Tensor]:
    """Eq. 28 at the annotation for each supervised output of α, each (B,)."""
    weight = _joint_weight(weights, target)
    per_output = []
    for i, mean in enumerate(outputs):
        _check_shape(f"alpha output {i}", mean, target.shape)
        per_output.append(gaussian_log_prob(target, mean, logvar, weight=weight))  # (B,)
    return per_output


def recognizer_objective(
    stacks: Tensor | Sequence[Tensor],
    target: Tensor,
    weights: Tensor | None = None,
    logvar: Tensor | float = ALPHA_LOGVAR,
    alpha_supervision: str = "all_outputs",
) -> dict[str, Tensor]:
    """Eq. 30: log q_α(s | x) at the annotation, σ²_α fixed (0.01 in the paper).

    For a stacked hourglass the log-density of every stack is summed (intermediate supervision)
    unless ``alpha_supervision="last_output"``. Joints with weight 0 (not annotated) are left
    out: their heatmap channels do not enter the sum. Sum over dimensions, mean over the batch.

    Args:
        stacks: (B, K, h, w) heatmaps, or a list of them (one per stack).
        target: (B, K, h, w) annotated heatmaps s_n.
        weights: (B, K) joint weights (0 = left out); None weighs every joint 1.
        logvar: log σ²_α: a float or a tensor broadcastable to (B, K, h, w).
        alpha_supervision: ``"all_outputs"`` (every stack) or ``"last_output"``.

    Returns:
        {"log_q_alpha": Σ over the supervised stacks, "log_q_alpha_stack<i>": per stack (when
        > 1 stack is supervised), "total": = log_q_alpha}.
    """
    outputs = _supervised_outputs(stacks, alpha_supervision)
    per_stack = _log_q_alpha_per_output(outputs, target, weights, logvar)
    terms = {"log_q_alpha": torch.stack(per_stack).sum(0)}
    if len(per_stack) > 1:
        terms.update({f"log_q_alpha_stack{i}": v for i, v in enumerate(per_stack)})
    result = _reduce(terms)
    result["total"] = result["log_q_alpha"]
    return result


def image_vae_objective(
    out: _ImageVAELike, x_star: Tensor, learned_variance: bool = False
) -> dict[str, Tensor]:
    """Eq. 31: log p_θ(x* | s, a, g) − KL(q_β ‖ p(a)) − KL(q_γ ‖ p(g)).

    The paper fixes σ²_θ = 1 for stability, so θ's log-variance branch is ignored unless
    ``learned_variance``. Sum over dimensions, mean over the batch.

    Args:
        out: :class:`~mirrornet.model.ImageVAEOutputs` (or MirrorNetOutputs).
        x_star: (B, 3, h, w) the shrunk image x*.
        learned_variance: use ``out.x_logvar`` instead of σ²_θ = 1.

    Returns:
        {"fidelity", "kl_a", "kl_g", "total"}.
    """
    _check_shape("image_vae_objective: x_star", x_star, out.x_mean.shape)
    logvar = out.x_logvar if learned_variance else _UNIT_LOGVAR
    terms = {
        "fidelity": gaussian_log_prob(x_star, out.x_mean, logvar),
        "kl_a": kl_to_standard_normal(out.a_mean, out.a_logvar),
        "kl_g": kl_to_standard_normal(out.g_mean, out.g_logvar),
    }
    result = _reduce(terms)
    result["total"] = result["fidelity"] - result["kl_a"] - result["kl_g"]
    return result


def pose_vae_objective(
    out: _PoseVAELike, s: Tensor, learned_variance: bool = False, pose_variance: float | None = None
) -> dict[str, Tensor]:
    """Eq. 34: log p_φ(s | z) − KL(q_δ(z | s) ‖ p(z)), with σ²_φ fixed to 1.

    Sum over dimensions, mean over the batch.

    Args:
        out: :class:`~mirrornet.model.PoseVAEOutputs`.
        s: (B, K, h, w) the pose heatmaps that were encoded.
        learned_variance: use ``out.s_rec_logvar`` instead of σ²_φ = 1.
        pose_variance: σ²_φ instead of 1 (``model.pose_variance``, not in the paper); with
            ``learned_variance`` a floor on the decoder's variance instead.

    Returns:
        {"plausibility", "kl_z", "total"}.
    """
    _check_shape("pose_vae_objective: s", s, out.s_rec_mean.shape)
    logvar = _pose_logvar(out.s_rec_logvar, learned_variance, pose_variance)
    terms = {
        "plausibility": gaussian_log_prob(s, out.s_rec_mean, logvar),
        "kl_z": kl_to_standard_normal(out.z_mean, out.z_logvar),
    }
    result = _reduce(terms)
    result["total"] = result["plausibility"] - result["kl_z"]
    return result


def mask_objective(
    w: Tensor, silhouette: Tensor, has_silhouette: Tensor | None = None
) -> dict[str, Tensor]:
    """Training signal of the mask estimator ψ (Sec. 4.2): the mean squared error to silhouettes.

    The error is averaged over pixels and over the samples that have a silhouette; samples
    without one contribute nothing (a batch without any gives 0, with a zero gradient).

    Args:
        w: (B, C, h, w) estimated mask, C = 1 or 3.
        silhouette: (B, 1 or C, h, w) ground-truth mask in [0, 1].
        has_silhouette: (B,) 1 where the sample has a silhouette; None means all.

    Returns:
        {"mse", "total": −mse}.
    """
    if w.shape[0] != silhouette.shape[0] or w.shape[-2:] != silhouette.shape[-2:]:
        raise ValueError(
            f"mask_objective: w {tuple(w.shape)} and silhouette {tuple(silhouette.shape)} do not match"
        )
    w32, sil32 = w.float(), silhouette.float()
    per_sample = (w32 - sil32).pow(2).flatten(1).mean(dim=1)  # (B,)
    if has_silhouette is None:
        keep = torch.ones_like(per_sample)
    else:
        keep = has_silhouette.reshape(-1).to(per_sample.dtype)
        _check_shape("mask_objective: has_silhouette", keep, per_sample.shape)
    mse = (per_sample * keep).sum() / keep.sum().clamp_min(1.0)
    return {"mse": mse, "total": -mse}


# --------------------------------------------------------------------------------------------
# Joint stages (Secs. 3.3-3.5).
def _check_pose_source(pose_source: str) -> None:
    if pose_source not in POSE_SOURCES:
        raise ValueError(f"pose_source must be one of {POSE_SOURCES}, got {pose_source!r}")


def _s_is_annotation(out: MirrorNetOutputs) -> Tensor:
    """(B,) bool: rows of ``out`` whose s is the annotation rather than a sample of q_α."""
    if out.pose_source == "annotation":
        return out.annotated
    return torch.zeros_like(out.annotated)


def _mirror_terms(
    out: MirrorNetOutputs, x_star: Tensor, generator_variance: str, pose_variance: float | None
) -> dict[str, Tensor]:
    """The terms shared by Eqs. 15 and 26, per sample (B,): fidelity, plausibility, three KLs.

    ``generator_variance="fixed"`` evaluates both generators with σ² = 1 (Secs. 4.2, 4.3), so
    their variance branches are unused; ``"learned"`` uses those branches (Figs. 6-7).
    """
    _check_shape("x_star", x_star, out.x_mean.shape)
    x_logvar, s_rec_logvar = _generator_logvars(out, generator_variance, pose_variance)
    return {
        "fidelity": gaussian_log_prob(x_star, out.x_mean, x_logvar),  # log p_θ(x*|s,a,g)
        "plausibility": gaussian_log_prob(out.s_mirror, out.s_rec_mean, s_rec_logvar),  # log p_φ(s|z)
        "kl_a": kl_to_standard_normal(out.a_mean, out.a_logvar),
        "kl_g": kl_to_standard_normal(out.g_mean, out.g_logvar),
        "kl_z": kl_to_standard_normal(out.z_mean, out.z_logvar),
    }


def unlabeled_terms(
    out: MirrorNetOutputs,
    x_star: Tensor | None = None,
    generator_variance: str = "fixed",
    pose_variance: float | None = None,
) -> dict[str, Tensor]:
    """Eq. 15 / 35 per sample: the terms and ``total`` of L^X_n, each of shape (B,).

    L^X_n = log p_θ(x* | s, a, g) + log p_φ(s | z) + H[q_α(s | x)] − KL_a − KL_g − KL_z,
    one Monte Carlo sample of s, a, g, z (Sec. 3.3.2); the entropy is analytic.

    Args:
        out: MirrorNet outputs in which s is a sample of q_α on every row.
        x_star: (B, 3, h, w); None uses ``out.x_star``.
        generator_variance: ``"fixed"`` (σ²_θ = σ²_φ = 1) or ``"learned"``.
        pose_variance: σ²_φ (fixed) or its floor (learned); None: the paper's reading.

    Returns:
        {"fidelity", "plausibility", "entropy", "kl_a", "kl_g", "kl_z", "total"}, each (B,).
    """
    x_star = out.x_star if x_star is None else x_star
    if bool(_s_is_annotation(out).any()):
        raise ValueError(
            "unlabeled bound: some rows of out hold s = annotation (pose_source='annotation'); "
            "Eq. 15 needs s ~ q_alpha(s|x) — use labeled/semi_supervised_elbo for those rows"
        )
    terms = _mirror_terms(out, x_star, generator_variance, pose_variance)
    terms["entropy"] = gaussian_entropy(out.s_logvar, like=out.s_mean)  # H[q_α(s|x)]
    terms["total"] = (
        terms["fidelity"] + terms["plausibility"] + terms["entropy"]
        - terms["kl_a"] - terms["kl_g"] - terms["kl_z"]
    )
    return terms


def labeled_terms(
    out: MirrorNetOutputs,
    x_star: Tensor | None,
    target: Tensor,
    weights: Tensor | None = None,
    lam: float = DEFAULT_LAMBDA,
    pose_source: str = "annotation",
    generator_variance: str = "fixed",
    alpha_supervision: str = "all_outputs",
    pose_variance: float | None = None,
) -> dict[str, Tensor]:
    """Eqs. 26-28 / 36 per sample: the terms and ``total`` of L^{X,S}_{n,λ}, each (B,).

    ``pose_source="annotation"`` (Eqs. 26-27 as written): s is the annotation, so
    total = fidelity + plausibility − KL_a − KL_g − KL_z + λ·log_q_alpha, and α receives a
    gradient only through λ·log q_α(s | x).

    ``pose_source="recognizer"``: fidelity, plausibility and the KLs are evaluated at
    s ~ q_α(s | x) as in Eq. 15, with the entropy H[q_α] of Eq. 15 included (a constant while
    σ_α is fixed), plus λ·log q_α(s_annotated | x); the two mirrors then send gradients to α
    on annotated images too.

    log_q_alpha is Eq. 28 at the annotation under q_α's variance, summed over the outputs of α
    that Eq. 30 supervises (every hourglass stack with ``alpha_supervision="all_outputs"``, the
    last output only with ``"last_output"``); joints with weight 0 are left out.

    Args:
        out: MirrorNet outputs computed with the same ``pose_source``.
        x_star: (B, 3, h, w); None uses ``out.x_star``.
        target: (B, K, h, w) annotated heatmaps.
        weights: (B, K) joint weights (0 = not annotated); None weighs every joint 1.
        lam: λ of Eq. 27.
        pose_source: "annotation" or "recognizer".
        generator_variance: ``"fixed"`` (σ²_θ = σ²_φ = 1) or ``"learned"``.
        alpha_supervision: ``"all_outputs"`` or ``"last_output"``.
        pose_variance: σ²_φ (fixed) or its floor (learned); None: the paper's reading.

    Returns:
        {"fidelity", "plausibility", ["entropy",] "kl_a", "kl_g", "kl_z", "log_q_alpha",
        "total"}, each (B,).
    """
    _check_pose_source(pose_source)
    if not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lam (λ of Eq. 27) must be a finite number ≥ 0, got {lam!r}")
    x_star = out.x_star if x_star is None else x_star
    _check_shape("target", target, out.s_mean.shape)
    from_annotation = _s_is_annotation(out)
    if pose_source == "annotation" and not bool(from_annotation.all()):
        raise ValueError(
            "labeled bound with pose_source='annotation' needs s = annotation on every row, but out "
            f"was computed with pose_source={out.pose_source!r} and annotated="
            f"{out.annotated.tolist()}; call MirrorNet.forward with the same pose_source"
        )
    if pose_source == "recognizer" and bool(from_annotation.any()):
        raise ValueError(
            "labeled bound with pose_source='recognizer' needs s ~ q_alpha on every row, but out was "
            "computed with pose_source='annotation'; call MirrorNet.forward with the same pose_source"
        )
    terms = _mirror_terms(out, x_star, generator_variance, pose_variance)
    total = terms["fidelity"] + terms["plausibility"] - terms["kl_a"] - terms["kl_g"] - terms["kl_z"]
    if pose_source == "recognizer":
        terms["entropy"] = gaussian_entropy(out.s_logvar, like=out.s_mean)
        total = total + terms["entropy"]
    # Eq. 28: log q_α(s_n | x_n) at the annotation, over the outputs Eq. 30 supervises.
    outputs = _supervised_outputs(out.stacks or [out.s_mean], alpha_supervision)
    per_output = _log_q_alpha_per_output(outputs, target, weights, out.s_logvar)
    terms["log_q_alpha"] = torch.stack(per_output).sum(0)
    terms["total"] = total + lam * terms["log_q_alpha"]
    return terms


def unlabeled_elbo(
    out: MirrorNetOutputs,
    x_star: Tensor | None = None,
    generator_variance: str = "fixed",
    pose_variance: float | None = None,
) -> dict[str, Tensor]:
    """Eq. 15 / 35, the bound L^X on an image without annotation.

    fidelity log p_θ(x* | s, a, g) + plausibility log p_φ(s | z) + entropy H[q_α(s | x)]
    − KL(q_β ‖ N(0, I)) − KL(q_γ ‖ N(0, I)) − KL(q_δ ‖ N(0, I)), with s, a, g, z drawn by
    Eqs. 20-23. Sum over dimensions, mean over the batch.

    Args:
        out: outputs of :meth:`MirrorNet.forward` (s sampled on every row).
        x_star: (B, 3, h, w); None uses ``out.x_star``.
        generator_variance: ``"fixed"`` (σ²_θ = σ²_φ = 1) or ``"learned"``.
        pose_variance: σ²_φ (fixed) or its floor (learned); None: the paper's reading.

    Returns:
        {"fidelity", "plausibility", "entropy", "kl_a", "kl_g", "kl_z", "total"}, scalars.
    """
    return _reduce(unlabeled_terms(out, x_star, generator_variance, pose_variance))


def labeled_elbo(
    out: MirrorNetOutputs,
    x_star: Tensor | None,
    target: Tensor,
    weights: Tensor | None = None,
    lam: float = DEFAULT_LAMBDA,
    pose_source: str = "annotation",
    generator_variance: str = "fixed",
    alpha_supervision: str = "all_outputs",
    pose_variance: float | None = None,
) -> dict[str, Tensor]:
    """Eqs. 26-28 / 36, the bound L^{X,S}_λ on annotated images.

    See :func:`labeled_terms` for the two readings selected by ``pose_source``. Sum over
    dimensions, mean over the batch.

    Args:
        out: outputs of :meth:`MirrorNet.forward` with the same ``pose_source``.
        x_star: (B, 3, h, w); None uses ``out.x_star``.
        target: (B, K, h, w) annotated heatmaps.
        weights: (B, K) joint weights; None weighs every joint 1.
        lam: λ of Eq. 27 (0.01 in the paper).
        pose_source: "annotation" (default, Eq. 26-27 as written) or "recognizer".
        generator_variance: ``"fixed"`` (σ²_θ = σ²_φ = 1, default) or ``"learned"``.
        alpha_supervision: ``"all_outputs"`` (default) or ``"last_output"``.
        pose_variance: σ²_φ (fixed) or its floor (learned); None: the paper's reading.

    Returns:
        {"fidelity", "plausibility", ["entropy",] "kl_a", "kl_g", "kl_z", "log_q_alpha",
        "lambda_log_q_alpha", "total"}, scalars.
    """
    result = _reduce(
        labeled_terms(
            out, x_star, target, weights, lam, pose_source, generator_variance, alpha_supervision, pose_variance
        )
    )
    # The λ term as it enters the total (the share through which α is supervised).
    result["lambda_log_q_alpha"] = lam * result["log_q_alpha"]
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


def semi_supervised_elbo(
    out: MirrorNetOutputs,
    x_star: Tensor | None,
    target: Tensor,
    weights: Tensor | None,
    annotated: Tensor,
    lam: float = DEFAULT_LAMBDA,
    pose_source: str = "annotation",
    generator_variance: str = "fixed",
    alpha_supervision: str = "all_outputs",
    pose_variance: float | None = None,
    unlabeled_weight: float = 1.0,
) -> dict[str, Tensor]:
    """Eq. 29: L = Σ_{n annotated} L^{X,S}_{n,λ} + Σ_{n not annotated} L^X_n, over a mixed batch.

    total = (sum of the labelled bounds over annotated rows + w_u × the sum of the unlabelled
    bounds over the other rows) / B, i.e. sum over dimensions, mean over the batch; the paper's
    Eq. 29 is w_u = 1. A weight w_u < 1 (e.g. ramped up from 0, ``train.unlabeled_weight`` and
    ``train.unlabeled_rampup_epochs``) is not in the paper. Terms are logged per
    kind, averaged over the rows of that kind (0 when there are none): "labeled/<term>" and
    "unlabeled/<term>", plus "labeled/total" and "unlabeled/total".

    Args:
        out: outputs of :meth:`MirrorNet.forward` with ``annotated`` and ``pose_source``.
        x_star: (B, 3, h, w); None uses ``out.x_star``.
        target: (B, K, h, w) annotated heatmaps (rows of non-annotated images ignored).
        weights: (B, K) joint weights, or None.
        annotated: (B,) bool/float, 1 for an annotated image.
        lam: λ of Eq. 27.
        pose_source: "annotation" or "recognizer", as passed to MirrorNet.forward.
        generator_variance: ``"fixed"`` (σ²_θ = σ²_φ = 1, default) or ``"learned"``.
        alpha_supervision: ``"all_outputs"`` (default) or ``"last_output"``.
        pose_variance: σ²_φ (fixed) or its floor (learned); None: the paper's reading.
        unlabeled_weight: w_u ≥ 0, the weight of the unlabelled rows' bounds (1 in Eq. 29).

    Returns:
        Dict of scalars: "total", the batch shares and the per-kind terms.
    """
    if not (math.isfinite(unlabeled_weight) and unlabeled_weight >= 0):
        raise ValueError(f"unlabeled_weight must be a finite number >= 0, got {unlabeled_weight!r}")
    _check_pose_source(pose_source)
    batch = out.s_mean.shape[0]
    is_labeled = torch.as_tensor(annotated, device=out.s_mean.device).reshape(-1).float() > 0.5
    _check_shape("annotated", is_labeled, torch.Size([batch]))
    if pose_source == "annotation" and not torch.equal(is_labeled, _s_is_annotation(out)):
        raise ValueError(
            f"semi_supervised_elbo: annotated={is_labeled.tolist()} differs from the rows where "
            f"MirrorNet.forward put s = annotation ({_s_is_annotation(out).tolist()}); pass the "
            "same annotated mask and pose_source to both"
        )
    labeled_rows = is_labeled.nonzero().flatten()
    unlabeled_rows = (~is_labeled).nonzero().flatten()
    weights_sub = None if weights is None else weights[labeled_rows]
    x_star = out.x_star if x_star is None else x_star
    lab = labeled_terms(
        out.select(labeled_rows), x_star[labeled_rows], target[labeled_rows], weights_sub,
        lam, pose_source, generator_variance, alpha_supervision, pose_variance,
    )
    unl = unlabeled_terms(out.select(unlabeled_rows), x_star[unlabeled_rows], generator_variance, pose_variance)
    result = {"total": (lab["total"].sum() + unlabeled_weight * unl["total"].sum()) / batch}
    for term in ("fidelity", "plausibility"):  # as they enter the total (for alpha_grad/<term>)
        result[term] = (lab[term].sum() + unlabeled_weight * unl[term].sum()) / batch
    result["lambda_log_q_alpha"] = lam * lab["log_q_alpha"].sum() / batch
    result.update({f"labeled/{k}": _mean_or_zero(v) for k, v in lab.items()})
    result.update({f"unlabeled/{k}": _mean_or_zero(v) for k, v in unl.items()})
    result["unlabeled_weight"] = torch.tensor(float(unlabeled_weight), device=result["total"].device)
    return result
