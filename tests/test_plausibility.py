"""Tests of mirrornet.plausibility: bone-ratio statistics and the pose VAE's lower bound."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from mirrornet import plausibility
from mirrornet.plausibility import RATIOS, BoneStatistics, bone_log_ratios


def _t_pose(thigh: float = 40.0, shank: float = 40.0, upper_arm: float = 30.0, forearm: float = 30.0,
            left: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A frontal pose with straight limbs (16, 2), image y downwards.

    The right limbs have the given lengths; ``left`` gives the left (thigh, shank, upper arm,
    forearm) lengths, the same as the right ones when None.
    """
    l_thigh, l_shank, l_upper, l_fore = (thigh, shank, upper_arm, forearm) if left is None else left
    j = np.zeros((16, 2))
    j[6] = (100, 100)                        # pelvis
    j[2], j[3] = (90, 100), (110, 100)       # hips
    j[1], j[4] = (90, 100 + thigh), (110, 100 + l_thigh)
    j[0], j[5] = (90, 100 + thigh + shank), (110, 100 + l_thigh + l_shank)
    j[7], j[8], j[9] = (100, 50), (100, 40), (100, 20)
    j[12], j[13] = (85, 50), (115, 50)       # shoulders
    j[11], j[14] = (85 - upper_arm, 50), (115 + l_upper, 50)
    j[10], j[15] = (85 - upper_arm - forearm, 50), (115 + l_upper + l_fore, 50)
    return j


def _random_pose(rng: np.random.Generator, spread: float) -> np.ndarray:
    """Limb lengths 40, 40, 30, 30 (each side drawn apart) times U(1 - spread, 1 + spread)."""
    base = np.array([40.0, 40.0, 30.0, 30.0])
    right = base * rng.uniform(1 - spread, 1 + spread, 4)
    left = base * rng.uniform(1 - spread, 1 + spread, 4)
    return _t_pose(*right, left=tuple(left))


def test_log_ratios_hand_computed() -> None:
    pose = _t_pose(thigh=40, shank=20, upper_arm=30, forearm=10)
    pose[4] = (110, 100 + 80)  # left knee lower: left thigh 80, left shank |180 - 160| = 20
    pose[5] = (110, 200)
    values, valid = bone_log_ratios(pose[None])
    got = dict(zip(RATIOS, values[0]))
    assert valid.all()
    assert got["thigh_left_right"] == pytest.approx(math.log(80 / 40))
    assert got["shank_left_right"] == pytest.approx(math.log(20 / 20))
    assert got["upper_arm_left_right"] == pytest.approx(0.0)
    assert got["r_thigh_shank"] == pytest.approx(math.log(40 / 20))
    assert got["l_thigh_shank"] == pytest.approx(math.log(80 / 20))
    assert got["r_upper_arm_forearm"] == pytest.approx(math.log(3.0))


def test_mask_makes_ratios_unjudged() -> None:
    pose = _t_pose()
    mask = np.ones((1, 16), bool)
    mask[0, 4] = False  # left knee missing: left thigh and left shank are unknown
    _, valid = bone_log_ratios(pose[None], mask)
    v = dict(zip(RATIOS, valid[0]))
    assert not v["thigh_left_right"] and not v["shank_left_right"] and not v["l_thigh_shank"]
    assert v["r_thigh_shank"] and v["forearm_left_right"]


def test_fit_and_violations() -> None:
    rng = np.random.default_rng(0)
    # Training poses: limb lengths jitter by +-5 %, so every log ratio lies within about +-0.1.
    train = np.stack([_random_pose(rng, 0.05) for _ in range(200)])
    stats = BoneStatistics.fit(train, percentiles=(0.0, 100.0))
    assert stats.counts["thigh_left_right"] == 200
    for name in RATIOS:
        assert -0.11 < stats.lower[name] < 0 < stats.upper[name] < 0.11
    good = _t_pose()
    bad_sym = _t_pose()
    bad_sym[14], bad_sym[15] = (115 + 60, 50), (115 + 90, 50)  # left upper arm twice the right
    collapsed = _t_pose()
    collapsed[0] = collapsed[1]  # right shank of zero length
    report = stats.violations(np.stack([good, bad_sym, collapsed]))
    assert report["per_pose"].tolist() == [False, True, True]
    assert report["any"] == pytest.approx(2 / 3)
    assert report["symmetry"] == pytest.approx(2 / 3)  # both broken poses break a left/right ratio
    # bad_sym keeps left upper-arm/forearm = 60/30 = 2 > 1.1: a proportion violation too.
    assert report["proportion"] == pytest.approx(2 / 3)
    assert report["per_ratio"]["upper_arm_left_right"] == pytest.approx(1 / 3)
    assert report["per_ratio"]["thigh_left_right"] == 0.0
    # The training poses themselves break nothing with the [0, 100] percentile range.
    assert stats.violations(train)["any"] == 0.0


def test_percentile_range_rejects_about_the_tails() -> None:
    rng = np.random.default_rng(1)
    train = np.stack([_random_pose(rng, 0.3) for _ in range(2000)])
    stats = BoneStatistics.fit(train, percentiles=(5.0, 95.0))
    per_ratio = stats.violations(train)["per_ratio"]
    for name in RATIOS:
        assert per_ratio[name] == pytest.approx(0.10, abs=0.01)


def test_roundtrip_and_errors(tmp_path) -> None:
    train = np.stack([_random_pose(np.random.default_rng(i), 0.1) for i in range(20)])
    stats = BoneStatistics.fit(train)
    stats.save(tmp_path / "s.json")
    import json

    again = BoneStatistics.from_dict(json.loads((tmp_path / "s.json").read_text()))
    assert again.lower == stats.lower and again.upper == stats.upper
    with pytest.raises(ValueError, match="min_count"):
        BoneStatistics.fit(train[:5])
    with pytest.raises(ValueError, match="joints must be"):
        bone_log_ratios(np.zeros((3, 14, 2)))
    with pytest.raises(ValueError, match="percentiles"):
        BoneStatistics.fit(train, percentiles=(50, 10))
    with pytest.raises(ValueError, match="lacks ratios"):
        BoneStatistics.from_dict({"lower": {}, "upper": {}})


class _Delta(nn.Module):
    """q_δ(z|s) with z = mean over the heatmap of each joint, pooled to (K, 1, 1); fixed variance."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.scale * s.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
        return mean, torch.full_like(mean, math.log(0.01))


class _Phi(nn.Module):
    """p_φ(s|z): every pixel of heatmap k has mean z_k and log-variance 1 (ignored when fixed)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = z.expand(-1, -1, self.size, self.size)
        return mean, torch.ones_like(mean)


def test_pose_lower_bound_matches_closed_form() -> None:
    torch.manual_seed(0)
    s = torch.rand(3, 16, 4, 4)
    delta, phi = _Delta(), _Phi(4)
    bound = plausibility.pose_lower_bound(delta, phi, s, num_samples=2000, seed=1)
    # With σ²_φ = 1: E[log N(s; z, 1)] = Σ_pixels [-½ log 2π - ½ ((s - μ)² + σ²_z)], z ~ N(μ, σ²_z).
    mu = s.mean(dim=(2, 3), keepdim=True)
    var_z = 0.01
    expected_ll = (-0.5 * math.log(2 * math.pi) - 0.5 * ((s - mu) ** 2 + var_z)).sum(dim=(1, 2, 3))
    kl = (0.5 * (var_z + mu**2 - 1 - math.log(var_z))).sum(dim=(1, 2, 3))
    assert torch.allclose(bound, expected_ll - kl, rtol=0, atol=0.1)
    # Deterministic for a fixed seed; batching does not change the values.
    again = plausibility.pose_lower_bound(delta, phi, s, num_samples=2000, seed=1, batch_size=1)
    assert torch.allclose(bound, plausibility.pose_lower_bound(delta, phi, s, num_samples=2000, seed=1))
    assert torch.allclose(bound, again, atol=0.1)
    # A pose far from what the VAE reconstructs scores lower.
    odd = s.clone()
    odd[:, :, 0, 0] += 5.0
    assert (plausibility.pose_lower_bound(delta, phi, odd, num_samples=200) < bound).all()


@pytest.mark.parametrize("fixed_variance", [True, False])
def test_pose_lower_bound_of_one_draw_by_hand(fixed_variance: bool) -> None:
    """One draw of z from the bound's own seeded noise: Eq. 34 written out, with σ²_φ = 1 or
    φ's variance branch (log σ²_φ = 1 for the stand-in)."""
    torch.manual_seed(1)
    s = torch.rand(3, 16, 4, 4)
    delta, phi = _Delta(), _Phi(4)
    bound = plausibility.pose_lower_bound(delta, phi, s, num_samples=1, seed=3, fixed_variance=fixed_variance)
    mu = s.mean(dim=(2, 3), keepdim=True)  # (3, 16, 1, 1), q_δ's mean; σ²_z = 0.01
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    z = mu + 0.1 * eps
    logvar = 0.0 if fixed_variance else 1.0
    log_lik = (-0.5 * (math.log(2 * math.pi) + logvar + (s - z) ** 2 / math.exp(logvar))).sum(dim=(1, 2, 3))
    kl = (0.5 * (0.01 + mu**2 - 1 - math.log(0.01))).sum(dim=(1, 2, 3))
    torch.testing.assert_close(bound, log_lik - kl)


class _Judge(nn.Module):
    """A MirrorNet stand-in: δ, φ and a pose bottleneck that halves the heatmaps."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.delta, self.phi = _Delta(), _Phi(size)

    def mirror_pose(self, s: torch.Tensor) -> torch.Tensor:
        return 0.5 * s


class _OneHot:
    """Encodes each joint as 1 at its pixel of a 4 × 4 heatmap (stride 1)."""

    def encode(self, joints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maps = np.zeros((len(joints), 4, 4), np.float32)
        for k, (x, y) in enumerate(np.clip(np.rint(joints), 0, 3).astype(int)):
            maps[k, y, x] = 1.0
        return maps, weights


def test_the_report_judges_poses_as_the_pose_vae_saw_them_in_training() -> None:
    """The re-encoded poses go through the judge's mirror_pose (a bottleneck's rendering) and p_φ
    uses the configured σ²_φ: the report's bound is pose_lower_bound of exactly those."""
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 3, (5, 16, 2))
    judge = _Judge(4)
    stats = BoneStatistics.fit(rng.uniform(10, 90, (200, 16, 2)))
    report = plausibility.plausibility_report(judge, _OneHot(), stats, {"m": coords}, {"m": coords * 10},
                                              np.ones((5, 16)), num_samples=3, seed=2, pose_variance=0.5)
    s = plausibility.reencode_poses(_OneHot(), coords)
    expected = plausibility.pose_lower_bound(judge.delta, judge.phi, 0.5 * s, num_samples=3, seed=2, pose_variance=0.5)
    assert report["m"]["log_p_lower_bound"] == pytest.approx(float(expected.mean()), rel=1e-6)
    for wrong in (plausibility.pose_lower_bound(judge.delta, judge.phi, s, num_samples=3, seed=2, pose_variance=0.5),
                  plausibility.pose_lower_bound(judge.delta, judge.phi, 0.5 * s, num_samples=3, seed=2)):
        assert abs(report["m"]["log_p_lower_bound"] - float(wrong.mean())) > 1e-3
    assert report["m"]["num_poses"] == 5


def test_bone_statistics_are_saved_atomically(tmp_path) -> None:
    stats = BoneStatistics.fit(np.random.default_rng(1).uniform(10, 90, (200, 16, 2)))
    stats.save(tmp_path / "stats.json")
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]
    assert BoneStatistics.from_dict(json.loads((tmp_path / "stats.json").read_text())).lower == stats.lower
