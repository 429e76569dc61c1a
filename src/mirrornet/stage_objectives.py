"""What each stage of the curriculum maximises on one training batch (Sections 4, 5.2).

A *stage objective* runs the part of :class:`~mirrornet.model.MirrorNet` that a stage trains on
a batch and returns the named terms of its objective (:mod:`mirrornet.objectives`,
:mod:`mirrornet.bounds`) with ``"total"``, the quantity to maximise. Every one has the same
signature, :data:`StageObjective`::

    terms = step(model, batch, config, epochs_done)   # dict[str, Tensor], "total" included

``epochs_done`` is the fractional number of epochs of the stage done before this step (the
unlabelled weight's ramp reads it). A stage that keeps a state
(:attr:`mirrornet.curriculum.Stage.state`: a teacher, an EMA) passes it to its objectives as a
fifth, keyword argument, ``step(model, batch, config, epochs_done, state=state)``; the objectives
of stages without one are called with the four above only. A stage lists its objectives in
:attr:`mirrornet.curriculum.Stage.objectives`; when it lists several, their totals are summed
(their parameters are disjoint, so each trains as alone): :func:`stage_terms` runs a stage's
objectives on a batch. The terms are logged and saved as ``<name>/<term>``, the name being
:func:`objective_name` (the function's name):

=================  ==================================================================  ==========
objective          what it maximises                                                   paper
=================  ==================================================================  ==========
recognizer         log q_α(s | x) at the annotation, σ²_α as the model holds it        Eq. 30
mask               −MSE(ψ(x*, s), silhouette)                                          Sec. 4.2
image_vae          the image VAE bound with w = ψ's mask (or the silhouette)           Eq. 31
pose_vae           the pose VAE bound                                                  Eq. 34
labeled            the labelled bound on annotated images                              Eq. 27
semi_supervised    the semi-supervised bound on mixed batches                          Eq. 29
=================  ==================================================================  ==========

The pretraining objectives feed ψ, β … φ the pose through :meth:`MirrorNet.mirror_pose`, so the
mirrors see the same kind of pose in every stage (with a pose bottleneck, its re-rendering).

A batch is a mapping of the tensors :class:`~mirrornet.data.PoseDataset` returns (stacked):
``image`` (B, 3, H, W), ``x_star`` (B, 3, h, w), ``heatmaps`` (B, K, h, w), ``joint_weights``
(B, K), ``silhouette`` (B, 1, h, w), ``has_silhouette`` (B,), ``annotated`` (B,).

:func:`alpha_driving_norms` measures which term of a joint bound drives the recognizer α: the
gradient norm into α of its fidelity, plausibility and λ·log q_α terms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

# The maths (and torch) is imported when a step first runs, not here: the curriculum holds these
# functions, and a config check reads the curriculum's stage names without loading torch.
if TYPE_CHECKING:
    from torch import Tensor, nn

    from mirrornet.bounds import BoundSettings
    from mirrornet.config import Config
    from mirrornet.model import MirrorNet

__all__ = [
    "StageObjective",
    "objective_name",
    "bound_settings",
    "recognizer",
    "mask",
    "image_vae",
    "pose_vae",
    "labeled",
    "semi_supervised",
    "stage_terms",
    "alpha_gradient_norms",
    "alpha_driving_norms",
]

#: (model, batch, config, epochs_done[, state=]) -> named terms and "total" (to maximise).
StageObjective = Callable[..., dict[str, "Tensor"]]


def bound_settings(config: Config) -> BoundSettings:
    """The :class:`~mirrornet.bounds.BoundSettings` of a run (``model.lam``,
    ``model.generator_variance``, ``model.alpha_supervision``, ``model.pose_variance``)."""
    from mirrornet.bounds import BoundSettings

    m = config.model
    return BoundSettings(lam=m.lam, generator_variance=m.generator_variance, alpha_supervision=m.alpha_supervision,
                         pose_variance=m.pose_variance)


def objective_name(step: StageObjective) -> str:
    """The name under which ``step``'s terms are logged and saved (``train/<name>/<term>``).

    Args:
        step: a stage objective.

    Returns:
        Its function name, e.g. ``"labeled"``.
    """
    return step.__name__


def recognizer(model: MirrorNet, batch: Mapping[str, Tensor], config: Config, epochs_done: float) -> dict[str, Tensor]:
    """Eq. 30: α alone, log q_α(s | x) at the annotation (σ²_α fixed, or learned).

    Args:
        model: the MirrorNet.
        batch: annotated images (``image``, ``heatmaps``, ``joint_weights``).
        config: the run's config (``model.alpha_supervision``).
        epochs_done: unused.

    Returns:
        :func:`~mirrornet.objectives.recognizer_objective`'s terms.
    """
    return recognizer_terms(model, model.recognize(batch["image"]), batch, config)


def recognizer_terms(model: MirrorNet, stacks: list[Tensor], batch: Mapping[str, Tensor],
                     config: Config) -> dict[str, Tensor]:
    """Eq. 30 at α's heatmaps ``stacks`` (list of (B, K, h, w)) already computed on ``batch["image"]``
    (:func:`recognizer` computes them; ``consistency_mirrors`` reuses its MirrorNet forward's)."""
    from mirrornet.objectives import recognizer_objective

    # q_α's variance is the model's (a buffer, or a parameter with learn_alpha_variance).
    logvar = model.pose_logvar(stacks[-1].float())  # (B, K, h, w)
    return recognizer_objective(
        stacks, batch["heatmaps"], batch["joint_weights"], logvar, alpha_supervision=config.model.alpha_supervision
    )


def mask(model: MirrorNet, batch: Mapping[str, Tensor], config: Config, epochs_done: float) -> dict[str, Tensor]:
    """Sec. 4.2: the mask estimator ψ, mean squared error of ψ(x*, s) to the silhouettes.

    Args:
        model: the MirrorNet.
        batch: images with silhouettes (``x_star``, ``heatmaps``, ``silhouette``,
            ``has_silhouette``).
        config: unused.
        epochs_done: unused.

    Returns:
        :func:`~mirrornet.objectives.mask_objective`'s terms.
    """
    from mirrornet.objectives import mask_objective

    w = model.psi(batch["x_star"], model.mirror_pose(batch["heatmaps"]))  # (B, 1, h, w)
    return mask_objective(w, batch["silhouette"], batch["has_silhouette"])


def image_vae(model: MirrorNet, batch: Mapping[str, Tensor], config: Config, epochs_done: float) -> dict[str, Tensor]:
    """Eq. 31: the pose-conditioned image VAE (β, γ, θ), x* split by a mask (Eqs. 32-33).

    The mask is ψ's estimate from x* and s, as Sec. 4.2 defines w (ψ is pretrained before this
    stage and frozen; w is a constant here). With ``model.pretrain_mask_source="silhouette"``
    the ground-truth silhouette replaces it on the images that have one.

    Args:
        model: the MirrorNet.
        batch: annotated images (``x_star``, ``heatmaps``, ``silhouette``, ``has_silhouette``).
        config: the run's config (``model.pretrain_mask_source``).
        epochs_done: unused.

    Returns:
        :func:`~mirrornet.objectives.image_vae_objective`'s terms (σ²_θ = 1).
    """
    import torch

    from mirrornet.objectives import image_vae_objective

    x_star, s = batch["x_star"], model.mirror_pose(batch["heatmaps"])  # (B, 3, h, w), (B, K, h, w)
    with torch.no_grad():
        w = model.estimate_mask(x_star, s, freeze_psi=True, mask_pose_gradient=False)  # (B, 1, h, w)
    if config.model.pretrain_mask_source == "silhouette":
        has = batch["has_silhouette"].view(-1, 1, 1, 1) > 0.5
        w = torch.where(has, batch["silhouette"].expand_as(w), w)
    return image_vae_objective(model.image_vae(x_star, s, w), x_star)


def pose_vae(model: MirrorNet, batch: Mapping[str, Tensor], config: Config, epochs_done: float) -> dict[str, Tensor]:
    """Eq. 34: the pose VAE (δ, φ) on the annotated poses.

    Args:
        model: the MirrorNet.
        batch: annotated images (``heatmaps``).
        config: the run's config (``model.pose_variance``).
        epochs_done: unused.

    Returns:
        :func:`~mirrornet.objectives.pose_vae_objective`'s terms (σ²_φ = 1 unless
        ``model.pose_variance``).
    """
    from mirrornet.objectives import pose_vae_objective

    s = model.mirror_pose(batch["heatmaps"])  # (B, K, h, w)
    return pose_vae_objective(model.pose_vae(s), s, pose_variance=config.model.pose_variance)


def labeled(model: MirrorNet, batch: Mapping[str, Tensor], config: Config, epochs_done: float) -> dict[str, Tensor]:
    """Eq. 27: every net but ψ, the labelled bound on annotated images (supervised MirrorNet).

    Args:
        model: the MirrorNet.
        batch: annotated images (``image``, ``x_star``, ``heatmaps``, ``joint_weights``).
        config: the run's config (``model.pose_source``, ``lam``, ``generator_variance``,
            ``alpha_supervision``, ``pose_variance``).
        epochs_done: unused.

    Returns:
        :func:`~mirrornet.bounds.labeled_elbo`'s terms.
    """
    from mirrornet.bounds import labeled_elbo

    out = model(batch["image"], batch["x_star"], s_annotated=batch["heatmaps"], pose_source=config.model.pose_source)
    return labeled_elbo(out, batch["heatmaps"], batch["joint_weights"], bound_settings(config))


def semi_supervised(
    model: MirrorNet, batch: Mapping[str, Tensor], config: Config, epochs_done: float
) -> dict[str, Tensor]:
    """Eq. 29: every net but ψ, the semi-supervised bound on a mixed batch.

    The unlabelled rows are weighted by :func:`~mirrornet.bounds.unlabeled_weight_at` after
    ``epochs_done`` epochs (``train.unlabeled_weight``, ``train.unlabeled_rampup_epochs``; 1
    throughout in the paper).

    Args:
        model: the MirrorNet.
        batch: a mixed batch (``image``, ``x_star``, ``heatmaps``, ``joint_weights``,
            ``annotated``: 1 annotated, 0 not).
        config: the run's config (the keys of :func:`labeled` and the two above).
        epochs_done: fractional epochs of the stage done before this step.

    Returns:
        :func:`~mirrornet.bounds.semi_supervised_elbo`'s terms.
    """
    from mirrornet.bounds import semi_supervised_elbo, unlabeled_weight_at

    t = config.train
    out = model(
        batch["image"], batch["x_star"], s_annotated=batch["heatmaps"], annotated=batch["annotated"],
        pose_source=config.model.pose_source,
    )
    return semi_supervised_elbo(
        out, batch["heatmaps"], batch["joint_weights"], bound_settings(config),
        unlabeled_weight=unlabeled_weight_at(epochs_done, t.unlabeled_weight, t.unlabeled_rampup_epochs),
    )



def stage_terms(
    steps: Sequence[StageObjective], model: MirrorNet, batch: Mapping[str, Tensor], config: Config, epochs_done: float,
    state: nn.Module | None = None,
) -> tuple[dict[str, Tensor], Tensor]:
    """A stage's objectives on one batch: their named terms and the sum of their totals.

    Args:
        steps: the stage's objectives (:attr:`mirrornet.curriculum.Stage.objectives`).
        model / batch / config / epochs_done: as for every stage objective.
        state: the stage's :class:`~mirrornet.stage_state.StageState`, passed on as ``state=``
            (None: the objectives are called without it).

    Returns:
        ``<name>/<term>`` → value for every term of every objective, and the sum of their
        ``total`` (the quantity to maximise; loss = −sum).
    """
    terms: dict[str, Tensor] = {}
    total = None
    for step in steps:
        name = objective_name(step)
        out = step(model, batch, config, epochs_done) if state is None else step(
            model, batch, config, epochs_done, state=state
        )
        for term, value in out.items():
            terms[f"{name}/{term}"] = value
        total = out["total"] if total is None else total + out["total"]
    return terms, total


def alpha_gradient_norms(alpha: nn.Module, terms: Mapping[str, Tensor]) -> dict[str, float]:
    """The L2 norm of the gradient of each term of ``terms`` w.r.t. α's trainable parameters.

    Tells which term of the bound drives the recognizer (fidelity, plausibility or λ·log q_α).
    The graph is kept, so the training step's own backward pass still runs afterwards.

    Args:
        alpha: the recognizer.
        terms: name → scalar term that depends on α's outputs.

    Returns:
        name → gradient norm (0.0 for a term that does not reach α).
    """
    import torch

    params = [p for p in alpha.parameters() if p.requires_grad]
    norms: dict[str, float] = {}
    for name, value in terms.items():
        if not params or not value.requires_grad:
            norms[name] = 0.0
            continue
        grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        squares = [g.detach().float().pow(2).sum() for g in grads if g is not None]
        norms[name] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
    return norms


def alpha_driving_norms(
    alpha: nn.Module, steps: Sequence[StageObjective], terms: Mapping[str, Tensor]
) -> list[tuple[str, float]]:
    """The gradient norm into α of each term that drives it, objective by objective.

    Args:
        alpha: the recognizer.
        steps: the stage's objectives.
        terms: :func:`stage_terms`'s named terms.

    Returns:
        (term, norm) for each of ``mirrornet.objectives.ALPHA_DRIVING_TERMS`` that an objective
        of ``steps`` returns, in the objectives' order; empty for the α-only objectives, whose
        gradient into α is the loss's own.
    """
    from mirrornet.objectives import ALPHA_DRIVING_TERMS

    pairs: list[tuple[str, float]] = []
    for name in map(objective_name, steps):
        driving = {t: terms[f"{name}/{t}"] for t in ALPHA_DRIVING_TERMS if f"{name}/{t}" in terms}
        if driving:
            pairs.extend(alpha_gradient_norms(alpha, driving).items())
    return pairs
