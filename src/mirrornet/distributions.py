"""Diagonal Gaussians in log-variance: the one place where MirrorNet's densities are computed.

Every density of the paper is a diagonal Gaussian (Eqs. 2-6, 11-14): the likelihoods p_θ(x*|s,a,g)
and p_φ(s|z), the standard-normal priors of a, g, z and the variational posteriors q_α, q_β, q_γ,
q_δ. The bounds (Eqs. 15, 26-28, 30, 31, 34, written out in Appendix A, Eqs. 35-36) need four
operations on them, each defined once here and used by every objective:

* :func:`gaussian_log_prob` — log N(x; μ, σ²I), e.g. the fidelity and plausibility terms, Eq. 28;
* :func:`kl_to_standard_normal` — KL(N(μ, σ²I) ‖ N(0, I)), the last three lines of Eq. 35;
* :func:`gaussian_entropy` — H[N(μ, σ²I)] = ½ Σ (1 + log 2πσ²), the q_α term of Eq. 35;
* :func:`reparameterize` — μ + ε ⊙ σ with ε ~ N(0, I), Eqs. 16-23.

Conventions:

* Variances are always given as log-variances, clamped to [LOGVAR_MIN, LOGVAR_MAX] before use,
  so that exp(±logvar) can neither overflow nor divide by zero. A fixed variance (σ²_α = 0.01,
  σ²_θ = σ²_φ = 1) is passed as a Python float (or a tensor that broadcasts), never re-derived.
* Each density returns one value per sample: summed over every non-batch dimension, shape (B,).
  Dimension 0 of the broadcast shape of the inputs is the batch.
* Computation is in float32 (float64 inputs stay float64) with autocast disabled, so that sums
  over ~10^5 dimensions stay exact enough under mixed precision (bfloat16 keeps 8 bits of
  mantissa; a 65 536-term sum in it would be meaningless).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import Tensor

__all__ = [
    "LOGVAR_MIN",
    "LOGVAR_MAX",
    "LOG_2PI",
    "clamp_logvar",
    "gaussian_log_prob",
    "kl_to_standard_normal",
    "gaussian_entropy",
    "reparameterize",
]

#: Smallest log-variance used: σ² ≥ e^-10 ≈ 4.5e-5 (σ ≈ 0.0067, far below the heatmaps' σ_α = 0.1).
LOGVAR_MIN: float = -10.0
#: Largest log-variance used: σ² ≤ e^10 ≈ 2.2e4 (σ ≈ 150, far above the data's unit scale).
LOGVAR_MAX: float = 10.0
#: log(2π), the constant of every Gaussian log-density.
LOG_2PI: float = math.log(2.0 * math.pi)


@contextlib.contextmanager
def _full_precision(device: torch.device) -> Iterator[None]:
    """Disables autocast on ``device`` for the enclosed block (a no-op where autocast is unknown)."""
    try:
        ctx = torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # a device type autocast does not know, e.g. "meta"
        ctx = contextlib.nullcontext()
    with ctx:
        yield


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half precision is promoted)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _as_tensor(value: Tensor | float, like: Tensor, name: str) -> Tensor:
    """Turns a float (a fixed log-variance) into a 0-dim tensor on ``like``'s device and dtype."""
    if isinstance(value, Tensor):
        return value.to(dtype=like.dtype)
    if isinstance(value, (int, float)):
        if not math.isfinite(float(value)):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return torch.tensor(float(value), dtype=like.dtype, device=like.device)
    raise TypeError(f"{name} must be a Tensor or a float, got {type(value).__name__}")


def clamp_logvar(logvar: Tensor) -> Tensor:
    """Clamps a log-variance to [LOGVAR_MIN, LOGVAR_MAX].

    Args:
        logvar: log σ², any shape.

    Returns:
        The clamped tensor (same shape; zero gradient outside the range).
    """
    return logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


def _sum_per_sample(values: Tensor, name: str) -> Tensor:
    """Sums over every dimension but the first: (B, ...) -> (B,)."""
    if values.dim() < 1:
        raise ValueError(
            f"{name}: inputs have no batch dimension (shape {tuple(values.shape)}); "
            "give tensors of shape (B, ...)"
        )
    # flatten(1) rather than reshape(B, -1): also valid for an empty batch (B = 0).
    return values.flatten(1).sum(dim=1) if values.dim() > 1 else values


def gaussian_log_prob(
    x: Tensor,
    mean: Tensor,
    logvar: Tensor | float,
    weight: Tensor | None = None,
) -> Tensor:
    """log N(x; μ, diag σ²), summed over all non-batch dimensions (Eq. 28 and its kin).

    log N = -½ Σ_d [log 2π + log σ²_d + (x_d − μ_d)² / σ²_d].

    Args:
        x: the value, (B, ...).
        mean: μ, broadcastable with ``x``.
        logvar: log σ², a tensor broadcastable with ``x`` or a float for a fixed variance
            (e.g. ``math.log(0.01)`` for q_α, ``0.0`` for σ² = 1). Clamped to
            [LOGVAR_MIN, LOGVAR_MAX].
        weight: optional per-element weight broadcastable with ``x`` (e.g. (B, K, 1, 1) joint
            weights); an element with weight 0 is left out of the sum.

    Returns:
        (B,) log-density per sample, float32 (float64 for float64 inputs).
    """
    with _full_precision(x.device):
        dtype = _compute_dtype(x, mean, *(t for t in (logvar, weight) if isinstance(t, Tensor)))
        x, mean = x.to(dtype), mean.to(dtype)
        lv = clamp_logvar(_as_tensor(logvar, x, "logvar").to(dtype))
        # (x - μ)² e^{-logvar} instead of / e^{logvar}: one exp, no division by a tiny number.
        elementwise = -0.5 * (LOG_2PI + lv + (x - mean).pow(2) * torch.exp(-lv))
        if weight is not None:
            elementwise = elementwise * weight.to(dtype)
        return _sum_per_sample(elementwise, "gaussian_log_prob")


def kl_to_standard_normal(mean: Tensor, logvar: Tensor | float) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)), summed over all non-batch dimensions (Eq. 35, last lines).

    KL = ½ Σ_d [σ²_d + μ²_d − 1 − log σ²_d].

    Args:
        mean: μ, (B, ...).
        logvar: log σ², a tensor broadcastable with ``mean`` or a float. Clamped.

    Returns:
        (B,) KL divergence per sample (≥ 0).
    """
    with _full_precision(mean.device):
        dtype = _compute_dtype(mean, *((logvar,) if isinstance(logvar, Tensor) else ()))
        mean = mean.to(dtype)
        lv = clamp_logvar(_as_tensor(logvar, mean, "logvar").to(dtype))
        elementwise = 0.5 * (torch.exp(lv) + mean.pow(2) - 1.0 - lv)
        return _sum_per_sample(elementwise, "kl_to_standard_normal")


def gaussian_entropy(logvar: Tensor | float, like: Tensor | None = None) -> Tensor:
    """H[N(μ, diag σ²)] = ½ Σ_d (1 + log 2π + log σ²_d), summed over non-batch dimensions.

    The entropy does not depend on μ, so the number of dimensions must come from somewhere:
    either ``logvar`` is a full (B, ...) tensor, or ``like`` gives the shape of the data and
    ``logvar`` (a float or a tensor such as (1, K, 1, 1)) is broadcast to it.

    Args:
        logvar: log σ²; clamped.
        like: a tensor with the data's shape (B, ...), e.g. the mean; only its shape, device and
            dtype are used. Required when ``logvar`` is a float.

    Returns:
        (B,) entropy per sample.
    """
    if like is None:
        if not isinstance(logvar, Tensor):
            raise ValueError(
                "gaussian_entropy: a float logvar has no shape; pass like=<tensor of shape (B, ...)>"
            )
        like = logvar
    with _full_precision(like.device):
        dtype = _compute_dtype(like, *((logvar,) if isinstance(logvar, Tensor) else ()))
        lv = clamp_logvar(_as_tensor(logvar, like.to(dtype), "logvar").to(dtype))
        shape = torch.broadcast_shapes(lv.shape, like.shape)
        elementwise = (0.5 * (1.0 + LOG_2PI + lv)).expand(shape)
        return _sum_per_sample(elementwise, "gaussian_entropy")


def reparameterize(mean: Tensor, logvar: Tensor | float, eps: Tensor | None = None) -> Tensor:
    """Draws a sample μ + ε ⊙ σ, ε ~ N(0, I), differentiable in μ and σ (Eqs. 16-23).

    Args:
        mean: μ, (B, ...).
        logvar: log σ², a tensor broadcastable with ``mean`` or a float. Clamped.
        eps: optional standard-normal noise with ``mean``'s shape (drawn when None).

    Returns:
        A sample with ``mean``'s shape, float32 (float64 for float64 inputs).
    """
    with _full_precision(mean.device):
        dtype = _compute_dtype(mean, *((logvar,) if isinstance(logvar, Tensor) else ()))
        mean = mean.to(dtype)
        lv = clamp_logvar(_as_tensor(logvar, mean, "logvar").to(dtype))
        if eps is None:
            eps = torch.randn_like(mean)
        elif eps.shape != mean.shape:
            raise ValueError(
                f"reparameterize: eps has shape {tuple(eps.shape)}, mean has {tuple(mean.shape)}"
            )
        return mean + eps.to(dtype) * torch.exp(0.5 * lv)
