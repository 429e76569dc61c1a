"""Figures of the paper's Sec. 5 and appendix, drawn with Matplotlib (Agg, no display needed).

* ``plot_pose_comparison`` — the same test images posed by several methods (Fig. 11).
* ``plot_image_reconstructions`` — the pose-conditioned image VAE: x*, x_fg = x*⊙w, x_bg =
  x*⊙(1−w) (Eq. 32–33) and the mean of p_θ(x|s, a, g) (Fig. 12).
* ``plot_pose_reconstructions`` — the pose VAE: 16 heatmaps superimposed, input and the mean of
  p_φ(s|z) (Fig. 13).
* ``plot_masks`` — masks estimated by ψ next to the silhouettes (Fig. 14).
* ``plot_prior_samples`` — poses sampled from the pose VAE's prior: z ~ N(0, I) → φ → decoded
  joints drawn as skeletons (not in the paper; shows what the plausibility term has learned).

The functions take tensors (normalised as ``PoseDataset`` returns them) and a ``MirrorNet`` (or a
dict of modules with the contract of its networks), write one PNG and return its path. The
reconstructions run the model's own image and pose VAEs (``MirrorNet.image_vae`` and
``pose_vae``) at the posterior *means* of a, g and z, so a figure is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from mirrornet import choices, skeleton  # noqa: E402
from mirrornet.codecs import input_to_heatmap  # noqa: E402
from mirrornet.fileio import save_figure  # noqa: E402
from mirrornet.curriculum import NETS  # noqa: E402
from mirrornet.model import MirrorNet  # noqa: E402

_SIDE_COLOURS = {"right": "#d62728", "left": "#1f77b4", "centre": "#2ca02c"}
# One colour per joint for superimposed heatmaps (Fig. 13): a fixed qualitative palette.
_JOINT_COLOURS = plt.get_cmap("tab20")(np.arange(skeleton.NUM_JOINTS) % 20)[:, :3]  # (16, 3)


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def to_display_image(image: torch.Tensor | np.ndarray, normalized: bool = True) -> np.ndarray:
    """(3, H, W) image (ImageNet-normalised when ``normalized``) -> (H, W, 3) float in [0, 1]."""
    img = _as_numpy(image).astype(np.float64)
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f"to_display_image: expected (3, H, W), got {img.shape}")
    if normalized:
        from mirrornet.data.transforms import IMAGE_MEAN, IMAGE_STD

        img = img * np.asarray(IMAGE_STD, dtype=np.float64)[:, None, None] + np.asarray(IMAGE_MEAN)[:, None, None]
    return np.clip(img.transpose(1, 2, 0), 0.0, 1.0)


def superimpose_heatmaps(heatmaps: torch.Tensor | np.ndarray) -> np.ndarray:
    """(K, h, w) heatmaps -> (h, w, 3) RGB: each joint in its own colour, maximum over joints.

    Each heatmap is scaled to [0, 1] by its own maximum, so one-hot and Gaussian targets and
    network outputs of any scale read alike.
    """
    maps = np.clip(_as_numpy(heatmaps).astype(np.float64), 0.0, None)  # (K, h, w)
    if maps.ndim != 3:
        raise ValueError(f"superimpose_heatmaps: expected (K, h, w), got {maps.shape}")
    peak = maps.reshape(maps.shape[0], -1).max(axis=1)
    maps = maps / np.where(peak > 0, peak, 1.0)[:, None, None]
    colours = _JOINT_COLOURS[np.arange(maps.shape[0]) % len(_JOINT_COLOURS)]  # (K, 3)
    rgb = maps[:, :, :, None] * colours[:, None, None, :]  # (K, h, w, 3)
    return rgb.max(axis=0)


def draw_skeleton(ax: Any, joints: np.ndarray, visible: np.ndarray | None = None, linewidth: float = 2.0,
                  marker_size: float = 3.0) -> None:
    """Draw one pose (16, 2) on a Matplotlib axis: right limbs red, left blue, spine green.

    Limbs with a joint not ``visible`` (when given) are skipped.
    """
    joints = _as_numpy(joints)
    if joints.shape != (skeleton.NUM_JOINTS, 2):
        raise ValueError(f"draw_skeleton: expected ({skeleton.NUM_JOINTS}, 2) joints, got {joints.shape}")
    shown = np.ones(skeleton.NUM_JOINTS, bool) if visible is None else _as_numpy(visible) > 0
    for (a, b), side in zip(skeleton.LIMBS, skeleton.LIMB_SIDES, strict=True):
        if shown[a] and shown[b]:
            ax.plot(joints[[a, b], 0], joints[[a, b], 1], color=_SIDE_COLOURS[side], linewidth=linewidth,
                    solid_capstyle="round")
    ax.scatter(joints[shown, 0], joints[shown, 1], s=marker_size**2, c="white", edgecolors="black",
               linewidths=0.5, zorder=3)


def _grid(rows: int, cols: int, cell: float = 1.8) -> tuple[Any, np.ndarray]:
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * cell), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def _save(fig: Any, path: str | Path, layout: bool = True) -> Path:
    return save_figure(fig, path, dpi=100, layout=layout)


def plot_pose_comparison(images: torch.Tensor, poses: Mapping[str, torch.Tensor | np.ndarray], path: str | Path,
                         ground_truth: torch.Tensor | np.ndarray | None = None,
                         pck_correct: Mapping[str, np.ndarray] | None = None) -> Path:
    """Fig. 11: the same images posed by each method, one column per method.

    Args:
        images: (N, 3, H, W) normalised input crops.
        poses: method name -> (N, 16, 2) joints in input-crop pixels.
        path: output PNG.
        ground_truth: optional (N, 16, 2) annotations in crop pixels (first column).
        pck_correct: optional method -> (N,) fraction of correct joints, printed in each title.
    """
    n = images.shape[0]
    columns: list[tuple[str, np.ndarray]] = []
    if ground_truth is not None:
        columns.append(("annotation", _as_numpy(ground_truth)))
    columns += [(name, _as_numpy(p)) for name, p in poses.items()]
    fig, axes = _grid(n, len(columns), cell=2.0)
    for i in range(n):
        img = to_display_image(images[i])
        for c, (name, joints) in enumerate(columns):
            ax = axes[i, c]
            ax.imshow(img, interpolation="nearest")
            draw_skeleton(ax, joints[i], linewidth=1.5, marker_size=2.0)
            ax.set_xlim(0, img.shape[1] - 1)
            ax.set_ylim(img.shape[0] - 1, 0)
            title = name if i == 0 else ""
            if pck_correct is not None and name in pck_correct:
                title = f"{title}\n{100 * float(pck_correct[name][i]):.0f}% correct".strip()
            if title:
                ax.set_title(title, fontsize=8)
    _skeleton_legend(fig)
    return _save(fig, path, layout=False)


def _skeleton_legend(fig: Any) -> None:
    """The colours of :func:`draw_skeleton`, as a legend under the figure."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=_SIDE_COLOURS[side], linewidth=2, label=label)
               for side, label in (("right", "person's right"), ("left", "person's left"), ("centre", "spine, head"))]
    handles.append(Line2D([], [], linestyle="", marker="o", markerfacecolor="white", markeredgecolor="black",
                          label="joints"))
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, min(0.3, 0.4 / fig.get_figheight()), 1, 1))  # 0.4 inch for the legend


@torch.no_grad()
def image_vae_reconstruction(nets: Mapping[str, nn.Module] | Any, x_star: torch.Tensor,
                             s: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ψ, β, γ, θ on (x*, s) with the posterior means of a and g (Eq. 32–33, Fig. 12).

    Args:
        nets: a ``MirrorNet`` (attributes psi, beta, gamma, theta) or a dict with those keys.
        x_star: (B, 3, h, w) normalised shrunk images.
        s: (B, K, h, w) poses as heatmaps.

    Returns:
        {"mask": (B, 1, h, w), "x_fg", "x_bg", "x_mean": (B, 3, h, w)}.
    """
    model = _as_model(nets, ("psi", "beta", "gamma", "theta"))
    s = model.mirror_pose(s)  # the pose as ψ and θ were trained to see it (a bottleneck, if any)
    # ψ as it is (its mode untouched), without a gradient.
    w = model.estimate_mask(x_star, s, freeze_psi=False, mask_pose_gradient=False)  # (B, 1, h, w)
    out = model.image_vae(x_star, s, w, use_mean=True)  # Eqs. 32-33, a and g at their means
    return {"mask": out.w, "x_fg": out.x_fg, "x_bg": out.x_bg, "x_mean": out.x_mean}


def _net(nets: Mapping[str, nn.Module] | Any, name: str) -> nn.Module:
    net = nets[name] if isinstance(nets, Mapping) else getattr(nets, name, None)
    if net is None:
        raise KeyError(f"viz: the model has no network {name!r}")
    return net


def _as_model(nets: Mapping[str, nn.Module] | Any, needed: Sequence[str]) -> MirrorNet:
    """``nets`` itself if it is a MirrorNet, else a MirrorNet around the networks ``needed``.

    The networks a figure does not run are placeholders (a MirrorNet is made of all seven).
    """
    if isinstance(nets, MirrorNet):
        return nets
    given = {name: _net(nets, name) for name in needed}
    return MirrorNet(**{name: given.get(name, nn.Identity()) for name in NETS})


def plot_image_reconstructions(nets: Mapping[str, nn.Module] | Any, x_star: torch.Tensor, s: torch.Tensor,
                               path: str | Path) -> Path:
    """Fig. 12: rows of x*, x_fg, x_bg and the reconstruction mean of the pose-conditioned VAE.

    Args:
        nets: a ``MirrorNet`` or a dict with psi, beta, gamma, theta.
        x_star: (B, 3, h, w) normalised shrunk images.
        s: (B, K, h, w) the poses fed to ψ and θ (annotations or predictions).
        path: output PNG.
    """
    out = image_vae_reconstruction(nets, x_star, s)
    n = x_star.shape[0]
    fig, axes = _grid(4, n)
    for i in range(n):
        img = to_display_image(x_star[i])  # (h, w, 3) in [0, 1]
        w = _as_numpy(out["mask"][i]).transpose(1, 2, 0)  # (h, w, 1 or 3)
        # x_fg and x_bg are products in the normalised space the encoders see; they are shown as
        # the displayed image times the mask so that masked-out pixels read as black, not grey.
        for r, shown in enumerate((img, img * w, img * (1.0 - w), to_display_image(out["x_mean"][i]))):
            axes[r, i].imshow(np.clip(shown, 0.0, 1.0), interpolation="nearest")
    for r, name in enumerate(("x*", "x_fg = x*⊙w", "x_bg = x*⊙(1−w)", "mean of p_θ(x|s,a,g)")):
        axes[r, 0].set_ylabel(name, fontsize=8)
    # Without this line the last row reads as a bug. With the paper's fixed σ²_θ = 1 a pixel's
    # error costs little against the KL terms, so the small networks' mean is a blur.
    fig.text(0.5, 0.005, "last row: θ's mean image given the pose; with σ²_θ = 1 (the paper's fixed variance) "
             "pixel errors weigh little against the KL terms, so it is a blurred average", ha="center",
             va="bottom", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, min(0.3, 0.5 / fig.get_figheight()), 1, 1))  # 0.5 inch for the note
    return _save(fig, path, layout=False)


@torch.no_grad()
def pose_vae_reconstruction(nets: Mapping[str, nn.Module] | Any, s: torch.Tensor) -> torch.Tensor:
    """Mean of p_φ(s|z) at the posterior mean of q_δ(z|s): (B, K, h, w) -> (B, K, h, w).

    δ reads the pose as the mirrors see it (``MirrorNet.mirror_pose``: a bottleneck's
    re-rendering when the model has one, else ``s`` itself).
    """
    model = _as_model(nets, ("delta", "phi"))
    return model.pose_vae(model.mirror_pose(s), use_mean=True).s_rec_mean


def plot_pose_reconstructions(nets: Mapping[str, nn.Module] | Any, s: torch.Tensor, path: str | Path) -> Path:
    """Fig. 13: the 16 heatmaps superimposed — input pose s (top) and its reconstruction (bottom).

    Args:
        nets: a ``MirrorNet`` or a dict with delta, phi.
        s: (B, K, h, w) poses as heatmaps.
        path: output PNG.
    """
    recon = pose_vae_reconstruction(nets, s)
    n = s.shape[0]
    fig, axes = _grid(2, n)
    for i in range(n):
        axes[0, i].imshow(superimpose_heatmaps(s[i]))
        axes[1, i].imshow(superimpose_heatmaps(recon[i]))
    axes[0, 0].set_ylabel("pose s", fontsize=9)
    axes[1, 0].set_ylabel("reconstruction", fontsize=9)
    return _save(fig, path)


@torch.no_grad()
def plot_masks(nets: Mapping[str, nn.Module] | Any, x_star: torch.Tensor, s: torch.Tensor, path: str | Path,
               silhouettes: torch.Tensor | None = None) -> Path:
    """Fig. 14: x*, the mask w = ψ(x*, s) and (optionally) the ground-truth silhouette.

    Args:
        nets: a ``MirrorNet`` or a dict with psi.
        x_star: (B, 3, h, w) normalised shrunk images.
        s: (B, K, h, w) poses as heatmaps.
        path: output PNG.
        silhouettes: optional (B, 1, h, w) ground truth in [0, 1].
    """
    model = _as_model(nets, ("psi",))
    w = model.psi(x_star, model.mirror_pose(s))  # (B, 1, h, w), the pose as ψ was trained to see it
    rows = [("x*", None), ("mask ψ", w)] + ([("silhouette", silhouettes)] if silhouettes is not None else [])
    n = x_star.shape[0]
    fig, axes = _grid(len(rows), n)
    for i in range(n):
        axes[0, i].imshow(to_display_image(x_star[i]), interpolation="nearest")
        for r, (_, batch) in enumerate(rows[1:], start=1):
            axes[r, i].imshow(_as_numpy(batch[i, 0]), cmap="gray", vmin=0.0, vmax=1.0)
    for r, (name, _) in enumerate(rows):
        axes[r, 0].set_ylabel(name, fontsize=9)
    return _save(fig, path)


@torch.no_grad()
def sample_prior_poses(nets: Mapping[str, nn.Module] | Any, codec: Any, num: int,
                       heatmap_size: tuple[int, int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Poses from the pose VAE's prior: z ~ N(0, I) → mean of p_φ(s|z) → ``codec.decode``.

    The latent shape is read off δ applied to a zero pose of ``heatmap_size``.

    Returns:
        (joints (num, 16, 2) in input-crop pixels, heatmaps (num, 16, h, w)).
    """
    delta, phi = _net(nets, "delta"), _net(nets, "phi")
    device = next(iter(phi.parameters())).device
    h, w = heatmap_size
    z_mean, _ = delta(torch.zeros(1, skeleton.NUM_JOINTS, h, w, device=device))
    generator = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn((num, *z_mean.shape[1:]), generator=generator).to(device)
    s_mean, _ = phi(z)  # (num, K, h, w)
    coords, _ = codec.decode(s_mean)
    return torch.as_tensor(coords).float().cpu(), s_mean.cpu()


def plot_prior_samples(nets: Mapping[str, nn.Module] | Any, codec: Any, path: str | Path, num: int = 8,
                       heatmap_size: tuple[int, int] = (64, 64), stride: int = choices.DEFAULT_HEATMAP_STRIDE,
                       seed: int = 0) -> Path:
    """Skeletons decoded from z ~ N(0, I) (top) over the superimposed heatmaps they come from.

    Args:
        nets: a ``MirrorNet`` or a dict with delta, phi.
        codec: the codec of the training targets (its ``decode`` gives input-crop pixels).
        path: output PNG.
        num: number of samples.
        heatmap_size: (h, w) of the pose heatmaps.
        stride: input pixels per heatmap pixel (to draw skeletons on the heatmap grid).
        seed: seed of z.
    """
    joints, maps = sample_prior_poses(nets, codec, num, heatmap_size, seed=seed)
    h, w = heatmap_size
    fig, axes = _grid(2, num)
    for i in range(num):
        ax = axes[0, i]
        ax.set_facecolor("black")
        draw_skeleton(ax, input_to_heatmap(joints[i].numpy(), stride), linewidth=1.5, marker_size=2.0)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_aspect("equal")
        axes[1, i].imshow(superimpose_heatmaps(maps[i]))
    axes[0, 0].set_ylabel("decoded joints", fontsize=9)
    axes[1, 0].set_ylabel("mean of p_φ(s|z)", fontsize=9)
    return _save(fig, path)


def plot_bars(values: Mapping[str, Sequence[float]], path: str | Path, ylabel: str, title: str = "") -> Path:
    """Grouped bars with error bars: name -> samples (e.g. PCK over seeds); mean ± std drawn."""
    fig, ax = plt.subplots(figsize=(max(3.0, 0.9 * len(values) + 1.5), 3.0))
    names = list(values)
    means = [float(np.mean(values[n])) for n in names]
    stds = [float(np.std(values[n], ddof=1)) if len(values[n]) > 1 else 0.0 for n in names]
    ax.bar(range(len(names)), means, yerr=stds, capsize=4, color="#8fb3d9", edgecolor="black")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    low = min(m - s for m, s in zip(means, stds, strict=True))
    ax.set_ylim(max(0.0, low - 5.0), max(m + s for m, s in zip(means, stds, strict=True)) + 2.0)
    return _save(fig, path)


def is_png(path: str | Path) -> bool:
    """True when ``path`` starts with the 8-byte PNG signature and holds an IHDR chunk."""
    head = Path(path).read_bytes()[:16]
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
