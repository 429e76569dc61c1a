"""Tests of mirrornet.model.MirrorNet: wiring of Eqs. 20-23 and 32-33, ψ frozen, q_α's variance.

The core tests use tiny stand-in modules that follow the mirrornet.nets contract; one test runs
the real small networks from mirrornet.nets.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mirrornet.bounds import semi_supervised_elbo, unlabeled_elbo
from mirrornet.model import ImageVAEOutputs, MirrorNet, MirrorNetOutputs, PoseVAEOutputs, shrink_image
from mirrornet.nets import VAENetsConfig, build_recognizer, build_vae_nets

K, LATENT = 16, 4


class StandInAlpha(nn.Module):
    """α: x (B,3,H,W) -> (B,K,H/4,W/4), or a list of such (one per stack)."""

    def __init__(self, stacks: int = 1) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(3, K, 1) for _ in range(stacks))

    def forward(self, x):
        p = F.avg_pool2d(x, 4)  # (B, 3, H/4, W/4)
        outs = [head(p) for head in self.heads]
        return outs if len(outs) > 1 else outs[0]


class StandInEncoder(nn.Module):
    """β, γ, δ: (B,c,h,w) -> (mean, logvar), each (B,L,h/8,w/8)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 2 * LATENT, 1)

    def forward(self, x):
        return self.conv(F.avg_pool2d(x, 8)).chunk(2, dim=1)


class StandInImageGenerator(nn.Module):
    """θ: (s, a, g) -> (x_mean, x_logvar), each (B,3,h,w)."""

    def __init__(self) -> None:
        super().__init__()
        self.s = nn.Conv2d(K, 6, 1)
        self.ag = nn.Conv2d(2 * LATENT, 6, 1)

    def forward(self, s, a, g):
        h = self.s(s) + F.interpolate(self.ag(torch.cat([a, g], 1)), size=s.shape[-2:])
        return h.chunk(2, dim=1)


class StandInMask(nn.Module):
    """ψ: (x*, s) -> w in [0,1], (B,1,h,w); has BatchNorm to check it stays in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3 + K, 1, 1)
        self.norm = nn.BatchNorm2d(1)

    def forward(self, x_star, s):
        return torch.sigmoid(self.norm(self.conv(torch.cat([x_star, s], 1))))


class StandInPoseGenerator(nn.Module):
    """φ: z (B,L,h/8,w/8) -> (s_mean, s_logvar), each (B,K,h,w)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(LATENT, 2 * K, 1)

    def forward(self, z):
        return self.conv(F.interpolate(z, scale_factor=8)).chunk(2, dim=1)


def standin_mirrornet(stacks: int = 1, **kwargs) -> MirrorNet:
    return MirrorNet(
        alpha=StandInAlpha(stacks),
        beta=StandInEncoder(3),
        gamma=StandInEncoder(3),
        delta=StandInEncoder(K),
        theta=StandInImageGenerator(),
        phi=StandInPoseGenerator(),
        psi=StandInMask(),
        **kwargs,
    )


def _batch(b: int = 4, size: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, size, size, generator=g)
    x_star = torch.randn(b, 3, size // 4, size // 4, generator=g)
    target = torch.rand(b, K, size // 4, size // 4, generator=g)
    return x, x_star, target


def _field(out: MirrorNetOutputs, dotted: str) -> torch.Tensor:
    for part in dotted.split("."):
        out = getattr(out, part)
    return out


def test_forward_shapes_and_fields():
    torch.manual_seed(0)
    model = standin_mirrornet(stacks=2)
    x, x_star, _ = _batch()
    out = model(x, x_star)
    assert isinstance(out, MirrorNetOutputs)
    assert len(out.stacks) == 2 and out.s_mean is out.stacks[-1]
    # q_α and its sample at the top; the image VAE under out.image, the pose VAE under out.pose.
    assert isinstance(out.image, ImageVAEOutputs) and isinstance(out.pose, PoseVAEOutputs)
    for name in ("s_mean", "s_logvar", "s", "pose.s_rec_mean", "pose.s_rec_logvar"):
        assert _field(out, name).shape == (4, K, 16, 16), name
    for name in ("x_star", "image.x_fg", "image.x_bg", "image.x_mean", "image.x_logvar"):
        assert _field(out, name).shape == (4, 3, 16, 16), name
    for name in ("image.a_mean", "image.a_logvar", "image.a", "image.g_mean", "image.g", "pose.z_mean",
                 "pose.z_logvar", "pose.z"):
        assert _field(out, name).shape == (4, LATENT, 2, 2), name
    assert out.image.w.shape == (4, 1, 16, 16)
    torch.testing.assert_close(out.s_logvar, torch.full_like(out.s_mean, math.log(0.01)))
    assert not out.annotated.any() and out.pose_source == "annotation"  # the default, as in the objectives


def test_eq_32_33_split_and_x_star_by_area_averaging():
    torch.manual_seed(1)
    model = standin_mirrornet()
    x, _, _ = _batch()
    out = model(x, None)
    torch.testing.assert_close(out.x_star, F.avg_pool2d(x, 4))
    torch.testing.assert_close(shrink_image(x, (16, 16)), F.avg_pool2d(x, 4))
    torch.testing.assert_close(out.image.x_fg, out.x_star * out.image.w)
    torch.testing.assert_close(out.image.x_bg, out.x_star * (1 - out.image.w))
    # a, g, z are reparameterised samples around their means
    assert not torch.equal(out.image.a, out.image.a_mean) and not torch.equal(out.pose.z, out.pose.z_mean)


def test_sampled_pose_has_the_fixed_recognizer_variance():
    torch.manual_seed(2)
    model = standin_mirrornet()
    x, x_star, _ = _batch(b=8)
    out = model(x, x_star)
    noise = (out.s - out.s_mean).detach()
    assert abs(noise.mean().item()) < 0.005
    assert abs(noise.std().item() - 0.1) < 0.005  # σ_α = sqrt(0.01)


def test_pose_source_annotation_and_recognizer():
    torch.manual_seed(3)
    model = standin_mirrornet()
    x, x_star, target = _batch()
    annotated = torch.tensor([1.0, 0.0, 1.0, 0.0])
    out = model(x, x_star, target, annotated, pose_source="annotation")
    assert out.annotated.tolist() == [True, False, True, False]
    torch.testing.assert_close(out.s[[0, 2]], target[[0, 2]])
    assert not torch.allclose(out.s[[1, 3]], target[[1, 3]])
    # The annotated poses are what δ encodes and θ draws: recompute δ on the annotation
    z_mean, _ = model.delta(target[[0, 2]])
    torch.testing.assert_close(out.pose.z_mean[[0, 2]], z_mean)

    out = model(x, x_star, target, annotated, pose_source="recognizer")
    assert not torch.allclose(out.s, target)
    noise = (out.s - out.s_mean).detach()
    assert abs(noise.std().item() - 0.1) < 0.01
    # s_annotated without a mask means the whole batch is annotated
    out = model(x, x_star, target, pose_source="annotation")
    assert out.annotated.all()
    torch.testing.assert_close(out.s, target)


def test_psi_frozen_gets_no_gradient_and_keeps_its_statistics():
    torch.manual_seed(4)
    model = standin_mirrornet().train()
    stats = model.psi.norm.running_mean.clone()
    x, x_star, target = _batch()
    out = model(x, x_star)
    assert model.psi.training  # mode restored after the frozen call
    torch.testing.assert_close(model.psi.norm.running_mean, stats)  # eval-mode BatchNorm
    (-unlabeled_elbo(out)["total"]).backward()
    assert all(p.grad is None for p in model.psi.parameters())
    for name in ("alpha", "beta", "gamma", "delta", "theta", "phi"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads), name


def test_mask_is_differentiable_in_the_pose_unless_disabled():
    torch.manual_seed(5)
    model = standin_mirrornet()
    x, x_star, _ = _batch()
    out = model(x, x_star)
    (grad_s,) = torch.autograd.grad(out.image.w.sum(), out.s, retain_graph=True)
    assert grad_s.abs().sum() > 0  # the path s -> ψ -> w is kept
    # ... so q_β's mean depends on α through s -> w -> x_fg
    (grad_alpha,) = torch.autograd.grad(out.image.a_mean.sum(), model.alpha.heads[0].weight)
    assert grad_alpha.abs().sum() > 0
    assert all(p.grad is None for p in model.psi.parameters())

    out = model(x, x_star, mask_pose_gradient=False)
    assert not out.image.w.requires_grad
    # Only the mask path differs: a, g no longer depend on s through w
    (grad_alpha,) = torch.autograd.grad(out.image.a_mean.sum(), model.alpha.heads[0].weight, allow_unused=True)
    assert grad_alpha is None


def test_unfrozen_psi_trains():
    torch.manual_seed(6)
    model = standin_mirrornet()
    x, x_star, _ = _batch()
    out = model(x, x_star, freeze_psi=False)
    (-unlabeled_elbo(out)["total"]).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.psi.parameters())


def test_recognizer_variance_fixed_or_learned():
    model = standin_mirrornet()
    assert "alpha_logvar" in model.state_dict()
    assert all(name != "alpha_logvar" for name, _ in model.named_parameters())

    torch.manual_seed(7)
    model = standin_mirrornet(alpha_logvar=math.log(0.04), learn_alpha_variance=True)
    assert isinstance(model.alpha_logvar, nn.Parameter) and model.alpha_logvar.shape == (K,)
    x, x_star, _ = _batch()
    out = model(x, x_star)
    torch.testing.assert_close(out.s_logvar, torch.full_like(out.s_mean, math.log(0.04)))
    (-unlabeled_elbo(out)["total"]).backward()
    assert model.alpha_logvar.grad is not None and torch.isfinite(model.alpha_logvar.grad).all()
    assert model.alpha_logvar.grad.abs().sum() > 0


def test_pretraining_pieces():
    torch.manual_seed(8)
    model = standin_mirrornet()
    _, x_star, target = _batch()
    mask = (torch.rand(4, 1, 16, 16) > 0.5).float()
    img = model.image_vae(x_star, target, mask)
    assert isinstance(img, ImageVAEOutputs)
    torch.testing.assert_close(img.x_fg, x_star * mask)
    torch.testing.assert_close(img.x_bg, x_star * (1 - mask))
    assert img.x_mean.shape == x_star.shape and img.a.shape == (4, LATENT, 2, 2)
    pose = model.pose_vae(target)
    assert isinstance(pose, PoseVAEOutputs)
    assert pose.s_rec_mean.shape == target.shape and pose.z.shape == (4, LATENT, 2, 2)
    # use_mean: the posterior means instead of samples (the figures' reconstructions).
    img = model.image_vae(x_star, target, mask, use_mean=True)
    assert torch.equal(img.a, img.a_mean) and torch.equal(img.g, img.g_mean)
    assert torch.equal(model.pose_vae(target, use_mean=True).z, pose.z_mean)


def test_select_restricts_every_batched_field():
    torch.manual_seed(9)
    model = standin_mirrornet(stacks=2)
    x, x_star, target = _batch()
    out = model(x, x_star, target, torch.tensor([1, 0, 0, 1]), pose_source="annotation")
    sub = out.select(torch.tensor([True, False, False, True]))
    assert sub.s.shape[0] == 2 and len(sub.stacks) == 2 and sub.stacks[0].shape[0] == 2
    torch.testing.assert_close(sub.image.x_mean, out.image.x_mean[[0, 3]])
    torch.testing.assert_close(sub.pose.z, out.pose.z[[0, 3]])
    torch.testing.assert_close(sub.x_star, out.x_star[[0, 3]])
    assert sub.annotated.tolist() == [True, True] and sub.pose_source == "annotation"


def test_bad_inputs_raise_clear_errors():
    model = standin_mirrornet()
    x, x_star, target = _batch()
    with pytest.raises(ValueError, match="pose_source"):
        model(x, x_star, target, pose_source="labels")
    with pytest.raises(ValueError, match="s_annotated"):
        model(x, x_star, target[:, :3])
    with pytest.raises(ValueError, match="s_annotated is None"):
        model(x, x_star, None, torch.ones(4))
    with pytest.raises(ValueError, match="x_star"):
        model(x, x_star[..., :8])
    with pytest.raises(ValueError, match="alpha output"):
        MirrorNet(nn.Conv2d(3, 5, 1), *[nn.Identity()] * 6)(x, x_star)


def test_with_the_small_networks_of_mirrornet_nets():
    torch.manual_seed(10)
    model = MirrorNet(build_recognizer("hourglass_2x64"), **build_vae_nets(VAENetsConfig.small())).train()
    x = torch.randn(3, 3, 64, 64)
    target = torch.rand(3, K, 16, 16)
    annotated = torch.tensor([1, 0, 1])
    out = model(x, None, target, annotated, pose_source="annotation")
    assert len(out.stacks) == 2 and out.s_mean.shape == (3, K, 16, 16)
    assert out.image.x_mean.shape == out.x_star.shape == (3, 3, 16, 16) and out.image.w.shape == (3, 1, 16, 16)
    terms = semi_supervised_elbo(out, target, torch.ones(3, K))
    assert all(torch.isfinite(v) for v in terms.values())
    (-terms["total"]).backward()
    assert all(p.grad is None for p in model.psi.parameters())
    for name in ("alpha", "beta", "gamma", "delta", "theta", "phi"):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, name).parameters()), name


def test_docs_snippet_runs():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text(encoding="utf-8")
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {"print": lambda *args, **kwargs: None}
    exec(compile(snippet, "docs/model.md", "exec"), namespace)
    assert torch.isfinite(namespace["terms"]["total"])
    assert next(namespace["model"].alpha.parameters()).grad is not None
