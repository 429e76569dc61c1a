"""Tests of mirrornet.viz: every figure is a valid PNG written atomically, skeletons are drawn where
the joints are, and the helpers compute what they claim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mirrornet import viz

K, H, W = 16, 16, 16  # heatmap size of the stand-in networks


class _Psi(nn.Module):
    def forward(self, x_star: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return s.amax(dim=1, keepdim=True).clamp(0, 1)  # (B, 1, h, w): the mask is where joints are


class _Encoder(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = nn.functional.avg_pool2d(self.conv(x), 8)  # (B, 4, h/8, w/8)
        return m, torch.zeros_like(m)


class _Theta(nn.Module):
    def forward(self, s: torch.Tensor, a: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = s[:, :3] + nn.functional.interpolate(a[:, :3] + g[:, :3], size=s.shape[-2:])
        return x, torch.zeros_like(x)


class _Phi(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(4, K, 8, stride=8)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.up(z)
        return s, torch.zeros_like(s)


class _ArgmaxCodec:
    """Argmax decoding at stride 4 (the codec contract's decode, without refinement)."""

    def decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, k, h, w = heatmaps.shape
        flat = heatmaps.reshape(b, k, -1)
        score, idx = flat.max(dim=-1)
        coords = torch.stack([idx % w, idx // w], dim=-1).float() * 4
        return coords, score


def _nets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {"psi": _Psi(), "beta": _Encoder(3), "gamma": _Encoder(3), "theta": _Theta(),
            "delta": _Encoder(K), "phi": _Phi()}


def _heatmaps(b: int) -> torch.Tensor:
    s = torch.zeros(b, K, H, W)
    for i in range(b):
        for k in range(K):
            s[i, k, (k + i) % H, (3 * k) % W] = 1.0
    return s


def test_superimpose_heatmaps_colours_and_scale() -> None:
    s = torch.zeros(K, 4, 4)
    s[0, 1, 2] = 5.0   # joint 0, any scale -> full intensity of its colour
    s[3, 0, 0] = 0.5
    rgb = viz.superimpose_heatmaps(s)
    assert rgb.shape == (4, 4, 3)
    np.testing.assert_allclose(rgb[1, 2], viz._JOINT_COLOURS[0])
    np.testing.assert_allclose(rgb[0, 0], viz._JOINT_COLOURS[3])
    assert rgb[3, 3].sum() == 0.0


def test_to_display_image_inverts_normalisation() -> None:
    from mirrornet.data import transforms
    img = np.random.default_rng(0).uniform(0, 1, (3, 5, 6))
    mean, std = np.asarray(transforms.IMAGE_MEAN), np.asarray(transforms.IMAGE_STD)
    normed = (img - mean[:, None, None]) / std[:, None, None]
    np.testing.assert_allclose(viz.to_display_image(torch.tensor(normed)), img.transpose(1, 2, 0), atol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        viz.to_display_image(np.zeros((5, 6)))


def test_image_vae_reconstruction_uses_eq_32_33() -> None:
    nets = _nets()
    x_star = torch.randn(2, 3, H, W)
    s = _heatmaps(2)
    out = viz.image_vae_reconstruction(nets, x_star, s)
    w = s.amax(dim=1, keepdim=True)
    assert torch.equal(out["x_fg"], x_star * w)
    assert torch.equal(out["x_bg"], x_star * (1 - w))
    assert torch.allclose(out["x_fg"] + out["x_bg"], x_star)
    # θ at the posterior means of a and g (not samples), so the figure is deterministic.
    with torch.no_grad():
        a_mean, _ = nets["beta"](out["x_fg"])
        g_mean, _ = nets["gamma"](out["x_bg"])
        x_mean, _ = nets["theta"](s, a_mean, g_mean)
    assert out["x_mean"].shape == (2, 3, H, W)
    torch.testing.assert_close(out["x_mean"], x_mean)


def test_pose_vae_reconstruction_decodes_the_posterior_mean() -> None:
    nets = _nets()
    s = _heatmaps(2)
    with torch.no_grad():
        z_mean, _ = nets["delta"](s)
        expected, _ = nets["phi"](z_mean)
    torch.testing.assert_close(viz.pose_vae_reconstruction(nets, s), expected)


def test_with_a_pose_bottleneck_the_figures_feed_the_mirrors_its_rendering() -> None:
    """ψ, θ and δ were trained on the bottleneck's re-rendered poses; the figures show them that."""
    from mirrornet.model import MirrorNet
    from mirrornet.pose_bottleneck import CoordinateBottleneck

    nets = _nets()
    model = MirrorNet(alpha=nn.Identity(), **nets, pose_bottleneck=CoordinateBottleneck(sigma=1.0))
    s = _heatmaps(2)
    rendered = model.mirror_pose(s)
    assert not torch.allclose(rendered, s)  # the bottleneck blurs the one-hot poses
    with torch.no_grad():
        z_mean, _ = nets["delta"](rendered)
        expected, _ = nets["phi"](z_mean)
    torch.testing.assert_close(viz.pose_vae_reconstruction(model, s), expected)
    out = viz.image_vae_reconstruction(model, torch.randn(2, 3, H, W), s)
    torch.testing.assert_close(out["mask"], rendered.amax(dim=1, keepdim=True).clamp(0, 1))


def test_prior_samples_are_decoded_from_phi() -> None:
    nets = _nets()
    joints, maps = viz.sample_prior_poses(nets, _ArgmaxCodec(), num=3, heatmap_size=(H, W), seed=5)
    assert joints.shape == (3, K, 2) and maps.shape == (3, K, H, W)
    expected, _ = _ArgmaxCodec().decode(maps)
    assert torch.equal(joints, expected)
    again, _ = viz.sample_prior_poses(nets, _ArgmaxCodec(), num=3, heatmap_size=(H, W), seed=5)
    assert torch.equal(joints, again)


def test_all_figures_are_pngs(tmp_path) -> None:
    nets = _nets()
    images = torch.randn(2, 3, 4 * H, 4 * W)
    x_star = torch.randn(2, 3, H, W)
    s = _heatmaps(2)
    joints = torch.rand(2, K, 2) * 4 * H
    paths = [
        viz.plot_pose_comparison(images, {"baseline": joints, "MirrorNet": joints + 2}, tmp_path / "a.png",
                                 ground_truth=joints, pck_correct={"baseline": np.array([0.5, 1.0])}),
        viz.plot_image_reconstructions(nets, x_star, s, tmp_path / "b.png"),
        viz.plot_pose_reconstructions(nets, s, tmp_path / "c.png"),
        viz.plot_masks(nets, x_star, s, tmp_path / "d.png", silhouettes=torch.rand(2, 1, H, W)),
        viz.plot_prior_samples(nets, _ArgmaxCodec(), tmp_path / "e.png", num=3, heatmap_size=(H, W)),
        viz.plot_bars({"baseline": [60.0, 62.0], "supervised": [63.0, 64.0]}, tmp_path / "f.png", "PCK"),
    ]
    for p in paths:
        assert p.exists() and viz.is_png(p), p
    # Written atomically: nothing but the figures is left in the folder.
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.png", "b.png", "c.png", "d.png", "e.png", "f.png"]
    (tmp_path / "not.png").write_bytes(b"GIF89a" + bytes(20))
    assert not viz.is_png(tmp_path / "not.png")


def test_skeletons_are_drawn_where_the_joints_are(tmp_path, monkeypatch) -> None:
    """Crop-pixel joints on crops as they are; decoded joints on a heatmap grid at
    ``codecs.input_to_heatmap`` (h = (u + 0.5) / stride − 0.5), not at u / stride."""
    from mirrornet.codecs import input_to_heatmap

    drawn: list[np.ndarray] = []
    real = viz.draw_skeleton
    monkeypatch.setattr(viz, "draw_skeleton", lambda ax, joints, *a, **k: (drawn.append(np.array(joints)),
                                                                          real(ax, joints, *a, **k))[1])
    nets = _nets()
    joints = torch.rand(2, K, 2) * 4 * H
    viz.plot_pose_comparison(torch.randn(2, 3, 4 * H, 4 * W), {"baseline": joints}, tmp_path / "a.png")
    np.testing.assert_allclose(np.stack(drawn), joints.numpy())
    drawn.clear()
    viz.plot_prior_samples(nets, _ArgmaxCodec(), tmp_path / "e.png", num=3, heatmap_size=(H, W), stride=4)
    decoded, _ = viz.sample_prior_poses(nets, _ArgmaxCodec(), num=3, heatmap_size=(H, W))
    np.testing.assert_allclose(np.stack(drawn), input_to_heatmap(decoded.numpy(), 4))


def test_draw_skeleton_rejects_bad_shape() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="joints"):
        viz.draw_skeleton(ax, np.zeros((14, 2)))
    plt.close(fig)
