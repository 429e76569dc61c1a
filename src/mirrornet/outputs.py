"""What :class:`mirrornet.model.MirrorNet` returns: the samples and the parameters of every
Gaussian of Fig. 2 that the bounds read (:mod:`mirrornet.objectives`).

The nesting follows the model's p/q structure. :class:`MirrorNetOutputs` holds the recognizer's
side, q_α(s | x) (Eq. 11) and the pose s it gives (Eq. 20), and the two generative mirrors of s,
each with its own posteriors and likelihood:

* :class:`ImageVAEOutputs` — the mask split of x* (Eqs. 32-33), q_β(a | s, x) and q_γ(g | s, x)
  (Eqs. 12-13, samples Eqs. 21-22) and p_θ(x* | s, a, g) (Eq. 2);
* :class:`PoseVAEOutputs` — q_δ(z | s) (Eq. 14, sample Eq. 23) and p_φ(s | z) (Eq. 3).

Each class can ``select`` some samples of the batch (the semi-supervised bound, Eq. 29, splits a
mixed batch into its annotated and non-annotated rows this way).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from torch import Tensor

__all__ = ["ImageVAEOutputs", "PoseVAEOutputs", "MirrorNetOutputs"]


def _index_batch(value: object, index: Tensor) -> object:
    """Selects samples of a batched field: tensors and lists of tensors are indexed on dim 0,
    nested outputs select their own fields."""
    if isinstance(value, _BatchSelectable):
        return value.select(index)
    if isinstance(value, Tensor):
        return value[index] if value.dim() > 0 else value
    if isinstance(value, list):
        return [_index_batch(v, index) for v in value]
    return value


class _BatchSelectable:
    """Mixin: ``select(index)`` returns the same outputs restricted to some samples."""

    def select(self, index: Tensor):  # noqa: ANN201 - returns the dataclass' own type
        """Returns a copy holding only the samples ``index`` (a (B,) bool mask or int indices).

        Args:
            index: boolean mask (B,) or integer indices into the batch.

        Returns:
            The same dataclass with every batched tensor indexed on dimension 0.
        """
        changes = {f.name: _index_batch(getattr(self, f.name), index) for f in fields(self)}
        return replace(self, **changes)


@dataclass
class ImageVAEOutputs(_BatchSelectable):
    """The pose-conditioned image VAE (β, γ, θ) on one batch, Eqs. 12-13, 21-22, 31-33.

    Attributes:
        w: mask used to split x*, (B, 1 or 3, h, w) in [0, 1].
        x_fg: foreground x* ⊙ w, (B, 3, h, w), Eq. 32.
        x_bg: background x* ⊙ (1 − w), (B, 3, h, w), Eq. 33.
        a_mean, a_logvar: parameters of q_β(a | s, x), (B, D_a, h', w').
        a: sample of q_β, Eq. 21 (its mean when ``MirrorNet.image_vae(use_mean=True)``).
        g_mean, g_logvar: parameters of q_γ(g | s, x).
        g: sample of q_γ, Eq. 22 (likewise).
        x_mean, x_logvar: parameters of p_θ(x* | s, a, g), (B, 3, h, w), Eq. 2.
    """

    w: Tensor
    x_fg: Tensor
    x_bg: Tensor
    a_mean: Tensor
    a_logvar: Tensor
    a: Tensor
    g_mean: Tensor
    g_logvar: Tensor
    g: Tensor
    x_mean: Tensor
    x_logvar: Tensor


@dataclass
class PoseVAEOutputs(_BatchSelectable):
    """The pose VAE (δ, φ) on one batch, Eqs. 14, 23, 34.

    Attributes:
        z_mean, z_logvar: parameters of q_δ(z | s), (B, D_z, h', w').
        z: sample of q_δ, Eq. 23 (its mean when ``MirrorNet.pose_vae(use_mean=True)``).
        s_rec_mean, s_rec_logvar: parameters of p_φ(s | z), (B, K, h, w), Eq. 3.
    """

    z_mean: Tensor
    z_logvar: Tensor
    z: Tensor
    s_rec_mean: Tensor
    s_rec_logvar: Tensor


@dataclass
class MirrorNetOutputs(_BatchSelectable):
    """Everything the bounds of the joint stages need (Eqs. 15, 26-29), one batch.

    The recognizer's side, q_α(s | x) and the pose s it gives, is held at the top level; the two
    generative mirrors of s are nested, each with its own posterior and likelihood: ``image``
    (q_β, q_γ, p_θ and the mask split) and ``pose`` (q_δ, p_φ).

    Attributes:
        stacks: every output of α (one per hourglass stack; one element otherwise), (B, K, h, w).
        s_mean: μ_α(x) = the last stack, (B, K, h, w), Eq. 11.
        s_logvar: log σ²_α, broadcast to (B, K, h, w) (an expanded view, no copy).
        s: the pose of the bound: a sample of q_α (Eq. 20), or the annotation on annotated
            images when ``pose_source == "annotation"``.
        s_mirror: the pose the mirrors see (ψ, θ, δ and the plausibility term): ``s`` itself
            without a pose bottleneck; else the bottleneck applied to the annotation or μ_α.
        annotated: (B,) bool, which images carry an annotation.
        pose_source: "annotation" or "recognizer": where s came from on annotated images.
        x_star: x*, the image at heatmap resolution, (B, 3, h, w).
        image: the image VAE on (x*, s_mirror): w = ψ(x*, s_mirror), x_fg, x_bg (Eqs. 32-33),
            q_β, q_γ and their samples (Eqs. 12-13, 21-22), p_θ(x* | s, a, g) (Eq. 2); None
            when the forward skipped the image mirror (``image_mirror=False``).
        pose: the pose VAE on s_mirror: q_δ and its sample (Eqs. 14, 23), p_φ(s | z) (Eq. 3).
    """

    stacks: list[Tensor]
    s_mean: Tensor
    s_logvar: Tensor
    s: Tensor
    s_mirror: Tensor
    annotated: Tensor
    pose_source: str
    x_star: Tensor
    image: ImageVAEOutputs | None
    pose: PoseVAEOutputs
