"""A coordinate bottleneck between the recognizer and the two mirrors (``model.pose_bottleneck``).

In the paper θ and ψ take α's K heatmaps as K free image-sized channels, so in the unlabelled
bound α can raise log p_θ(x* | s, a, g) by writing appearance into its heatmaps: the fidelity
term is hundreds of nats, while a perfect heatmap and an empty one differ in λ·log q_α by only
½Σs² nats. The bottleneck makes a pose explain an image only through where its joints are:

    c_k = Σ_p relu(s_k)^2_p · p / Σ_p relu(s_k)^2_p   # centroid: K × 2 coordinates, differentiable
    a_k = clamp(max_p s_k, 0, 1), detached             # presence of joint k (no gradient)
    r_k(p) = a_k · exp(−‖p − c_k‖² / 2σ²)              # re-rendered Gaussian heatmap

ψ, θ, δ and the plausibility term then see r instead of s. The bottleneck reads q_α's mean
μ_α(x) (or the annotation), not a sample: the pixel noise of σ_α = 0.1 on every one of the
h·w pixels would otherwise outweigh the peak in any normalisation (256 background pixels of a
16 × 16 heatmap hold as much relu(noise)² as a σ = 1 Gaussian), and a softmax sharp enough to
ignore the noise is a hard argmax with almost no gradient. The gradient of anything computed
from r w.r.t. s passes through the 2K coordinates only, so the mirrors can move joints but not
smuggle pixels (its Jacobian has rank ≤ 2K per image). The amplitude a_k carries whether a joint
is present (an empty annotated channel renders as an empty channel) without a gradient.

This is not in the paper; docs/model.md lists it with the other departures.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mirrornet import choices

#: Added to a heatmap's total weight so that an empty heatmap has defined coordinates.
_EMPTY_MASS = 1e-4

__all__ = ["POSE_BOTTLENECKS", "CoordinateBottleneck", "heatmap_centroids", "render_gaussians"]

#: Values of ``model.pose_bottleneck``: ``none`` (the paper: the mirrors see α's heatmaps) or
#: ``coordinates`` (the mirrors see heatmaps re-rendered from differentiable joint coordinates).
POSE_BOTTLENECKS: tuple[str, ...] = choices.POSE_BOTTLENECKS


def _pixel_grid(height: int, width: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """(h*w,) x and y pixel-centre coordinates in heatmap pixels, on ``like``'s device."""
    ys = torch.arange(height, device=like.device, dtype=torch.float32)
    xs = torch.arange(width, device=like.device, dtype=torch.float32)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return grid_x.reshape(-1), grid_y.reshape(-1)


def heatmap_centroids(heatmaps: Tensor, power: float = choices.DEFAULT_BOTTLENECK_POWER) -> Tensor:
    """Differentiable joint coordinates: the centroid of relu(s)^power over each heatmap.

    Args:
        heatmaps: (B, K, h, w).
        power: weighting exponent; 2 weighs a Gaussian's peak over its tails and keeps a
            gradient on the pixels around the peak (a softmax that sharp would not).

    Returns:
        (B, K, 2) coordinates (x, y) in heatmap pixels, float32. An empty (all ≤ 0) heatmap
        gives (0, 0), with a zero gradient.
    """
    batch, joints, height, width = heatmaps.shape
    mass = heatmaps.float().reshape(batch, joints, -1).clamp_min(0.0).pow(power)  # (B, K, h*w)
    weights = mass / (mass.sum(-1, keepdim=True) + _EMPTY_MASS)
    grid_x, grid_y = _pixel_grid(height, width, heatmaps)
    return torch.stack(((weights * grid_x).sum(-1), (weights * grid_y).sum(-1)), dim=-1)


def render_gaussians(coords: Tensor, amplitude: Tensor, size: tuple[int, int], sigma: float) -> Tensor:
    """Heatmaps with a Gaussian of standard deviation ``sigma`` at each coordinate.

    Args:
        coords: (B, K, 2) (x, y) in heatmap pixels.
        amplitude: (B, K) peak value of each heatmap.
        size: (h, w).
        sigma: in heatmap pixels.

    Returns:
        (B, K, h, w), float32.
    """
    height, width = size
    grid_x, grid_y = _pixel_grid(height, width, coords)
    dx = grid_x.view(1, 1, -1) - coords[..., 0:1]  # (B, K, h*w)
    dy = grid_y.view(1, 1, -1) - coords[..., 1:2]
    rendered = torch.exp(-(dx.pow(2) + dy.pow(2)) / (2.0 * sigma**2)) * amplitude[..., None]
    return rendered.reshape(*coords.shape[:2], height, width)


class CoordinateBottleneck(nn.Module):
    """s → joint centroids → re-rendered Gaussian heatmaps (see the module docstring).

    No parameters. Args:
        sigma: standard deviation of the rendered Gaussians in heatmap pixels (the codec's σ, so
            that a rendered annotation looks like the annotation).
        power: the centroid's weighting exponent (:func:`heatmap_centroids`).
    """

    def __init__(self, sigma: float = 1.0, power: float = choices.DEFAULT_BOTTLENECK_POWER) -> None:
        super().__init__()
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"pose bottleneck sigma must be a positive number, got {sigma!r}")
        if not (math.isfinite(power) and power >= 1):
            raise ValueError(f"pose bottleneck power must be a number >= 1, got {power!r}")
        self.sigma = float(sigma)
        self.power = float(power)

    def forward(self, heatmaps: Tensor) -> Tensor:
        """(B, K, h, w) heatmaps → (B, K, h, w) heatmaps rendered from 2K coordinates."""
        coords = heatmap_centroids(heatmaps, self.power)  # (B, K, 2)
        amplitude = heatmaps.detach().float().flatten(2).amax(-1).clamp(0.0, 1.0)  # (B, K)
        return render_gaussians(coords, amplitude, tuple(heatmaps.shape[-2:]), self.sigma).to(heatmaps.dtype)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, power={self.power}"
