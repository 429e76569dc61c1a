"""Keypoints ↔ heatmaps: the only place that converts between the two (paper Sec. 5.2).

The paper's targets are *one-hot* heatmaps: per joint a reduced-size image (1/4 of the input,
16×64×64 for LSP, 16×64×48 for MPII) that is 1 at the joint's pixel and 0 elsewhere; at test time
each joint is the arg-max of its heatmap. The Gaussian heatmap of HRNet / SimpleBaseline is the
option (`GaussianCodec`).

Pixel convention (see docs/data.md). Coordinates are 0-based pixel centres. Heatmap pixel (i, j)
(row i, column j) covers the `stride × stride` block of input pixels starting at (stride·i,
stride·j), so its centre is the input point
    u = stride · j + (stride − 1) / 2,    v = stride · i + (stride − 1) / 2,
i.e. a heatmap coordinate h and an input coordinate u are related by u = (h + 0.5)·stride − 0.5.
This is the same convention as an area-aligned resize, so x* and the silhouette warped straight to
heatmap resolution line up with the heatmaps, and mirroring the input mirrors the heatmaps exactly
(j → w − 1 − j). HRNet instead uses u = stride · h, which is why its flip test shifts the flipped
heatmaps by one pixel; here that shift is off by default (`flip_shift=True` reproduces HRNet).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from mirrornet import choices
from mirrornet.skeleton import FLIP_PERMUTATION

__all__ = [
    "HeatmapCodec",
    "OneHotCodec",
    "GaussianCodec",
    "CODECS",
    "register_codec",
    "build_codec",
    "input_to_heatmap",
    "heatmap_to_input",
    "flip_back_heatmaps",
    "to_image_coords",
    "warp_heatmaps",
]


def input_to_heatmap(u: np.ndarray | torch.Tensor | float, stride: int) -> np.ndarray | torch.Tensor | float:
    """Input-crop pixel coordinate → heatmap coordinate: h = (u + 0.5) / stride − 0.5."""
    return (u + 0.5) / stride - 0.5


def heatmap_to_input(h: np.ndarray | torch.Tensor | float, stride: int) -> np.ndarray | torch.Tensor | float:
    """Heatmap coordinate → input-crop pixel coordinate: u = (h + 0.5) · stride − 0.5."""
    return (h + 0.5) * stride - 0.5


def flip_back_heatmaps(heatmaps: torch.Tensor, shift: bool = False) -> torch.Tensor:
    """Turn the heatmaps of a mirrored input (B, K, h, w) into heatmaps of the original input.

    Mirrors the width axis and swaps left and right joints by `skeleton.FLIP_PERMUTATION`.

    Args:
        heatmaps: (B, K, h, w) heatmaps predicted on the horizontally flipped input.
        shift: move the result one pixel to the right, as HRNet does to make up for its
            `u = stride · h` convention. Not needed with this module's convention.
    """
    if heatmaps.shape[1] != len(FLIP_PERMUTATION):
        raise ValueError(f"flip back needs {len(FLIP_PERMUTATION)} joint heatmaps, got shape {tuple(heatmaps.shape)}")
    out = heatmaps.flip(-1)[:, list(FLIP_PERMUTATION)]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out


def to_image_coords(
    coords: torch.Tensor | np.ndarray, affine: torch.Tensor | np.ndarray
) -> torch.Tensor | np.ndarray:
    """Map input-crop pixel coordinates back to original-image pixels by the inverse affine.

    Args:
        coords: (B, K, 2) coordinates in the input crop.
        affine: (B, 2, 3) affine maps original-image pixels → input-crop pixels (as returned by
            `TopDownTransform` / `PoseDataset`'s "affine").

    Returns:
        (B, K, 2) original-image coordinates, of the same type (Tensor or array) as `coords`.
    """
    if isinstance(coords, torch.Tensor):
        aff = torch.as_tensor(affine, dtype=torch.float64, device=coords.device)
        lin, t = aff[:, :, :2], aff[:, :, 2]  # (B, 2, 2), (B, 2)
        rel = coords.to(torch.float64) - t[:, None, :]  # (B, K, 2)
        out = torch.linalg.solve(lin[:, None], rel[..., None])[..., 0]
        return out.to(coords.dtype)
    coords_np = np.asarray(coords, dtype=np.float64)
    aff_np = np.asarray(affine, dtype=np.float64)
    lin, t = aff_np[:, :, :2], aff_np[:, :, 2]
    return np.einsum("bij,bkj->bki", np.linalg.inv(lin), coords_np - t[:, None, :])


def warp_heatmaps(
    heatmaps: torch.Tensor,
    affine: torch.Tensor,
    output_size: Sequence[int] | None = None,
    joint_order: torch.Tensor | None = None,
) -> torch.Tensor:
    """Carry heatmaps from one view's frame into another's (consistency between augmented views).

    Output pixel q takes the bilinear sample of the input at ``affine⁻¹(q)`` (zero outside),
    heatmap coordinates being pixel centres as everywhere in this module; a Gaussian at h in the
    source frame thus peaks at ``affine(h)`` in the target frame.

    Args:
        heatmaps: (B, K, h, w) in the source view's heatmap frame.
        affine: (B, 2, 3) or (2, 3) source heatmap pixels → target heatmap pixels (e.g.
            :func:`mirrornet.data.views.view_affine`).
        output_size: (H, W) of the result (default: the input's).
        joint_order: (B, K) or (K,) source channel of each target channel (a flip between the
            views swaps left and right; :func:`mirrornet.data.views.view_joint_order`). None: the
            same order.

    Returns:
        (B, K, H, W) heatmaps in the target view's frame, in the input's dtype.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"warp_heatmaps expects (B, K, h, w) heatmaps, got {tuple(heatmaps.shape)}")
    b, k, h, w = heatmaps.shape
    out_h, out_w = (int(s) for s in (output_size or (h, w)))
    a = affine.to(heatmaps.device, torch.float64).expand(b, 2, 3) if affine.ndim == 2 else affine.to(
        heatmaps.device, torch.float64)
    if a.shape != (b, 2, 3):
        raise ValueError(f"warp_heatmaps expects affines of shape ({b}, 2, 3) or (2, 3), got {tuple(affine.shape)}")
    full = torch.cat([a, a.new_tensor([0.0, 0.0, 1.0]).expand(b, 1, 3)], dim=1)  # (B, 3, 3)
    back = torch.linalg.inv(full)[:, :2]  # target → source pixels, (B, 2, 3)
    ys, xs = torch.meshgrid(torch.arange(out_h, dtype=torch.float64, device=heatmaps.device),
                            torch.arange(out_w, dtype=torch.float64, device=heatmaps.device), indexing="ij")
    points = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones_like(xs).reshape(-1)])  # (3, H·W)
    src = back @ points  # (B, 2, H·W) source pixel coordinates
    # align_corners=True: -1 and 1 are the centres of the first and last pixels.
    grid = torch.stack([2 * src[:, 0] / max(w - 1, 1) - 1, 2 * src[:, 1] / max(h - 1, 1) - 1], dim=-1)
    grid = grid.view(b, out_h, out_w, 2).to(heatmaps.dtype if heatmaps.is_floating_point() else torch.float32)
    source = heatmaps
    if joint_order is not None:
        order = joint_order.to(heatmaps.device).long().expand(b, k)
        source = torch.gather(heatmaps, 1, order[:, :, None, None].expand(b, k, h, w))
    return torch.nn.functional.grid_sample(source.to(grid.dtype), grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=True).to(heatmaps.dtype)


class HeatmapCodec:
    """Shared encode / decode of per-joint heatmaps at 1/stride of the input resolution.

    Args:
        heatmap_size: (h, w) of the heatmaps.
        stride: input pixels per heatmap pixel (4 in the paper).
    """

    def __init__(self, heatmap_size: Sequence[int], stride: int = choices.DEFAULT_HEATMAP_STRIDE) -> None:
        size = tuple(int(s) for s in heatmap_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"heatmap_size must be (h, w) with positive sizes, got {heatmap_size!r}")
        if int(stride) <= 0:
            raise ValueError(f"stride must be positive, got {stride}")
        self.heatmap_size: tuple[int, int] = size
        self.stride: int = int(stride)

    # ---- encoding -------------------------------------------------------------------------
    def _draw(self, heatmap: np.ndarray, mu_x: int, mu_y: int) -> None:
        raise NotImplementedError

    def encode(self, joints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Make target heatmaps from joints in input-crop pixels.

        Args:
            joints: (K, 2) x, y in input-crop pixels.
            weights: (K,) > 0 where the joint is labelled.

        Returns:
            heatmaps (K, h, w) float32 and weights (K,) float32. A joint's weight is 0 (and its
            heatmap all zeros) when it is not labelled or its rounded heatmap pixel falls outside
            the heatmap; otherwise it is the given weight.
        """
        joints = np.asarray(joints, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        if joints.ndim != 2 or joints.shape[1] != 2 or weights.shape != (joints.shape[0],):
            raise ValueError(f"encode expects joints (K, 2) and weights (K,), got {joints.shape} and {weights.shape}")
        h, w = self.heatmap_size
        num = joints.shape[0]
        heatmaps = np.zeros((num, h, w), dtype=np.float32)  # (K, h, w)
        out_w = np.zeros(num, dtype=np.float32)
        # Round half up to the heatmap pixel whose block holds the joint.
        mu = np.floor(input_to_heatmap(joints, self.stride) + 0.5)
        for k in range(num):
            if weights[k] <= 0 or not np.isfinite(mu[k]).all():
                continue
            mx, my = int(mu[k, 0]), int(mu[k, 1])
            if not (0 <= mx < w and 0 <= my < h):
                continue
            self._draw(heatmaps[k], mx, my)
            out_w[k] = weights[k]
        return heatmaps, out_w

    # ---- decoding -------------------------------------------------------------------------
    def decode(
        self,
        heatmaps: torch.Tensor,
        refine: bool = True,
        flipped_heatmaps: torch.Tensor | None = None,
        flip_shift: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps → joint coordinates in input-crop pixels (arg-max, paper Sec. 5.2).

        Args:
            heatmaps: (B, K, h, w).
            refine: move each arg-max a quarter pixel towards its higher neighbour, along x and y
                separately (HRNet `get_final_preds`), where both neighbours exist.
            flipped_heatmaps: (B, K, h, w) heatmaps of the horizontally mirrored input (flip test):
                flipped back (`flip_back_heatmaps`) and averaged with `heatmaps` before decoding.
            flip_shift: shift the flipped-back heatmaps one pixel right as HRNet does.

        Returns:
            coords (B, K, 2) float32 x, y in input-crop pixels and scores (B, K) (the maximum).
        """
        if heatmaps.ndim != 4 or tuple(heatmaps.shape[-2:]) != self.heatmap_size:
            raise ValueError(f"decode expects (B, K, {self.heatmap_size[0]}, {self.heatmap_size[1]}), got {tuple(heatmaps.shape)}")
        hm = heatmaps.detach().float()
        if flipped_heatmaps is not None:
            if flipped_heatmaps.shape != heatmaps.shape:
                raise ValueError(
                    f"flipped_heatmaps shape {tuple(flipped_heatmaps.shape)} differs from heatmaps {tuple(heatmaps.shape)}"
                )
            hm = 0.5 * (hm + flip_back_heatmaps(flipped_heatmaps.detach().float(), shift=flip_shift))
        b, k, h, w = hm.shape
        flat = hm.reshape(b, k, h * w)
        scores, idx = flat.max(dim=-1)  # (B, K)
        x = (idx % w).long()
        y = torch.div(idx, w, rounding_mode="floor").long()
        coords = torch.stack([x, y], dim=-1).float()  # (B, K, 2)
        if refine:
            # Neighbours, clamped at the border; the shift is applied only where both exist.
            xl, xr = (x - 1).clamp(0, w - 1), (x + 1).clamp(0, w - 1)
            yu, yd = (y - 1).clamp(0, h - 1), (y + 1).clamp(0, h - 1)

            def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
                return flat.gather(-1, (yy * w + xx)[..., None])[..., 0]

            dx = at(y, xr) - at(y, xl)
            dy = at(yd, x) - at(yu, x)
            inner_x = (x > 0) & (x < w - 1)
            inner_y = (y > 0) & (y < h - 1)
            coords[..., 0] += 0.25 * torch.sign(dx) * inner_x
            coords[..., 1] += 0.25 * torch.sign(dy) * inner_y
        return heatmap_to_input(coords, self.stride), scores

    def to_image_coords(
        self, coords: torch.Tensor | np.ndarray, affine: torch.Tensor | np.ndarray
    ) -> torch.Tensor | np.ndarray:
        """Input-crop coordinates (B, K, 2) → original-image pixels via the inverse of `affine` (B, 2, 3)."""
        return to_image_coords(coords, affine)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(heatmap_size={self.heatmap_size}, stride={self.stride})"


class OneHotCodec(HeatmapCodec):
    """The paper's targets: 1 at the joint's (rounded) heatmap pixel, 0 elsewhere (Sec. 5.2)."""

    def _draw(self, heatmap: np.ndarray, mu_x: int, mu_y: int) -> None:
        heatmap[mu_y, mu_x] = 1.0


class GaussianCodec(HeatmapCodec):
    """Gaussian targets exp(−d² / 2σ²) with peak 1 at the joint's rounded heatmap pixel (HRNet).

    The Gaussian is evaluated over the whole heatmap (not cut at 3σ as HRNet does).

    Args:
        heatmap_size: (h, w).
        stride: input pixels per heatmap pixel.
        sigma: standard deviation in heatmap pixels (2 in HRNet at 64×48).
    """

    def __init__(
        self, heatmap_size: Sequence[int], stride: int = choices.DEFAULT_HEATMAP_STRIDE, sigma: float = choices.DEFAULT_SIGMA
    ) -> None:
        super().__init__(heatmap_size, stride)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.sigma = float(sigma)
        h, w = self.heatmap_size
        self._ys = np.arange(h, dtype=np.float64)[:, None]
        self._xs = np.arange(w, dtype=np.float64)[None, :]

    def _draw(self, heatmap: np.ndarray, mu_x: int, mu_y: int) -> None:
        d2 = (self._xs - mu_x) ** 2 + (self._ys - mu_y) ** 2
        heatmap[:] = np.exp(-d2 / (2.0 * self.sigma**2))

    def __repr__(self) -> str:
        return f"GaussianCodec(heatmap_size={self.heatmap_size}, stride={self.stride}, sigma={self.sigma})"


#: Every heatmap codec by name (``data.codec``) → ``(heatmap_size, stride, sigma) -> HeatmapCodec``,
#: filled by :func:`register_codec`.
CODECS: dict[str, Callable[[Sequence[int], int, float], HeatmapCodec]] = {}


def register_codec(name: str) -> Callable[[Callable[..., HeatmapCodec]], Callable[..., HeatmapCodec]]:
    """Register the decorated ``(heatmap_size, stride, sigma) -> HeatmapCodec`` as ``data.codec=name``.

    Raises:
        ValueError: the name is taken.
    """

    def register(builder: Callable[..., HeatmapCodec]) -> Callable[..., HeatmapCodec]:
        if name in CODECS:
            raise ValueError(f"codec {name!r} is registered twice")
        CODECS[name] = builder
        return builder

    return register


@register_codec("onehot")
def _onehot(heatmap_size: Sequence[int], stride: int, sigma: float) -> HeatmapCodec:
    """The paper's one-hot targets (σ unused)."""
    return OneHotCodec(heatmap_size, stride)


@register_codec("gaussian")
def _gaussian(heatmap_size: Sequence[int], stride: int, sigma: float) -> HeatmapCodec:
    """HRNet's Gaussian targets of σ heatmap pixels."""
    return GaussianCodec(heatmap_size, stride, sigma)


def build_codec(
    kind: str,
    heatmap_size: Sequence[int],
    stride: int = choices.DEFAULT_HEATMAP_STRIDE,
    sigma: float = choices.DEFAULT_SIGMA,
) -> HeatmapCodec:
    """Build a codec by its registered name: "onehot" (the paper's) or "gaussian" (σ = `sigma`
    heatmap pixels), or any :func:`register_codec` added."""
    if kind not in CODECS:
        raise ValueError(f"unknown codec kind {kind!r}; choose {' or '.join(map(repr, CODECS))}")
    return CODECS[kind](heatmap_size, stride, sigma)
