"""The objectives of MirrorNet's sub-networks, one function per equation (Sec. 4, Appendix A).

Every ``*_objective`` returns a dict of named terms and ``"total"``, the bound to *maximise*
(``loss = -out["total"]``). Each term is a positive log-quantity or KL, summed over its
dimensions and averaged over the batch, so it can be logged as is; ``*_terms`` give the same
terms per sample, (B,), for the joint bounds that add them up (:mod:`mirrornet.bounds`,
Eqs. 15, 26-29):

========================  ==========================================================  ========
function                  bound                                                       paper
========================  ==========================================================  ========
recognizer_objective      log q_α(s | x), σ²_α = 0.01, summed over α's outputs        Eq. 30
image_vae_objective       log p_θ(x* | s, a, g) − KL_a − KL_g, σ²_θ = 1               Eq. 31
pose_vae_objective        log p_φ(s | z) − KL_z, σ²_φ = 1                             Eq. 34
mask_objective            −MSE(w, silhouette)                                         Sec. 4.2
========================  ==========================================================  ========

Term names: ``fidelity`` = log p_θ(x* | s, a, g); ``plausibility`` = log p_φ(s | z);
``entropy`` = H[q_α(s | x)]; ``kl_a``, ``kl_g``, ``kl_z`` = KL of q_β, q_γ, q_δ to N(0, I);
``log_q_alpha`` = log q_α(s | x) at the annotation (Eq. 28, before the factor λ).

Readings that are config keys (docs/model.md):

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

import torch
from torch import Tensor

from mirrornet import choices
from mirrornet.distributions import gaussian_log_prob, kl_to_standard_normal
from mirrornet.outputs import ImageVAEOutputs, PoseVAEOutputs

__all__ = [
    "ALPHA_DRIVING_TERMS",
    "ALPHA_LOGVAR",
    "ALPHA_SUPERVISIONS",
    "GENERATOR_VARIANCES",
    "DEFAULT_LAMBDA",
    "batch_means",
    "recognizer_terms",
    "recognizer_objective",
    "image_vae_terms",
    "image_vae_objective",
    "pose_vae_terms",
    "pose_vae_objective",
    "mask_objective",
]

#: log σ²_α with σ²_α = 0.01, the recognizer's fixed variance (Sec. 4.1).
ALPHA_LOGVAR: float = math.log(choices.DEFAULT_ALPHA_VARIANCE)
#: λ of Eq. 27 (the paper uses 0.01 in all experiments).
DEFAULT_LAMBDA: float = choices.DEFAULT_LAMBDA
#: log σ² = 0, i.e. σ²_θ = σ²_φ = 1 (Secs. 4.2, 4.3: "fixed to 1 for stability").
_UNIT_LOGVAR: float = 0.0
#: Readings of the generators' variances σ²_θ, σ²_φ (``model.generator_variance``).
GENERATOR_VARIANCES: tuple[str, ...] = choices.GENERATOR_VARIANCES
#: The terms of the joint bounds through which α is trained, under the names each joint
#: objective returns them as they enter its total (the entropy H[q_α] is constant while σ_α is
#: fixed). Their gradient norms into α are logged as ``alpha_grad/<term>``.
ALPHA_DRIVING_TERMS: tuple[str, ...] = ("fidelity", "plausibility", "lambda_log_q_alpha")
#: Which outputs of α the Gaussian log q_α(s | x) supervises (``model.alpha_supervision``).
ALPHA_SUPERVISIONS: tuple[str, ...] = choices.ALPHA_SUPERVISIONS


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


def batch_means(terms: dict[str, Tensor]) -> dict[str, Tensor]:
    """Per-sample terms, each (B,), to their batch means (scalars): "mean over the batch".

    Args:
        terms: name → (B,) tensor.

    Returns:
        name → 0-dim tensor.
    """
    return {name: value.mean() for name, value in terms.items()}


# --------------------------------------------------------------------------------------------
# The objective of each sub-network (Sec. 4), per sample (``*_terms``) and batch-averaged.
def recognizer_terms(
    stacks: Tensor | Sequence[Tensor],
    target: Tensor,
    weights: Tensor | None = None,
    logvar: Tensor | float = ALPHA_LOGVAR,
    alpha_supervision: str = choices.DEFAULT_ALPHA_SUPERVISION,
) -> dict[str, Tensor]:
    """Eq. 28 at the annotation, per sample: log q_α(s | x) summed over the outputs of α that
    Eq. 30 supervises. Arguments as :func:`recognizer_objective`.

    Returns:
        {"log_q_alpha", and "log_q_alpha_stack<i>" per stack when > 1 is supervised}, each (B,).
    """
    outputs = _supervised_outputs(stacks, alpha_supervision)
    weight = _joint_weight(weights, target)  # (B, K, 1, 1) or None
    per_stack = []
    for i, mean in enumerate(outputs):
        _check_shape(f"alpha output {i}", mean, target.shape)
        per_stack.append(gaussian_log_prob(target, mean, logvar, weight=weight))  # (B,)
    terms = {"log_q_alpha": torch.stack(per_stack).sum(0)}
    if len(per_stack) > 1:
        terms.update({f"log_q_alpha_stack{i}": v for i, v in enumerate(per_stack)})
    return terms


def recognizer_objective(
    stacks: Tensor | Sequence[Tensor],
    target: Tensor,
    weights: Tensor | None = None,
    logvar: Tensor | float = ALPHA_LOGVAR,
    alpha_supervision: str = choices.DEFAULT_ALPHA_SUPERVISION,
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
    result = batch_means(recognizer_terms(stacks, target, weights, logvar, alpha_supervision))
    result["total"] = result["log_q_alpha"]
    return result


def image_vae_terms(out: ImageVAEOutputs, x_star: Tensor, learned_variance: bool = False) -> dict[str, Tensor]:
    """Eq. 31 per sample: log p_θ(x* | s, a, g), KL(q_β ‖ p(a)), KL(q_γ ‖ p(g)), each (B,), and
    ``total`` = fidelity − KL_a − KL_g, one Monte Carlo sample of a and g. σ²_θ as in
    :func:`image_vae_objective`.

    Args:
        out: :class:`~mirrornet.outputs.ImageVAEOutputs` (``MirrorNet.image_vae``, or the
            ``image`` part of a forward pass).
        x_star: (B, 3, h, w) the shrunk image x*.
        learned_variance: use ``out.x_logvar`` instead of σ²_θ = 1.

    Returns:
        {"fidelity", "kl_a", "kl_g", "total"}, each (B,).
    """
    _check_shape("x_star", x_star, out.x_mean.shape)
    logvar = out.x_logvar if learned_variance else _UNIT_LOGVAR
    terms = {
        "fidelity": gaussian_log_prob(x_star, out.x_mean, logvar),  # log p_θ(x* | s, a, g)
        "kl_a": kl_to_standard_normal(out.a_mean, out.a_logvar),
        "kl_g": kl_to_standard_normal(out.g_mean, out.g_logvar),
    }
    terms["total"] = terms["fidelity"] - terms["kl_a"] - terms["kl_g"]
    return terms


def image_vae_objective(
    out: ImageVAEOutputs, x_star: Tensor, learned_variance: bool = False
) -> dict[str, Tensor]:
    """Eq. 31: log p_θ(x* | s, a, g) − KL(q_β ‖ p(a)) − KL(q_γ ‖ p(g)).

    The paper fixes σ²_θ = 1 for stability, so θ's log-variance branch is ignored unless
    ``learned_variance``. Sum over dimensions, mean over the batch (per sample:
    :func:`image_vae_terms`).

    Args:
        out: :class:`~mirrornet.outputs.ImageVAEOutputs`.
        x_star: (B, 3, h, w) the shrunk image x*.
        learned_variance: use ``out.x_logvar`` instead of σ²_θ = 1.

    Returns:
        {"fidelity", "kl_a", "kl_g", "total"}.
    """
    terms = image_vae_terms(out, x_star, learned_variance)
    result = batch_means({name: terms[name] for name in ("fidelity", "kl_a", "kl_g")})
    result["total"] = result["fidelity"] - result["kl_a"] - result["kl_g"]
    return result


def pose_vae_terms(
    out: PoseVAEOutputs, s: Tensor, learned_variance: bool = False, pose_variance: float | None = None
) -> dict[str, Tensor]:
    """Eq. 34 per sample: log p_φ(s | z) and KL(q_δ(z | s) ‖ p(z)), each (B,), and ``total`` =
    plausibility − KL_z, one Monte Carlo sample of z. σ²_φ as in :func:`pose_vae_objective`.

    Args:
        out: :class:`~mirrornet.outputs.PoseVAEOutputs` (``MirrorNet.pose_vae``, or the
            ``pose`` part of a forward pass).
        s: (B, K, h, w) the pose heatmaps that were encoded.
        learned_variance: use ``out.s_rec_logvar`` instead of σ²_φ = 1.
        pose_variance: σ²_φ instead of 1; with ``learned_variance`` a floor on the decoder's.

    Returns:
        {"plausibility", "kl_z", "total"}, each (B,).
    """
    _check_shape("s", s, out.s_rec_mean.shape)
    logvar = _pose_logvar(out.s_rec_logvar, learned_variance, pose_variance)
    terms = {
        "plausibility": gaussian_log_prob(s, out.s_rec_mean, logvar),  # log p_φ(s | z)
        "kl_z": kl_to_standard_normal(out.z_mean, out.z_logvar),
    }
    terms["total"] = terms["plausibility"] - terms["kl_z"]
    return terms


def pose_vae_objective(
    out: PoseVAEOutputs, s: Tensor, learned_variance: bool = False, pose_variance: float | None = None
) -> dict[str, Tensor]:
    """Eq. 34: log p_φ(s | z) − KL(q_δ(z | s) ‖ p(z)), with σ²_φ fixed to 1.

    Sum over dimensions, mean over the batch (per sample: :func:`pose_vae_terms`).

    Args:
        out: :class:`~mirrornet.outputs.PoseVAEOutputs`.
        s: (B, K, h, w) the pose heatmaps that were encoded.
        learned_variance: use ``out.s_rec_logvar`` instead of σ²_φ = 1.
        pose_variance: σ²_φ instead of 1 (``model.pose_variance``, not in the paper); with
            ``learned_variance`` a floor on the decoder's variance instead.

    Returns:
        {"plausibility", "kl_z", "total"}.
    """
    terms = pose_vae_terms(out, s, learned_variance, pose_variance)
    result = batch_means({name: terms[name] for name in ("plausibility", "kl_z")})
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
