"""MirrorNet: the recognizer α wired to the pose VAE (δ, φ) and the pose-conditioned image VAE
(β, γ, θ, with the mask estimator ψ) — Section 3 and Section 4 of the paper.

The module knows no objective: it draws the samples of Eqs. 16-23 and returns the parameters of
every Gaussian the bounds need (Eqs. 2-3, 11-14, 32-33), grouped as in :mod:`mirrornet.outputs`
(q_α at the top, the image VAE under ``out.image``, the pose VAE under ``out.pose``);
:mod:`mirrornet.objectives` turns them into the bounds. Forward pass of the joint stages
(Fig. 2), per image n::

    stacks = α(x)                         # recognizer, Eq. 11; last stack = μ_α(x)
    s      = μ_α + ε ⊙ σ_α                # Eq. 20 (or the annotation, Sec. 3.4)
    r      = s, or a re-rendering of s    # what the mirrors see (model.pose_bottleneck)
    w      = ψ(x*, r)                     # mask, Sec. 4.2 (ψ frozen)
    x_fg, x_bg = x* ⊙ w, x* ⊙ (1 − w)     # Eqs. 32-33
    a ~ q_β(a | x_fg), g ~ q_γ(g | x_bg)  # Eqs. 12-13, 21-22
    z ~ q_δ(z | r)                        # Eqs. 14, 23
    μ_θ, log σ²_θ = θ(r, a, g)            # p_θ(x* | s, a, g), Eq. 2
    μ_φ, log σ²_φ = φ(z)                  # p_φ(s | z), Eq. 3

Design decisions (see docs/model.md):

* σ²_α is fixed to 0.01 (Sec. 4.1) unless ``learn_alpha_variance=True``, which adds one learnable
  log-variance per joint.
* ψ is frozen in the joint stages: by default its parameters receive no gradient and it runs in
  eval mode (no BatchNorm statistics are updated), but w stays a differentiable function of s,
  so the reparameterised gradient of the bound w.r.t. α includes the path s → ψ → w → x_fg, x_bg
  → a, g. Dropping that path would bias the pathwise gradient estimator, because q_β and q_γ
  depend on s through w. ``mask_pose_gradient=False`` treats w as a constant instead.
* Without a ``pose_bottleneck`` (the paper) r = s. With one (e.g.
  :class:`mirrornet.pose_bottleneck.CoordinateBottleneck`, not in the paper) r is computed from
  μ_α(x) (or the annotation) through the bottleneck, and ψ, θ, δ and the plausibility term see r:
  the mirrors can then reach α only through the joints' coordinates.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from mirrornet import choices
from mirrornet.distributions import reparameterize
from mirrornet.outputs import ImageVAEOutputs, MirrorNetOutputs, PoseVAEOutputs
from mirrornet.skeleton import NUM_JOINTS

__all__ = [
    "POSE_SOURCES",
    "PoseSource",
    "ImageVAEOutputs",
    "PoseVAEOutputs",
    "MirrorNetOutputs",
    "MirrorNet",
    "shrink_image",
]

PoseSource = Literal["annotation", "recognizer"]
#: Where s comes from on an annotated image in the joint stages (see :meth:`MirrorNet.forward`).
POSE_SOURCES: tuple[str, ...] = choices.POSE_SOURCES


def _check_pose_source(pose_source: str) -> None:
    if pose_source not in POSE_SOURCES:
        raise ValueError(f"pose_source must be one of {POSE_SOURCES}, got {pose_source!r}")


def shrink_image(x: Tensor, size: tuple[int, int]) -> Tensor:
    """x*: the image reduced to the heatmap resolution by area averaging (Sec. 4.2).

    Args:
        x: (B, 3, H, W) image.
        size: (h, w) of the heatmaps.

    Returns:
        (B, 3, h, w).
    """
    return F.adaptive_avg_pool2d(x, tuple(size))


def _pair(value: object, net: str) -> tuple[Tensor, Tensor]:
    """Checks that a Gaussian net returned (mean, logvar) of equal shapes."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f"{net} must return a (mean, logvar) pair, got {type(value).__name__}")
    mean, logvar = value
    if mean.shape != logvar.shape:
        raise ValueError(
            f"{net} returned mean {tuple(mean.shape)} and logvar {tuple(logvar.shape)} of different shapes"
        )
    return mean, logvar


class MirrorNet(nn.Module):
    """The hierarchical VAE of Fig. 2: recognizer α, image VAE (β, γ, θ, ψ), pose VAE (δ, φ).

    Any ``nn.Module`` following the :mod:`mirrornet.nets` contract can fill each role, e.g.
    ``MirrorNet(build_recognizer("hrnet_w32"), **build_vae_nets(VAENetsConfig()))``.

    Args:
        alpha: recognizer, x (B, 3, H, W) -> K heatmaps (B, K, h, w) or a list of them (stacks;
            the last is the prediction); its output is μ_α(x) of q_α(s | x), Eq. 11.
        beta: q_β(a | s, x), x_fg -> (a_mean, a_logvar), Eq. 12.
        gamma: q_γ(g | s, x), x_bg -> (g_mean, g_logvar), Eq. 13.
        delta: q_δ(z | s), s -> (z_mean, z_logvar), Eq. 14.
        theta: p_θ(x* | s, a, g), (s, a, g) -> (x_mean, x_logvar), Eq. 2.
        phi: p_φ(s | z), z -> (s_rec_mean, s_rec_logvar), Eq. 3.
        psi: mask estimator, (x*, s) -> w in [0, 1], Sec. 4.2.
        alpha_logvar: log σ²_α; the paper fixes σ²_α = 0.01 (Sec. 4.1).
        learn_alpha_variance: if True, log σ²_α becomes a learnable parameter, one per joint,
            initialised to ``alpha_logvar`` (not in the paper).
        pose_bottleneck: None (the paper: ψ, θ, δ see s), or a parameter-free module mapping
            (B, K, h, w) heatmaps to the (B, K, h, w) heatmaps the mirrors see (not in the paper;
            see :meth:`mirror_pose`).
        num_joints: K, the number of heatmaps α outputs (16, MPII order).
    """

    def __init__(
        self,
        alpha: nn.Module,
        beta: nn.Module,
        gamma: nn.Module,
        delta: nn.Module,
        theta: nn.Module,
        phi: nn.Module,
        psi: nn.Module,
        alpha_logvar: float = math.log(choices.DEFAULT_ALPHA_VARIANCE),
        learn_alpha_variance: bool = False,
        pose_bottleneck: nn.Module | None = None,
        num_joints: int = NUM_JOINTS,
    ) -> None:
        super().__init__()
        if not math.isfinite(alpha_logvar):
            raise ValueError(f"alpha_logvar must be finite, got {alpha_logvar!r}")
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.delta = delta
        self.theta = theta
        self.phi = phi
        self.psi = psi
        self.pose_bottleneck = pose_bottleneck
        self.num_joints = int(num_joints)
        self.learn_alpha_variance = bool(learn_alpha_variance)
        init = torch.full((self.num_joints,), float(alpha_logvar))  # (K,)
        if self.learn_alpha_variance:
            self.alpha_logvar = nn.Parameter(init)
        else:
            # A buffer, so that it travels with the module and lands in checkpoints.
            self.register_buffer("alpha_logvar", init)

    # ----------------------------------------------------------------------------------------
    # The recognizer and q_α.
    def recognize(self, x: Tensor) -> list[Tensor]:
        """Runs α: the heatmaps of every stack, the last being μ_α(x) (Eq. 11).

        Args:
            x: (B, 3, H, W) normalised images.

        Returns:
            List of (B, K, h, w) tensors (one element for single-output recognizers).
        """
        out = self.alpha(x)
        stacks = list(out) if isinstance(out, (list, tuple)) else [out]
        if not stacks:
            raise ValueError("alpha returned an empty list of heatmaps")
        for i, t in enumerate(stacks):
            if not isinstance(t, Tensor) or t.dim() != 4 or t.shape[1] != self.num_joints:
                shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise ValueError(
                    f"alpha output {i} must be (B, {self.num_joints}, h, w) heatmaps, got {shape}"
                )
        return stacks

    def pose_logvar(self, s_mean: Tensor) -> Tensor:
        """log σ²_α broadcast to ``s_mean``'s shape (an expanded view).

        Args:
            s_mean: (B, K, h, w).

        Returns:
            (B, K, h, w) log-variance of q_α(s | x).
        """
        # Kept in the buffer's precision (float32) even when s_mean is bfloat16 under autocast.
        return self.alpha_logvar.view(1, -1, 1, 1).expand(s_mean.shape)

    def mirror_pose(self, s: Tensor) -> Tensor:
        """The pose as the mirrors (ψ, θ, δ, plausibility) see it: ``s`` itself without a pose
        bottleneck, else the bottleneck's re-rendering of it.

        Every stage that feeds a pose to ψ, β…φ (their pretraining included) goes through here,
        so the mirrors see the same kind of pose in every stage.

        Args:
            s: (B, K, h, w) heatmaps (an annotation or μ_α).

        Returns:
            (B, K, h, w).
        """
        return s if self.pose_bottleneck is None else self.pose_bottleneck(s)

    # ----------------------------------------------------------------------------------------
    # The two VAEs, usable alone (pretraining, Eqs. 31 and 34) and inside forward.
    def image_vae(self, x_star: Tensor, s: Tensor, mask: Tensor, use_mean: bool = False) -> ImageVAEOutputs:
        """Pose-conditioned image VAE with a given mask: Eqs. 32-33, 21-22 and θ (Eq. 2).

        Used alone to pretrain β, γ, θ by Eq. 31 (the mask being a silhouette or ψ's output).

        Args:
            x_star: (B, 3, h, w) image at heatmap resolution.
            s: (B, K, h, w) pose heatmaps.
            mask: (B, 1 or 3, h, w) foreground mask w in [0, 1].
            use_mean: a, g are the posterior means instead of samples (a deterministic
                reconstruction, as the figures show it).

        Returns:
            ImageVAEOutputs.
        """
        if x_star.shape[-2:] != s.shape[-2:] or mask.shape[-2:] != s.shape[-2:]:
            raise ValueError(
                f"image_vae: x_star {tuple(x_star.shape)}, s {tuple(s.shape)} and mask "
                f"{tuple(mask.shape)} must share the heatmap size"
            )
        x_fg = x_star * mask  # (B, 3, h, w), Eq. 32
        x_bg = x_star * (1.0 - mask)  # (B, 3, h, w), Eq. 33
        a_mean, a_logvar = _pair(self.beta(x_fg), "beta")  # (B, D_a, h', w')
        g_mean, g_logvar = _pair(self.gamma(x_bg), "gamma")
        a = a_mean if use_mean else reparameterize(a_mean, a_logvar)  # Eq. 21
        g = g_mean if use_mean else reparameterize(g_mean, g_logvar)  # Eq. 22
        x_mean, x_logvar = _pair(self.theta(s, a, g), "theta")  # (B, 3, h, w)
        return ImageVAEOutputs(
            w=mask, x_fg=x_fg, x_bg=x_bg,
            a_mean=a_mean, a_logvar=a_logvar, a=a,
            g_mean=g_mean, g_logvar=g_logvar, g=g,
            x_mean=x_mean, x_logvar=x_logvar,
        )

    def pose_vae(self, s: Tensor, use_mean: bool = False) -> PoseVAEOutputs:
        """Pose VAE: z ~ q_δ(z | s) (Eq. 23) and p_φ(s | z) (Eq. 3); pretrained by Eq. 34.

        Args:
            s: (B, K, h, w) pose heatmaps.
            use_mean: z is the posterior mean instead of a sample (a deterministic
                reconstruction, as the figures show it).

        Returns:
            PoseVAEOutputs.
        """
        z_mean, z_logvar = _pair(self.delta(s), "delta")  # (B, D_z, h', w')
        z = z_mean if use_mean else reparameterize(z_mean, z_logvar)  # Eq. 23
        s_rec_mean, s_rec_logvar = _pair(self.phi(z), "phi")  # (B, K, h, w)
        return PoseVAEOutputs(
            z_mean=z_mean, z_logvar=z_logvar, z=z, s_rec_mean=s_rec_mean, s_rec_logvar=s_rec_logvar
        )

    def estimate_mask(
        self, x_star: Tensor, s: Tensor, freeze_psi: bool = True, mask_pose_gradient: bool = True
    ) -> Tensor:
        """w = ψ(x*, s), as used in the joint stages (Sec. 4.2).

        Args:
            x_star: (B, 3, h, w).
            s: (B, K, h, w).
            freeze_psi: ψ's parameters get no gradient and ψ runs in eval mode (its BatchNorm
                statistics stay as pretrained).
            mask_pose_gradient: keep w differentiable w.r.t. s (and x*); when False w is a
                constant (computed under no_grad).

        Returns:
            (B, 1 or 3, h, w) mask in [0, 1].
        """
        if not freeze_psi:
            return self.psi(x_star, s) if mask_pose_gradient else self.psi(x_star, s).detach()
        was_training = self.psi.training
        self.psi.eval()
        try:
            if not mask_pose_gradient:
                with torch.no_grad():
                    return self.psi(x_star, s)
            # Detached parameters: gradients flow through ψ into s, but never into ψ.
            frozen = {k: v.detach() for k, v in self.psi.named_parameters()}
            frozen.update(dict(self.psi.named_buffers()))
            return functional_call(self.psi, frozen, (x_star, s))
        finally:
            self.psi.train(was_training)

    # ----------------------------------------------------------------------------------------
    def forward(
        self,
        x: Tensor,
        x_star: Tensor | None = None,
        s_annotated: Tensor | None = None,
        annotated: Tensor | None = None,
        pose_source: PoseSource = choices.DEFAULT_POSE_SOURCE,
        freeze_psi: bool = True,
        mask_pose_gradient: bool = True,
        image_mirror: bool = True,
    ) -> MirrorNetOutputs:
        """Joint stages (Secs. 3.3-3.5): recognise, sample s, a, g, z, and both generators.

        On an image without annotation s ~ q_α(s | x) (Eq. 20). On an annotated image s is the
        annotation if ``pose_source == "annotation"`` (Eqs. 26-27 as written: α then enters the
        bound only through λ·log q_α) and a sample of q_α if ``pose_source == "recognizer"``
        (the mirrors then send gradients to α on annotated images too).

        Args:
            x: (B, 3, H, W) images.
            x_star: (B, 3, h, w) x*; None computes it by area-averaging x to the heatmap size.
            s_annotated: (B, K, h, w) annotated heatmaps (rows of non-annotated images ignored).
            annotated: (B,) bool/float, which rows of ``s_annotated`` are annotations; None means
                all of them when ``s_annotated`` is given.
            pose_source: "annotation" (the default) or "recognizer" (a config key; see
                docs/model.md).
            freeze_psi: see :meth:`estimate_mask`; the paper freezes ψ in the joint stages.
            mask_pose_gradient: see :meth:`estimate_mask`.
            image_mirror: False skips ψ and the image VAE (``image`` is then None): for an
                objective that gives the fidelity term no weight.

        Returns:
            MirrorNetOutputs; it records ``pose_source``, x* and ``annotated``, which the bounds
            read from it.
        """
        _check_pose_source(pose_source)
        stacks = self.recognize(x)
        s_mean = stacks[-1]  # (B, K, h, w)
        s_logvar = self.pose_logvar(s_mean)  # (B, K, h, w)
        s = reparameterize(s_mean, s_logvar)  # Eq. 20, float32
        annotated_mask = self._annotated_rows(s_mean, s_annotated, annotated)  # (B,) bool
        # Rows whose s is the annotation (Eqs. 26-27 as written); none with pose_source="recognizer".
        from_annotation = annotated_mask if pose_source == "annotation" else torch.zeros_like(annotated_mask)
        if s_annotated is not None and pose_source == "annotation":
            s = torch.where(from_annotation.view(-1, 1, 1, 1), s_annotated.to(s.dtype), s)
        x_star = self._heatmap_size_image(x, x_star, s_mean)  # (B, 3, h, w)
        s_mirror = self._mirror_input(s, s_mean, s_annotated, from_annotation)  # (B, K, h, w)
        image = None
        if image_mirror:
            w = self.estimate_mask(x_star, s_mirror, freeze_psi=freeze_psi, mask_pose_gradient=mask_pose_gradient)
            image = self.image_vae(x_star, s_mirror, w)  # draws a, g before z, as in Eqs. 21-23
        return MirrorNetOutputs(
            stacks=stacks, s_mean=s_mean, s_logvar=s_logvar, s=s, s_mirror=s_mirror,
            annotated=annotated_mask, pose_source=pose_source, x_star=x_star, image=image,
            pose=self.pose_vae(s_mirror),
        )

    @staticmethod
    def _annotated_rows(s_mean: Tensor, s_annotated: Tensor | None, annotated: Tensor | None) -> Tensor:
        """(B,) bool: the rows of the batch that carry an annotation, checked against ``s_mean``."""
        batch = s_mean.shape[0]
        if s_annotated is None:
            if annotated is not None and bool((torch.as_tensor(annotated).float() > 0.5).any()):
                raise ValueError("forward: 'annotated' marks annotated images but s_annotated is None")
            return torch.zeros(batch, dtype=torch.bool, device=s_mean.device)
        if s_annotated.shape != s_mean.shape:
            raise ValueError(
                f"forward: s_annotated has shape {tuple(s_annotated.shape)}, the recognizer "
                f"outputs {tuple(s_mean.shape)}"
            )
        if annotated is None:
            return torch.ones(batch, dtype=torch.bool, device=s_mean.device)
        rows = torch.as_tensor(annotated, device=s_mean.device).reshape(-1).float() > 0.5
        if rows.shape[0] != batch:
            raise ValueError(f"forward: annotated has {rows.shape[0]} entries for a batch of {batch}")
        return rows

    @staticmethod
    def _heatmap_size_image(x: Tensor, x_star: Tensor | None, s_mean: Tensor) -> Tensor:
        """x*: the given one, checked against the heatmap size, or x area-averaged to it."""
        if x_star is None:
            return shrink_image(x, tuple(s_mean.shape[-2:]))
        if x_star.shape[-2:] != s_mean.shape[-2:]:
            raise ValueError(
                f"forward: x_star is {tuple(x_star.shape)}, the heatmaps are {tuple(s_mean.shape)}: "
                "their spatial sizes must agree"
            )
        return x_star

    def _mirror_input(
        self, s: Tensor, s_mean: Tensor, s_annotated: Tensor | None, from_annotation: Tensor
    ) -> Tensor:
        """The pose ψ, θ and δ see in the joint stages: s, or the bottleneck's re-rendering."""
        if self.pose_bottleneck is None:
            return s
        # The bottleneck reads the annotation or q_α's mean, not the sample (pose_bottleneck.py).
        source = s_mean if s_annotated is None else torch.where(
            from_annotation.view(-1, 1, 1, 1), s_annotated.to(s_mean.dtype), s_mean
        )
        return self.mirror_pose(source)
