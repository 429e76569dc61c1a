"""Tests of mirrornet.objectives and mirrornet.bounds: the bounds are right (closed form, by hand), gradients reach the
nets the paper says they reach, mixed batches add up, and the numbers stay finite at paper size.

All networks here are stand-ins that follow the mirrornet.nets contract:
* a linear-Gaussian MirrorNet, small enough that the expected bounds have a closed form;
* cheap 1x1-convolution nets for gradient routing and for the paper's dimensions.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mirrornet.bounds import BoundSettings, labeled_elbo, labeled_terms, semi_supervised_elbo, unlabeled_elbo, unlabeled_terms
from mirrornet.distributions import LOG_2PI
from mirrornet.model import MirrorNet
from mirrornet.objectives import (
    image_vae_objective,
    mask_objective,
    pose_vae_objective,
    recognizer_objective,
)

# ---------------------------------------------------------------------------------------------
# A linear-Gaussian MirrorNet: s (B,2,2,2), x* (B,3,2,2), a, g, z (B,3,1,1); ψ ignores s, so
# a and g do not depend on s and every expectation of Eq. 15 / 26 has a closed form.
KL_, HW, DS, DX, DL = 2, 2, 8, 12, 3


def _fixed_linear(n_in: int, n_out: int, gen: torch.Generator, scale: float) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=gen) * scale)
        layer.bias.copy_(torch.randn(n_out, generator=gen) * 0.3)
    return layer


class LinearAlpha(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.linear = _fixed_linear(DX, DS, gen, 0.5)

    def forward(self, x):  # (B,3,8,8) -> (B,2,2,2)
        return self.linear(F.avg_pool2d(x, 4).flatten(1)).view(-1, KL_, HW, HW)


class LinearEncoder(nn.Module):
    """mean = W·flat(input) + b; log-variance a fixed vector."""

    def __init__(self, n_in, gen, logvar):
        super().__init__()
        self.linear = _fixed_linear(n_in, DL, gen, 0.4)
        self.logvar = nn.Parameter(torch.tensor(logvar))

    def forward(self, x):
        mean = self.linear(x.flatten(1)).view(-1, DL, 1, 1)
        return mean, self.logvar.view(1, DL, 1, 1).expand_as(mean)


class LinearImageGenerator(nn.Module):
    """x_mean = U s + V a + Q g + e; log-variance a fixed vector."""

    def __init__(self, gen):
        super().__init__()
        self.linear = _fixed_linear(DS + 2 * DL, DX, gen, 0.8)
        self.logvar = nn.Parameter(torch.linspace(-1.0, 0.5, DX))

    def forward(self, s, a, g):
        mean = self.linear(torch.cat([s.flatten(1), a.flatten(1), g.flatten(1)], 1)).view(-1, 3, HW, HW)
        return mean, self.logvar.view(1, 3, HW, HW).expand_as(mean)


class LinearPoseGenerator(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.linear = _fixed_linear(DL, DS, gen, 0.9)
        self.logvar = nn.Parameter(torch.linspace(-1.5, 0.0, DS))

    def forward(self, z):
        mean = self.linear(z.flatten(1)).view(-1, KL_, HW, HW)
        return mean, self.logvar.view(1, KL_, HW, HW).expand_as(mean)


class HalfMask(nn.Module):
    def forward(self, x_star, s):
        return torch.full_like(x_star[:, :1], 0.5)


def linear_gaussian_mirrornet(seed: int = 0) -> MirrorNet:
    gen = torch.Generator().manual_seed(seed)
    model = MirrorNet(
        alpha=LinearAlpha(gen),
        beta=LinearEncoder(DX, gen, [-0.5, 0.2, -1.0]),
        gamma=LinearEncoder(DX, gen, [0.3, -0.8, -0.2]),
        delta=LinearEncoder(DS, gen, [-0.3, 0.4, -1.2]),
        theta=LinearImageGenerator(gen),
        phi=LinearPoseGenerator(gen),
        psi=HalfMask(),
        alpha_logvar=math.log(0.25),  # larger than 0.01 so that the variance terms are visible
        num_joints=KL_,
    )
    return model.double()


@torch.no_grad()
def closed_form(model: MirrorNet, x1, x_star1, target1=None, with_variance: bool = True):
    """Expected terms of Eq. 15 (s ~ q_α) or Eq. 26 (s = target1) for one image, analytically.

    ``with_variance=False`` drops every variance contribution (what one would get by
    plugging in the means): used to show the Monte Carlo test can tell the two apart.
    """
    keep = 1.0 if with_variance else 0.0
    mu_s = model.alpha(x1).flatten()  # (8,)
    var_alpha = torch.exp(model.alpha_logvar[0])
    if target1 is None:
        m_s, v_s = mu_s, var_alpha * torch.ones(DS, dtype=mu_s.dtype) * keep
    else:
        m_s, v_s = target1.flatten(), torch.zeros(DS, dtype=mu_s.dtype)
    x_fg = (0.5 * x_star1).flatten(1)
    mu_a, lv_a = model.beta.linear(x_fg)[0], model.beta.logvar
    mu_g, lv_g = model.gamma.linear(x_fg)[0], model.gamma.logvar
    v_a, v_g = torch.exp(lv_a) * keep, torch.exp(lv_g) * keep
    w_t, e = model.theta.linear.weight, model.theta.linear.bias
    u, v, q = w_t[:, :DS], w_t[:, DS:DS + DL], w_t[:, DS + DL:]
    m_x = u @ m_s + v @ mu_a + q @ mu_g + e
    var_x = u.pow(2) @ v_s + v.pow(2) @ v_a + q.pow(2) @ v_g
    lv_x = model.theta.logvar
    xs = x_star1.flatten()
    fidelity = -0.5 * (LOG_2PI + lv_x + ((xs - m_x) ** 2 + var_x) * torch.exp(-lv_x)).sum()

    w_d, b_d, lv_z = model.delta.linear.weight, model.delta.linear.bias, model.delta.logvar
    w_p, c, lv_p = model.phi.linear.weight, model.phi.linear.bias, model.phi.logvar
    v_z = torch.exp(lv_z)
    # s − μ_φ(z) = (I − W_φ W_δ) s − W_φ b_δ − c − W_φ σ_z ε
    m = torch.eye(DS, dtype=m_s.dtype) - w_p @ w_d
    res_mean = m @ m_s - w_p @ b_d - c
    res_var = m.pow(2) @ v_s + w_p.pow(2) @ (v_z * keep)
    plausibility = -0.5 * (LOG_2PI + lv_p + (res_mean ** 2 + res_var) * torch.exp(-lv_p)).sum()
    m_z = w_d @ m_s + b_d
    kl_z = 0.5 * (v_z + m_z ** 2 + w_d.pow(2) @ v_s - 1 - lv_z).sum()
    kl_a = 0.5 * (torch.exp(lv_a) + mu_a ** 2 - 1 - lv_a).sum()
    kl_g = 0.5 * (torch.exp(lv_g) + mu_g ** 2 - 1 - lv_g).sum()
    terms = {"fidelity": fidelity, "plausibility": plausibility, "kl_a": kl_a, "kl_g": kl_g, "kl_z": kl_z}
    terms["entropy"] = 0.5 * DS * (1 + LOG_2PI + torch.log(var_alpha))
    return terms, mu_s, var_alpha


def _replicated(model, n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x1 = torch.randn(1, 3, 8, 8, generator=gen, dtype=torch.float64)
    x_star1 = torch.randn(1, 3, HW, HW, generator=gen, dtype=torch.float64)
    target1 = torch.rand(1, KL_, HW, HW, generator=gen, dtype=torch.float64)
    return x1, x_star1, target1, (t.expand(n, *t.shape[1:]) for t in (x1, x_star1, target1))


def _assert_mc_matches(samples: torch.Tensor, expected: torch.Tensor, name: str, k: float = 5.0):
    se = samples.std() / math.sqrt(samples.numel())
    assert abs(samples.mean() - expected) <= k * se + 1e-9, (
        f"{name}: Monte Carlo {samples.mean().item():.5f} ± {se.item():.5f}, closed form {expected.item():.5f}"
    )
    return se


def test_unlabeled_bound_monte_carlo_converges_to_closed_form():
    torch.manual_seed(0)
    model = linear_gaussian_mirrornet()
    n = 40_000
    x1, x_star1, _, (x, x_star, _) = _replicated(model, n)
    with torch.no_grad():
        terms = unlabeled_terms(model(x, x_star), BoundSettings(generator_variance="learned"))
    exact, _, _ = closed_form(model, x1, x_star1)
    naive, _, _ = closed_form(model, x1, x_star1, with_variance=False)
    for name in ("fidelity", "plausibility", "kl_z"):
        se = _assert_mc_matches(terms[name], exact[name], name)
        # The test has power: ignoring the sampling variances would be > 20 standard errors off.
        assert abs(terms[name].mean() - naive[name]) > 20 * se, name
    # Terms without sampling are exact on every sample
    for name in ("kl_a", "kl_g", "entropy"):
        torch.testing.assert_close(terms[name], exact[name].expand(n), rtol=1e-12, atol=1e-12)
    total = exact["fidelity"] + exact["plausibility"] + exact["entropy"] - exact["kl_a"] - exact["kl_g"] - exact["kl_z"]
    _assert_mc_matches(terms["total"], total, "total")


@pytest.mark.parametrize("pose_source", ["annotation", "recognizer"])
def test_labeled_bound_monte_carlo_converges_to_closed_form(pose_source):
    torch.manual_seed(1)
    model = linear_gaussian_mirrornet(seed=1)
    n, lam = 40_000, 0.3
    x1, x_star1, target1, (x, x_star, target) = _replicated(model, n, seed=1)
    with torch.no_grad():
        out = model(x, x_star, target, pose_source=pose_source)
        terms = labeled_terms(out, target, None, BoundSettings(lam=lam, generator_variance="learned"))
    exact, mu_s, var_alpha = closed_form(model, x1, x_star1, target1 if pose_source == "annotation" else None)
    # Eq. 28 at the annotation, exact
    log_q = -0.5 * (LOG_2PI + torch.log(var_alpha) + (target1.flatten() - mu_s) ** 2 / var_alpha).sum()
    torch.testing.assert_close(terms["log_q_alpha"], log_q.expand(n), rtol=1e-12, atol=1e-12)
    for name in ("fidelity", "plausibility", "kl_z"):
        _assert_mc_matches(terms[name], exact[name], name)
    total = exact["fidelity"] + exact["plausibility"] - exact["kl_a"] - exact["kl_g"] - exact["kl_z"] + lam * log_q
    if pose_source == "recognizer":
        total = total + exact["entropy"]
        torch.testing.assert_close(terms["entropy"], exact["entropy"].expand(n))
    else:
        assert "entropy" not in terms
    _assert_mc_matches(terms["total"], total, "total")


# ---------------------------------------------------------------------------------------------
# Cheap convolutional stand-ins (mirrornet.nets contract) for any K, heatmap size and latent size.
class ConvAlpha(nn.Module):
    def __init__(self, k, stacks=1):
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(3, k, 1) for _ in range(stacks))

    def forward(self, x):
        p = F.avg_pool2d(x, 4)
        outs = [h(p) for h in self.heads]
        return outs if len(outs) > 1 else outs[0]


class ConvGaussian(nn.Module):
    """Base for Gaussian stand-ins: outputs (scale·mean, logvar + shift) to probe extremes."""

    mean_scale: float = 1.0
    logvar_shift: float = 0.0

    def _pair(self, h):
        mean, logvar = h.chunk(2, dim=1)
        return mean * self.mean_scale, logvar + self.logvar_shift


class ConvEncoder(ConvGaussian):
    def __init__(self, c, latent):
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * latent, 1)

    def forward(self, x):
        return self._pair(self.conv(F.avg_pool2d(x, 8)))


class ConvImageGenerator(ConvGaussian):
    def __init__(self, k, latent):
        super().__init__()
        self.s = nn.Conv2d(k, 6, 1)
        self.ag = nn.Conv2d(2 * latent, 6, 1)

    def forward(self, s, a, g):
        return self._pair(self.s(s) + F.interpolate(self.ag(torch.cat([a, g], 1)), size=s.shape[-2:]))


class ConvPoseGenerator(ConvGaussian):
    def __init__(self, k, latent):
        super().__init__()
        self.conv = nn.Conv2d(latent, 2 * k, 1)

    def forward(self, z):
        return self._pair(self.conv(F.interpolate(z, scale_factor=8)))


class ConvMask(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.conv = nn.Conv2d(3 + k, 1, 1)

    def forward(self, x_star, s):
        return torch.sigmoid(10 * self.conv(torch.cat([x_star, s], 1)))


def conv_mirrornet(k=4, latent=4, stacks=1, **kwargs) -> MirrorNet:
    return MirrorNet(
        ConvAlpha(k, stacks), ConvEncoder(3, latent), ConvEncoder(3, latent), ConvEncoder(k, latent),
        ConvImageGenerator(k, latent), ConvPoseGenerator(k, latent), ConvMask(k), num_joints=k, **kwargs,
    )


def _conv_batch(b=4, k=4, size=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, size, size, generator=gen)
    x_star = torch.randn(b, 3, size // 4, size // 4, generator=gen)
    target = torch.rand(b, k, size // 4, size // 4, generator=gen)
    weights = torch.ones(b, k)
    weights[0, 1] = 0.0
    weights[2, 3] = 0.0
    return x, x_star, target, weights


def _grads(module):
    return [p.grad for p in module.parameters()]


def _has_gradient(module) -> bool:
    return all(g is not None and torch.isfinite(g).all() for g in _grads(module)) and any(
        g.abs().sum() > 0 for g in _grads(module)
    )


def _no_gradient(module) -> bool:
    return all(g is None or torch.count_nonzero(g) == 0 for g in _grads(module))


def test_bound_assembly_matches_eq_35_and_36_by_hand():
    torch.manual_seed(2)
    model = conv_mirrornet()
    x, x_star, target, weights = _conv_batch()
    out = model(x, x_star)

    def log_normal(v, m, lv):
        return (-0.5 * (math.log(2 * math.pi) + lv + (v - m) ** 2 / torch.exp(lv))).flatten(1).sum(1)

    def neg_kl(m, lv):  # ½ Σ (1 + log σ² − μ² − σ²), as written in Eq. 35
        return (0.5 * (1 + lv - m ** 2 - torch.exp(lv))).flatten(1).sum(1)

    img, pose = out.image, out.pose
    mirrors = (
        log_normal(x_star, img.x_mean, img.x_logvar) + log_normal(out.s, pose.s_rec_mean, pose.s_rec_logvar)
        + neg_kl(img.a_mean, img.a_logvar) + neg_kl(img.g_mean, img.g_logvar) + neg_kl(pose.z_mean, pose.z_logvar)
    )
    entropy = 0.5 * (1 + torch.log(2 * math.pi * torch.tensor(0.01))) * out.s_mean[0].numel()
    got = unlabeled_elbo(out, BoundSettings(generator_variance="learned"))
    torch.testing.assert_close(got["total"], (mirrors + entropy).mean(), rtol=1e-5, atol=1e-3)
    assert got["kl_a"] > 0 and got["kl_z"] > 0
    # The paper's σ²_θ = σ²_φ = 1 (the default): the same sum with log σ² = 0.
    zero = torch.zeros(())
    fixed_mirrors = (
        log_normal(x_star, img.x_mean, zero) + log_normal(out.s, pose.s_rec_mean, zero)
        + neg_kl(img.a_mean, img.a_logvar) + neg_kl(img.g_mean, img.g_logvar) + neg_kl(pose.z_mean, pose.z_logvar)
    )
    torch.testing.assert_close(unlabeled_elbo(out)["total"], (fixed_mirrors + entropy).mean(), rtol=1e-5, atol=1e-3)
    # Per sample (B,), before the batch mean: each row's bound and its terms, by hand.
    per_sample = unlabeled_terms(out)
    torch.testing.assert_close(per_sample["total"], fixed_mirrors + entropy, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(per_sample["fidelity"], log_normal(x_star, img.x_mean, zero))
    torch.testing.assert_close(per_sample["kl_z"], -neg_kl(pose.z_mean, pose.z_logvar))

    out = model(x, x_star, target, pose_source="annotation")
    img, pose = out.image, out.pose
    mirrors = (
        log_normal(x_star, img.x_mean, img.x_logvar) + log_normal(target, pose.s_rec_mean, pose.s_rec_logvar)
        + neg_kl(img.a_mean, img.a_logvar) + neg_kl(img.g_mean, img.g_logvar) + neg_kl(pose.z_mean, pose.z_logvar)
    )
    got = labeled_elbo(out, target, weights, BoundSettings(lam=0.0, generator_variance="learned"))
    torch.testing.assert_close(got["total"], mirrors.mean(), rtol=1e-5, atol=1e-3)


def test_lambda_term_is_lambda_times_eq_28():
    torch.manual_seed(3)
    model = conv_mirrornet()
    x, x_star, target, weights = _conv_batch()
    for pose_source in ("annotation", "recognizer"):
        out = model(x, x_star, target, pose_source=pose_source)
        with_lam = labeled_elbo(out, target, weights, BoundSettings(lam=0.01))
        without = labeled_elbo(out, target, weights, BoundSettings(lam=0.0))
        # Eq. 28 by hand, σ²_α = 0.01, joints of weight 0 left out
        sq = (target - out.s_mean) ** 2
        per_elem = -0.5 * (math.log(2 * math.pi * 0.01) + sq / 0.01)
        eq28 = (per_elem * weights[:, :, None, None]).sum(dim=(1, 2, 3)).mean()
        torch.testing.assert_close(with_lam["log_q_alpha"], eq28)
        torch.testing.assert_close(with_lam["total"] - without["total"], 0.01 * eq28, rtol=1e-4, atol=1e-3)


def test_gradient_routing_to_alpha_and_psi():
    x, x_star, target, weights = _conv_batch()

    def backward(pose_source, lam, labelled=True):
        torch.manual_seed(4)
        model = conv_mirrornet()
        if labelled:
            out = model(x, x_star, target, pose_source=pose_source)
            total = labeled_elbo(out, target, weights, BoundSettings(lam=lam))["total"]
        else:
            total = unlabeled_elbo(model(x, x_star))["total"]
        (-total).backward()
        assert _no_gradient(model.psi), "ψ is frozen in the joint stages"
        for name in ("beta", "gamma", "delta", "theta", "phi"):
            assert _has_gradient(getattr(model, name)), name
        return model

    # Eq. 26 alone: α does not appear — the reason for λ (Sec. 3.4)
    assert _no_gradient(backward("annotation", 0.0).alpha)
    # Eq. 27: λ log q_α(s|x) trains α
    assert _has_gradient(backward("annotation", 0.01).alpha)
    # s ~ q_α on annotated images: the mirrors reach α through s even without λ
    assert _has_gradient(backward("recognizer", 0.0).alpha)
    # Eq. 15: α gets a gradient through s
    assert _has_gradient(backward("", 0.0, labelled=False).alpha)


def test_semi_supervised_total_is_the_sum_of_both_parts():
    torch.manual_seed(5)
    model = conv_mirrornet()
    x, x_star, target, weights = _conv_batch(b=6)
    annotated = torch.tensor([1, 0, 1, 1, 0, 0])
    lab, unl = annotated.bool(), ~annotated.bool()
    for pose_source in ("annotation", "recognizer"):
        out = model(x, x_star, target, annotated, pose_source=pose_source)
        got = semi_supervised_elbo(out, target, weights, BoundSettings(lam=0.01))
        part_l = labeled_elbo(out.select(lab), target[lab], weights[lab], BoundSettings(lam=0.01))
        part_u = unlabeled_elbo(out.select(unl))
        torch.testing.assert_close(got["total"], (3 * part_l["total"] + 3 * part_u["total"]) / 6)
        torch.testing.assert_close(got["labeled/fidelity"], part_l["fidelity"])
        torch.testing.assert_close(got["unlabeled/entropy"], part_u["entropy"])
        torch.testing.assert_close(got["labeled/log_q_alpha"], part_l["log_q_alpha"])
        assert ("labeled/entropy" in got) == (pose_source == "recognizer")
        (-got["total"]).backward()
        assert _has_gradient(model.alpha) and _no_gradient(model.psi)
        model.zero_grad(set_to_none=True)


def test_semi_supervised_edge_cases_and_what_the_bounds_refuse():
    torch.manual_seed(6)
    model = conv_mirrornet()
    x, x_star, target, weights = _conv_batch()
    out = model(x, x_star)  # no annotation: every row is unlabelled
    got = semi_supervised_elbo(out, target, weights)
    torch.testing.assert_close(got["total"], unlabeled_elbo(out)["total"])
    assert got["labeled/total"] == 0  # no annotated rows: logged as 0, not NaN

    out = model(x, x_star, target, pose_source="annotation")
    got = semi_supervised_elbo(out, target, weights)
    torch.testing.assert_close(got["total"], labeled_elbo(out, target, weights)["total"])

    # The bounds read pose_source and the annotated rows from the forward pass itself.
    mixed = model(x, x_star, target, torch.tensor([1, 0, 1, 1]), pose_source="annotation")
    with pytest.raises(ValueError, match="annotation on every row"):
        labeled_elbo(mixed, target, weights)
    with pytest.raises(ValueError, match="Eq. 15"):
        unlabeled_elbo(out)
    with pytest.raises(ValueError, match="lam"):
        labeled_elbo(out, target, weights, BoundSettings(lam=-1.0))
    with pytest.raises(ValueError, match="weights"):
        labeled_elbo(out, target, weights[:, :2])
    with pytest.raises(ValueError, match="target"):
        labeled_elbo(out, target[:, :3], weights)


@pytest.mark.parametrize("pose_source", ["annotation", "recognizer"])
def test_generator_variance_fixed_ignores_the_variance_branches(pose_source):
    """Secs. 4.2-4.3 fix σ²_θ = σ²_φ = 1: with generator_variance="fixed" (the default) the
    variance branches of θ and φ change nothing and get no gradient; with "learned" they do."""
    torch.manual_seed(11)
    model = conv_mirrornet()
    x, x_star, target, weights = _conv_batch()
    out = model(x, x_star, target, pose_source=pose_source)
    fixed = labeled_elbo(out, target, weights)
    learned = labeled_elbo(out, target, weights, BoundSettings(generator_variance="learned"))
    assert not torch.allclose(fixed["fidelity"], learned["fidelity"])
    assert not torch.allclose(fixed["plausibility"], learned["plausibility"])
    shifted = replace(out, image=replace(out.image, x_logvar=out.image.x_logvar + 2.0),
                      pose=replace(out.pose, s_rec_logvar=out.pose.s_rec_logvar - 3.0))
    again = labeled_elbo(shifted, target, weights)
    for term in ("fidelity", "plausibility", "total"):
        torch.testing.assert_close(again[term], fixed[term])
    # log p_θ(x* | s, a, g) with σ² = 1, by hand
    by_hand = (-0.5 * (math.log(2 * math.pi) + (x_star - out.image.x_mean) ** 2)).flatten(1).sum(1).mean()
    torch.testing.assert_close(fixed["fidelity"], by_hand)
    # No gradient reaches the log-variance halves of θ's and φ's outputs.
    x_logvar_grad, = torch.autograd.grad(fixed["total"], out.image.x_logvar, retain_graph=True, allow_unused=True)
    assert x_logvar_grad is None or torch.count_nonzero(x_logvar_grad) == 0
    with pytest.raises(ValueError, match="generator_variance"):
        labeled_elbo(out, target, weights, BoundSettings(generator_variance="free"))
    unl = model(x, x_star)
    shifted = replace(unl, image=replace(unl.image, x_logvar=unl.image.x_logvar + 2.0))
    torch.testing.assert_close(unlabeled_elbo(shifted)["total"], unlabeled_elbo(unl)["total"])


@pytest.mark.parametrize("alpha_supervision", ["all_outputs", "last_output"])
def test_lambda_term_supervises_the_outputs_eq_30_supervises(alpha_supervision):
    """Eq. 30 supervises every hourglass stack; so does λ·log q_α in Eq. 27 with
    alpha_supervision="all_outputs" (the default); "last_output" keeps the final stack only."""
    torch.manual_seed(12)
    model = conv_mirrornet(stacks=3)
    x, x_star, target, weights = _conv_batch()
    out = model(x, x_star, target)
    assert len(out.stacks) == 3
    got = labeled_elbo(out, target, weights, BoundSettings(lam=0.01, alpha_supervision=alpha_supervision))
    eq30 = recognizer_objective(out.stacks, target, weights, out.s_logvar, alpha_supervision=alpha_supervision)
    torch.testing.assert_close(got["log_q_alpha"], eq30["log_q_alpha"])
    torch.testing.assert_close(got["lambda_log_q_alpha"], 0.01 * eq30["log_q_alpha"])
    last_only = recognizer_objective(out.stacks[-1], target, weights, out.s_logvar)["log_q_alpha"]
    if alpha_supervision == "all_outputs":
        assert not torch.allclose(got["log_q_alpha"], last_only)
    else:
        torch.testing.assert_close(got["log_q_alpha"], last_only)
    # Every stack of α gets a gradient from the λ term only when all outputs are supervised.
    (-got["total"]).backward()
    first_stack = model.alpha.heads[0].weight.grad
    assert (first_stack is not None and torch.count_nonzero(first_stack) > 0) == (alpha_supervision == "all_outputs")
    # The semi-supervised bound uses the same outputs.
    annotated = torch.tensor([1, 0, 1, 1])
    out = model(x, x_star, target, annotated)
    semi = semi_supervised_elbo(out, target, weights, BoundSettings(alpha_supervision=alpha_supervision))
    rows = annotated.bool()
    part = labeled_elbo(out.select(rows), target[rows], weights[rows], BoundSettings(alpha_supervision=alpha_supervision))
    torch.testing.assert_close(semi["labeled/log_q_alpha"], part["log_q_alpha"])


def test_semi_supervised_shares_add_up_to_the_total():
    torch.manual_seed(13)
    model = conv_mirrornet()
    x, x_star, target, weights = _conv_batch(b=6)
    annotated = torch.tensor([1, 0, 1, 1, 0, 0])
    out = model(x, x_star, target, annotated)
    got = semi_supervised_elbo(out, target, weights, BoundSettings(lam=0.5))
    kls = sum(
        (3 * got[f"labeled/{k}"] + 3 * got[f"unlabeled/{k}"]) / 6 for k in ("kl_a", "kl_g", "kl_z")
    )
    entropy = 3 * got["unlabeled/entropy"] / 6
    rebuilt = got["fidelity"] + got["plausibility"] + got["lambda_log_q_alpha"] + entropy - kls
    torch.testing.assert_close(rebuilt, got["total"], rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(got["lambda_log_q_alpha"], 0.5 * got["labeled/log_q_alpha"] * 3 / 6)


# ---------------------------------------------------------------------------------------------
# Pretraining objectives.
def test_recognizer_objective_eq_30():
    gen = torch.Generator().manual_seed(7)
    target = torch.rand(2, 3, 4, 4, generator=gen)
    stacks = [torch.rand(2, 3, 4, 4, generator=gen) for _ in range(2)]
    weights = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    got = recognizer_objective(stacks, target, weights)
    hand = 0.0
    for mean in stacks:
        per_elem = -0.5 * (math.log(2 * math.pi * 0.01) + (target - mean) ** 2 / 0.01)
        hand = hand + (per_elem * weights[:, :, None, None]).sum(dim=(1, 2, 3))
    torch.testing.assert_close(got["total"], hand.mean())
    torch.testing.assert_close(got["log_q_alpha_stack0"] + got["log_q_alpha_stack1"], got["log_q_alpha"])
    # a joint of weight 0 is left out: changing its prediction changes nothing
    moved = [m.clone() for m in stacks]
    moved[1][0, 1] += 5.0
    torch.testing.assert_close(recognizer_objective(moved, target, weights)["total"], got["total"])
    single = recognizer_objective(stacks[1], target)
    assert set(single) == {"log_q_alpha", "total"}
    with pytest.raises(ValueError, match="output 0"):
        recognizer_objective([stacks[0][:, :2]], target)
    # alpha_supervision="last_output": only the final stack is supervised.
    last = recognizer_objective(stacks, target, weights, alpha_supervision="last_output")
    torch.testing.assert_close(last["total"], got["log_q_alpha_stack1"])
    with pytest.raises(ValueError, match="alpha_supervision"):
        recognizer_objective(stacks, target, alpha_supervision="first")


def test_image_and_pose_vae_objectives_fix_the_variance_to_one():
    torch.manual_seed(8)
    model = conv_mirrornet()
    _, x_star, target, _ = _conv_batch()
    mask = torch.rand(4, 1, 8, 8)
    img = model.image_vae(x_star, target, mask)
    got = image_vae_objective(img, x_star)
    fid = (-0.5 * (math.log(2 * math.pi) + (x_star - img.x_mean) ** 2)).flatten(1).sum(1).mean()
    torch.testing.assert_close(got["fidelity"], fid)
    torch.testing.assert_close(got["total"], got["fidelity"] - got["kl_a"] - got["kl_g"])
    # The log-variance branch of θ is ignored (Eq. 31, σ²_θ = 1) ...
    img.x_logvar = img.x_logvar + 3.0
    torch.testing.assert_close(image_vae_objective(img, x_star)["total"], got["total"])
    # ... unless asked for
    assert not torch.allclose(image_vae_objective(img, x_star, learned_variance=True)["total"], got["total"])
    (-got["total"]).backward()
    for name in ("beta", "gamma", "theta"):
        assert _has_gradient(getattr(model, name)), name

    pose = model.pose_vae(target)
    got = pose_vae_objective(pose, target)
    pla = (-0.5 * (math.log(2 * math.pi) + (target - pose.s_rec_mean) ** 2)).flatten(1).sum(1).mean()
    torch.testing.assert_close(got["plausibility"], pla)
    torch.testing.assert_close(got["total"], got["plausibility"] - got["kl_z"])
    (-got["total"]).backward()
    assert _has_gradient(model.delta) and _has_gradient(model.phi)


def test_mask_objective_uses_only_samples_with_silhouettes():
    w = torch.tensor([0.2, 0.8, 0.5]).view(3, 1, 1, 1).expand(3, 1, 2, 2).clone().requires_grad_()
    silhouette = torch.ones(3, 1, 2, 2)
    got = mask_objective(w, silhouette, torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(got["mse"], torch.tensor((0.8 ** 2 + 0.5 ** 2) / 2))
    torch.testing.assert_close(got["total"], -got["mse"])
    got = mask_objective(w, silhouette, torch.zeros(3))
    (-got["total"]).backward()
    assert got["mse"] == 0 and torch.count_nonzero(w.grad) == 0


# ---------------------------------------------------------------------------------------------
# Numerical stability at the paper's dimensions (16×64×64 heatmaps, 256×8×8 latents).
@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize(
    "mean_scale, logvar_shift, input_scale",
    [(1.0, 0.0, 1.0), (1.0, 1e4, 1.0), (1.0, -1e4, 1.0), (1e3, -50.0, 1e3), (1e-6, 50.0, 1e-6)],
)
def test_bounds_finite_at_paper_dimensions(mean_scale, logvar_shift, input_scale, autocast):
    torch.manual_seed(9)
    model = conv_mirrornet(k=16, latent=256, alpha_logvar=math.log(0.01))
    for module in model.modules():
        if isinstance(module, ConvGaussian):
            module.mean_scale, module.logvar_shift = mean_scale, logvar_shift
    b = 2
    x = torch.randn(b, 3, 256, 256) * input_scale
    x_star = F.avg_pool2d(x, 4)  # (B, 3, 64, 64)
    target = torch.rand(b, 16, 64, 64) * input_scale
    weights = torch.ones(b, 16)
    annotated = torch.tensor([1.0, 0.0])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = model(x, x_star, target, annotated, pose_source="annotation")
        assert out.s_mean.shape == (b, 16, 64, 64) and out.image.a.shape == (b, 256, 8, 8)
        # σ²_α stays exactly 0.01 (float32) even when α's output is bfloat16
        assert out.s_logvar.dtype == torch.float32
        torch.testing.assert_close(out.s_logvar[0, 0, 0, 0], torch.tensor(math.log(0.01)))
        semi = semi_supervised_elbo(out, target, weights)
        unl = unlabeled_elbo(out.select(torch.tensor([1])))
        lab = labeled_elbo(out.select(torch.tensor([0])), target[:1], weights[:1])
    for terms in (semi, unl, lab):
        for name, value in terms.items():
            assert value.dtype == torch.float32 and torch.isfinite(value), name
    (-semi["total"]).backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
