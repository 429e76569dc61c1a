"""Consistency training (PoseCons, Xie et al., ICCV 2021), and MirrorNet's terms on top of it.

Not part of the MirrorNet paper: the field's established way to learn 2-D pose from unannotated
images, offered beside MirrorNet's own semi-supervised bound so that the two can be compared and
combined (``benchmarks.semi_table``).

PoseCons on a mixed batch (annotated and unannotated images in equal numbers):

1. the heatmap loss of Eq. 30 on the annotated rows (``stage_objectives.recognizer``);
2. on the unannotated rows, the *teacher* — the same network, without gradient — predicts heatmaps
   on an **easy view** of the image (scale clip(1 + 0.25·N(0,1), 0.75, 1.25), rotation
   clip(30°·N(0,1), ±60°) with probability 0.6, flip with probability 0.5);
3. the **hard view** is the easy view moved once more by the same distributions (rotation with
   probability 0.8; :class:`~mirrornet.data.views.ComposedView`), with a **joint cutout**: square
   patches zeroed at 5 joints drawn with replacement among the teacher's arg-maxes, carried into
   the hard view, their centres jittered (:func:`joint_cutout`);
4. the student's heatmaps on the hard view are trained toward the teacher's, carried into the hard
   view's frame through the same affine (:func:`mirrornet.codecs.warp_heatmaps`), by the same
   Gaussian log-likelihood as the annotated rows, with weight ``train.consistency_weight`` (1).

No EMA and no confidence threshold, as in the original. ``consistency_dual`` is PoseDual: a second
recognizer of α's architecture, initialised from another seed and trained with α (a trained
:class:`~mirrornet.stage_state.DualPeer`), is α's teacher while α is its teacher; only α is
evaluated. ``consistency_mirrors`` adds, on the
unannotated rows at s ~ q_α(s | x), MirrorNet's **plausibility** term (the pose VAE's bound of α's
pose, plausibility − KL_z, weight ``train.plausibility_weight``) and its **fidelity** term (the
image VAE's bound of x* given the pose, fidelity − KL_a − KL_g, with ψ's mask; weight
``train.fidelity_weight``), while the two VAEs keep learning from the annotated rows (Eqs. 31, 34).
At fidelity weight 0 the image VAE and ψ are not run at all: trained on the annotated rows only,
without gradient into α, they could not change α (skipping them saves their forward and backward).

Choices the paper leaves open here: a cutout patch's side is 1/8 of the crop's shorter side and
its centre moves by up to a quarter of that side; the consistency term covers every stack of α.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from mirrornet.codecs import heatmap_to_input, warp_heatmaps
from mirrornet.config import Config
from mirrornet.data.transforms import TopDownTransform
from mirrornet.data.views import ComposedView, view_affine, view_joint_order
from mirrornet.stage_state import DualPeer

__all__ = [
    "CUTOUT_JOINTS",
    "CUTOUT_SIZE",
    "posecons_views",
    "joint_cutout",
    "heatmap_argmax",
    "agreement",
    "consistency",
    "consistency_dual",
    "consistency_mirrors",
]

#: Joints cut out of each hard view (drawn with replacement).
CUTOUT_JOINTS = 5
#: A cutout patch's side, as a fraction of the crop's shorter side.
CUTOUT_SIZE = 0.125


def posecons_views(config: Config) -> tuple[TopDownTransform, ComposedView]:
    """The easy and the hard view of PoseCons for ``config.data``'s crops (a ``Stage.views`` builder)."""
    d = config.data

    def draw(rotation_prob: float) -> TopDownTransform:
        return TopDownTransform(
            input_size=tuple(d.input_size), heatmap_stride=d.heatmap_stride, augment=True, scale_factor=0.25,
            rotation=30.0, rotation_prob=rotation_prob, flip=True, padding=d.padding, image_backend=d.image_backend,
        )

    return draw(0.6), ComposedView(0, draw(0.8))


def heatmap_argmax(heatmaps: Tensor) -> Tensor:
    """Each channel's arg-max in heatmap pixels (x, y): (B, K, h, w) → (B, K, 2) float."""
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, h * w).argmax(dim=-1)
    return torch.stack([(flat % w).float(), torch.div(flat, w, rounding_mode="floor").float()], dim=-1)


def joint_cutout(images: Tensor, centres: Tensor, num_joints: int = CUTOUT_JOINTS,
                 size: float = CUTOUT_SIZE, generator: torch.Generator | None = None) -> Tensor:
    """Zero square patches of ``images`` at joints drawn with replacement among ``centres``.

    Args:
        images: (B, 3, H, W) normalised crops (0 is the mean colour).
        centres: (B, K, 2) joint positions in the crops' pixels (x, y).
        num_joints: patches per image.
        size: a patch's side as a fraction of the crop's shorter side (at least one pixel).
        generator: the source of the draws (default: torch's global generator).

    Returns:
        A copy of ``images`` with the patches zeroed.
    """
    b, _, h, w = images.shape
    if num_joints <= 0:
        return images.clone()
    side = max(1, int(round(size * min(h, w))))
    picks = torch.randint(centres.shape[1], (b, num_joints), generator=generator)
    jitter = (torch.rand(b, num_joints, 2, generator=generator) - 0.5) * (side / 2.0)
    chosen = torch.gather(centres.detach().float().cpu(), 1, picks[..., None].expand(b, num_joints, 2)) + jitter
    ys, xs = torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32)
    half = side / 2.0
    inside_x = (xs[None, None, :] - chosen[..., 0:1]).abs() < half  # (B, J, W)
    inside_y = (ys[None, None, :] - chosen[..., 1:2]).abs() < half  # (B, J, H)
    patches = (inside_y[..., :, None] & inside_x[..., None, :]).any(dim=1)  # (B, H, W)
    return images * (~patches).to(images.device, images.dtype)[:, None]


def _hard_targets(teacher_net: Callable[[Tensor], list[Tensor]], batch: Mapping[str, Tensor],
                  rows: Tensor) -> tuple[Tensor, Tensor]:
    """The cut-out hard views of ``rows`` and the teacher's heatmaps carried into their frame.

    The teacher (``teacher_net``: image → stacks) runs on the easy views without gradient: α itself
    in PoseCons (no EMA), the other network in PoseDual.
    """
    views = batch["views"][rows]  # (R, 2, 3, H, W)
    affines, orders = batch["view_heatmap_affines"][rows], batch["view_joint_orders"][rows]
    with torch.no_grad():
        teacher = teacher_net(views[:, 0])[-1].float()  # (R, K, h, w), easy view's frame
        easy_to_hard = view_affine(affines, 0, 1).to(teacher.device)
        target = warp_heatmaps(teacher, easy_to_hard, joint_order=view_joint_order(orders, 0, 1))
        peaks = heatmap_argmax(teacher).double()  # easy heatmap pixels
        peaks = peaks @ easy_to_hard[:, :, :2].transpose(1, 2).double() + easy_to_hard[:, None, :, 2].double()
        stride = views.shape[-1] // teacher.shape[-1]
        hard = joint_cutout(views[:, 1], heatmap_to_input(peaks, stride), num_joints=CUTOUT_JOINTS)
    return hard, target.detach()


def agreement(stacks: list[Tensor], target: Tensor, logvar: Tensor, alpha_supervision: str) -> Tensor:
    """The PoseCons term per image (R,): −Σ (α's heatmaps − target)² / (2σ²_α) over the supervised
    stacks, joints and pixels — Eq. 30's squared error at the same scale, without its constant, so
    that it is 0 exactly when the student reproduces the target."""
    from mirrornet.objectives import _supervised_outputs

    precision = torch.exp(-logvar.float())  # (R, K, h, w)
    return sum(-0.5 * ((h.float() - target) ** 2 * precision).sum(dim=(1, 2, 3))
               for h in _supervised_outputs(stacks, alpha_supervision))


def _consistency_terms(model, batch: Mapping[str, Tensor], config: Config,
                       stacks: list[Tensor] | None = None) -> dict[str, Tensor]:
    """Eq. 30 on the annotated rows plus the weighted PoseCons term on the unannotated rows; α's
    heatmaps on ``batch["image"]`` are ``stacks`` when a forward already computed them."""
    from mirrornet.stage_objectives import recognizer, recognizer_terms

    terms = recognizer(model, batch, config, 0.0) if stacks is None else recognizer_terms(model, stacks, batch, config)
    consistency_term = _teaching_term(model, model.recognize, model.recognize, batch, config)
    weighted = config.train.consistency_weight * consistency_term
    return {"supervised": terms["total"], "consistency": consistency_term, "total": terms["total"] + weighted}


def _teaching_term(model, student: Callable[[Tensor], list[Tensor]], teacher: Callable[[Tensor], list[Tensor]],
                   batch: Mapping[str, Tensor], config: Config) -> Tensor:
    """The PoseCons term of ``student`` taught by ``teacher`` on the unannotated rows (a scalar;
    0 without any): the teacher's heatmaps from the easy view, the student's from the cut-out
    hard view. σ²_α is ``model``'s."""
    rows = batch["annotated"] < 0.5
    if not bool(rows.any()):
        return batch["image"].new_zeros((), dtype=torch.float32)
    hard, target = _hard_targets(teacher, batch, rows)
    stacks = student(hard)
    per_image = agreement(stacks, target, model.pose_logvar(stacks[-1].float()), config.model.alpha_supervision)
    # A sum over the unannotated rows divided by the batch size, as Eq. 30's mean counts the
    # annotated rows (the others have zero weights there): each image weighs the same.
    return per_image.sum() / rows.numel()


def consistency(model, batch: Mapping[str, Tensor], config: Config, epochs_done: float) -> dict[str, Tensor]:
    """PoseCons on a mixed batch with two views per item (see the module docstring).

    Returns:
        {"supervised": Eq. 30 on the annotated rows, "consistency": the agreement term on the
        unannotated rows, "total": supervised + ``train.consistency_weight`` × consistency}.
    """
    return _consistency_terms(model, batch, config)


def consistency_dual(model, batch: Mapping[str, Tensor], config: Config, epochs_done: float,
                     state: DualPeer) -> dict[str, Tensor]:
    """PoseDual: α and a second recognizer (``state``, a :class:`~mirrornet.stage_state.DualPeer`)
    each learn from the annotated rows and from the *other* network's heatmaps on the easy view,
    carried into its own cut-out hard view (the cutout at the teacher's arg-maxes).

    Each network's objective is PoseCons's with the other as the teacher; the two are summed (their
    parameters are disjoint, so each trains by its own). Only α is evaluated.

    Returns:
        {"supervised" / "consistency": α's terms (as :func:`consistency`'s), "peer_supervised" /
        "peer_consistency": the peer's, "total": the sum of both networks' weighted totals}.
    """
    from mirrornet.stage_objectives import recognizer, recognizer_terms

    alpha_supervised = recognizer(model, batch, config, 0.0)["total"]
    peer_supervised = recognizer_terms(model, state(batch["image"]), batch, config)["total"]
    alpha_taught = _teaching_term(model, model.recognize, state, batch, config)
    peer_taught = _teaching_term(model, state, model.recognize, batch, config)
    w = config.train.consistency_weight
    total = alpha_supervised + w * alpha_taught + peer_supervised + w * peer_taught
    return {"supervised": alpha_supervised, "consistency": alpha_taught, "peer_supervised": peer_supervised,
            "peer_consistency": peer_taught, "total": total}


def consistency_mirrors(model, batch: Mapping[str, Tensor], config: Config, epochs_done: float) -> dict[str, Tensor]:
    """PoseCons plus MirrorNet's plausibility and fidelity terms on the unannotated rows.

    The mirrors see s = the annotation on the annotated rows (where they keep learning Eqs. 31 and
    34, without gradient into α) and s ~ q_α(s | x) on the others, where their bounds, weighted by
    ``train.plausibility_weight`` and ``train.fidelity_weight``, reach α through s.

    Returns:
        The terms of :func:`consistency` plus ``plausibility`` and ``fidelity`` (the unannotated
        rows' bounds), ``mirrors_annotated`` (the VAEs' bounds on the annotated rows).
    """
    from mirrornet.bounds import mirror_terms
    from mirrornet.stage_objectives import bound_settings

    t, settings = config.train, bound_settings(config)
    # At fidelity weight 0 the image VAE cannot reach α (it learns from the annotated rows only,
    # without gradient into α), so it is not run: the plausibility arm costs a pose VAE, not both.
    out = model(batch["image"], batch["x_star"], s_annotated=batch["heatmaps"], annotated=batch["annotated"],
                pose_source="annotation", image_mirror=t.fidelity_weight != 0)
    # α's forward is the MirrorNet forward's, not a second pass over the same images.
    terms = _consistency_terms(model, batch, config, stacks=out.stacks)
    mirrors = mirror_terms(out, settings.generator_variance, settings.pose_variance)  # each (B,)
    image_bound = mirrors["fidelity"] - mirrors["kl_a"] - mirrors["kl_g"]
    pose_bound = mirrors["plausibility"] - mirrors["kl_z"]
    annotated = batch["annotated"].to(image_bound.dtype)
    # Means over the whole batch, each row counted in its own term (as _consistency_terms does).
    on_annotated = ((image_bound + pose_bound) * annotated).mean()
    plausibility = (pose_bound * (1.0 - annotated)).mean()
    fidelity = (image_bound * (1.0 - annotated)).mean()
    total = terms["total"] + on_annotated + t.plausibility_weight * plausibility + t.fidelity_weight * fidelity
    return {**terms, "mirrors_annotated": on_annotated, "plausibility": plausibility, "fidelity": fidelity,
            "total": total}
