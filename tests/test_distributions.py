"""Tests of mirrornet.distributions against torch.distributions and hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from mirrornet.distributions import (
    LOG_2PI,
    LOGVAR_MAX,
    LOGVAR_MIN,
    gaussian_entropy,
    gaussian_log_prob,
    kl_to_standard_normal,
    reparameterize,
)


def _random(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=dtype)
    mean = torch.randn(shape, generator=g, dtype=dtype)
    # log-variances spread over [-4, 4], inside the clamp range
    logvar = (torch.rand(shape, generator=g, dtype=dtype) - 0.5) * 8
    return x, mean, logvar


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 6, 5)])
def test_log_prob_matches_torch_normal(shape, dtype):
    x, mean, logvar = _random(shape, 0, dtype)
    ref = Normal(mean, torch.exp(0.5 * logvar)).log_prob(x).flatten(1).sum(1)
    got = gaussian_log_prob(x, mean, logvar)
    assert got.shape == (shape[0],)
    assert got.dtype == dtype
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_matches_torch_kl_divergence(dtype):
    _, mean, logvar = _random((6, 3, 4, 4), 1, dtype)
    q = Normal(mean, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mean), torch.ones_like(mean))
    ref = kl_divergence(q, p).flatten(1).sum(1)
    got = kl_to_standard_normal(mean, logvar)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert torch.all(got >= 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_entropy_matches_torch_entropy(dtype):
    _, mean, logvar = _random((4, 16, 5, 3), 2, dtype)
    ref = Normal(mean, torch.exp(0.5 * logvar)).entropy().flatten(1).sum(1)
    torch.testing.assert_close(gaussian_entropy(logvar), ref, rtol=1e-5, atol=1e-5)


def test_fixed_variance_as_float_equals_full_tensor():
    x, mean, _ = _random((3, 16, 8, 8), 3)
    lv = math.log(0.01)
    full = torch.full_like(x, lv)
    torch.testing.assert_close(gaussian_log_prob(x, mean, lv), gaussian_log_prob(x, mean, full))
    torch.testing.assert_close(kl_to_standard_normal(mean, lv), kl_to_standard_normal(mean, full))
    torch.testing.assert_close(gaussian_entropy(lv, like=mean), gaussian_entropy(full))
    # Hand value: 0.5 * D * (1 + log 2π + log σ²) per sample
    expected = 0.5 * 16 * 8 * 8 * (1 + LOG_2PI + lv)
    torch.testing.assert_close(gaussian_entropy(lv, like=mean), torch.full((3,), expected))
    # A per-joint log-variance (1, K, 1, 1) broadcast to the data
    per_joint = torch.linspace(-3, 1, 16).view(1, 16, 1, 1)
    ref = Normal(mean, torch.exp(0.5 * per_joint)).entropy().flatten(1).sum(1)
    torch.testing.assert_close(gaussian_entropy(per_joint, like=mean), ref)


def test_log_prob_hand_value():
    x = torch.tensor([[1.0, 2.0]])
    mean = torch.tensor([[0.0, 0.0]])
    # σ² = 1: -0.5 * (2 log 2π + 1 + 4)
    torch.testing.assert_close(gaussian_log_prob(x, mean, 0.0), torch.tensor([-0.5 * (2 * LOG_2PI + 5)]))


def test_weight_leaves_out_joints():
    x, mean, logvar = _random((2, 4, 3, 3), 4)
    weight = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])[:, :, None, None]
    got = gaussian_log_prob(x, mean, logvar, weight=weight)
    per_elem = Normal(mean, torch.exp(0.5 * logvar)).log_prob(x)
    ref = torch.stack([per_elem[0, [0, 2]].sum(), per_elem[1, 3].sum()])
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_logvar_clamped_to_documented_range():
    x, mean, _ = _random((2, 5), 5)
    for extreme, bound in ((1e6, LOGVAR_MAX), (-1e6, LOGVAR_MIN)):
        lv = torch.full_like(x, extreme)
        at_bound = torch.full_like(x, bound)
        torch.testing.assert_close(gaussian_log_prob(x, mean, lv), gaussian_log_prob(x, mean, at_bound))
        torch.testing.assert_close(kl_to_standard_normal(mean, lv), kl_to_standard_normal(mean, at_bound))
        torch.testing.assert_close(gaussian_entropy(lv), gaussian_entropy(at_bound))
        assert torch.isfinite(gaussian_log_prob(x * 1e6, mean, lv)).all()


def test_half_precision_inputs_computed_in_float32_under_autocast():
    x, mean, logvar = _random((2, 16, 64, 64), 6)
    xb, mb, lb = (t.to(torch.bfloat16) for t in (x, mean, logvar))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = gaussian_log_prob(xb, mb, lb)
        kl = kl_to_standard_normal(mb, lb)
        ent = gaussian_entropy(lb)
        sample = reparameterize(mb, lb)
    for value in (got, kl, ent, sample):
        assert value.dtype == torch.float32
    # Same as the float32 computation on the (rounded) bfloat16 values
    ref = Normal(mb.float(), torch.exp(0.5 * lb.float())).log_prob(xb.float()).flatten(1).sum(1)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-2)


def test_reparameterize_given_noise_and_gradients():
    mean = torch.randn(3, 4, requires_grad=True)
    logvar = torch.randn(3, 4, requires_grad=True)
    eps = torch.randn(3, 4)
    s = reparameterize(mean, logvar, eps=eps)
    torch.testing.assert_close(s, mean + eps * torch.exp(0.5 * logvar))
    s.sum().backward()
    torch.testing.assert_close(mean.grad, torch.ones(3, 4))
    torch.testing.assert_close(logvar.grad, 0.5 * eps * torch.exp(0.5 * logvar.detach()))


def test_reparameterize_sample_moments():
    torch.manual_seed(0)
    mean = torch.full((200_000,), 2.0)
    s = reparameterize(mean, math.log(0.25))  # σ = 0.5
    assert abs(s.mean().item() - 2.0) < 0.005
    assert abs(s.std().item() - 0.5) < 0.005


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="like"):
        gaussian_entropy(0.0)
    with pytest.raises(ValueError, match="batch"):
        gaussian_log_prob(torch.tensor(1.0), torch.tensor(0.0), 0.0)
    with pytest.raises(ValueError, match="eps"):
        reparameterize(torch.zeros(2, 3), 0.0, eps=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="finite"):
        kl_to_standard_normal(torch.zeros(2, 3), float("nan"))
    with pytest.raises(TypeError, match="logvar"):
        kl_to_standard_normal(torch.zeros(2, 3), "0.0")
