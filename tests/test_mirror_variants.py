"""The options that change what the mirrors see and how much they weigh (docs/model.md,
"Variants that are not in the paper"): the coordinate bottleneck, σ²_φ, the unlabelled weight.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from mirrornet import stage_objectives
from mirrornet.bounds import BoundSettings, labeled_elbo, semi_supervised_elbo, unlabeled_elbo, unlabeled_weight_at
from mirrornet.checkpoints import build_model
from mirrornet.config import ConfigError, load_config
from mirrornet.objectives import pose_vae_objective
from mirrornet.pose_bottleneck import CoordinateBottleneck, heatmap_centroids, render_gaussians
from mirrornet.training import run_experiment
from test_objectives import _conv_batch, conv_mirrornet

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"


# --------------------------------------------------------------------------------------------
# The coordinate bottleneck.
def test_centroids_find_rendered_joints_and_empty_heatmaps_stay_empty() -> None:
    coords = torch.tensor([[[5.3, 7.6], [8.0, 3.5], [0.0, 0.0]]])  # (1, 3, 2), 3+ pixels from the edges
    amplitude = torch.tensor([[1.0, 0.5, 0.0]])  # the third joint is absent
    maps = render_gaussians(coords, amplitude, (16, 12), sigma=1.0)  # (1, 3, 16, 12)
    found = heatmap_centroids(maps)
    torch.testing.assert_close(found[0, :2], coords[0, :2], atol=5e-3, rtol=0)
    # An annotation (the codec draws its Gaussians at whole pixels) is rendered as itself.
    annotation = render_gaussians(coords.round(), amplitude.ceil(), (16, 12), sigma=1.0)
    rendered = CoordinateBottleneck(sigma=1.0)(annotation)
    torch.testing.assert_close(rendered[0, :2], annotation[0, :2], atol=5e-3, rtol=0)
    assert float(rendered[0, 2].abs().max()) == 0.0


def test_bottleneck_jacobian_has_rank_at_most_two_per_joint() -> None:
    """θ's input is a function of 2K numbers per image: d(input)/d(heatmaps) has rank ≤ 2K."""
    torch.manual_seed(0)
    k, size = 4, 8
    bottleneck = CoordinateBottleneck(sigma=1.0)
    coords = torch.rand(1, k, 2) * (size - 3) + 1.5
    s = render_gaussians(coords, torch.ones(1, k), (size, size), 1.0) + 0.05 * torch.rand(1, k, size, size)
    jac = torch.autograd.functional.jacobian(bottleneck, s).reshape(k * size * size, k * size * size)
    rank = int(torch.linalg.matrix_rank(jac))
    assert 0 < rank <= 2 * k
    # Without it, MirrorNet.mirror_pose is the identity: the mirrors see every pixel (full rank).
    plain = conv_mirrornet(k=k)
    jac = torch.autograd.functional.jacobian(plain.mirror_pose, s).reshape(k * size * size, k * size * size)
    assert int(torch.linalg.matrix_rank(jac)) == k * size * size


def test_mirrors_see_the_bottlenecked_pose_in_forward_and_in_pretraining() -> None:
    torch.manual_seed(1)
    model = conv_mirrornet(pose_bottleneck=CoordinateBottleneck(sigma=1.0))
    x, x_star, target, weights = _conv_batch()
    seen = {}
    real_theta = model.theta.forward

    def spy(s, a, g):
        seen["theta_s"] = s
        return real_theta(s, a, g)

    model.theta.forward = spy
    annotated = torch.tensor([1, 0, 1, 0])
    out = model(x, x_star, target, annotated, pose_source="annotation")
    # Annotated rows: the bottleneck of the annotation; the others: of μ_α, not of the sample.
    expected = model.pose_bottleneck(torch.where(annotated.bool().view(-1, 1, 1, 1), target, out.s_mean))
    torch.testing.assert_close(out.s_mirror, expected)
    torch.testing.assert_close(seen["theta_s"], expected)
    # The plausibility term judges the pose the mirrors saw.
    from mirrornet.distributions import gaussian_log_prob

    terms = unlabeled_elbo(out.select(~annotated.bool()))
    manual = gaussian_log_prob(out.s_mirror[~annotated.bool()], out.pose.s_rec_mean[~annotated.bool()], 0.0).mean()
    torch.testing.assert_close(terms["plausibility"], manual)
    # The fidelity term reaches α on the unlabelled rows, through the coordinates.
    mean_grad = torch.autograd.grad(terms["fidelity"], out.s_mean, retain_graph=True)[0]
    assert float(mean_grad[~annotated.bool()].abs().sum()) > 0


def test_pretraining_stages_feed_the_bottlenecked_annotation() -> None:
    config = load_config(TINY, ["model.pose_bottleneck=coordinates"])
    model = build_model(config)
    assert isinstance(model.pose_bottleneck, CoordinateBottleneck)
    assert model.pose_bottleneck.sigma == config.data.sigma
    gen = torch.Generator().manual_seed(0)
    heat = torch.rand(2, 16, 16, 16, generator=gen)
    batch = {"x_star": torch.rand(2, 3, 16, 16, generator=gen), "heatmaps": heat,
             "silhouette": torch.rand(2, 1, 16, 16, generator=gen), "has_silhouette": torch.ones(2)}
    seen = {}
    real_pose_vae = model.pose_vae

    def spy(s):
        seen["s"] = s
        return real_pose_vae(s)

    model.pose_vae = spy
    stage_objectives.pose_vae(model, batch, config, 0.0)
    torch.testing.assert_close(seen["s"], model.pose_bottleneck(heat))


# --------------------------------------------------------------------------------------------
# σ²_φ.
def test_pose_variance_sets_sigma_phi_in_pretraining_and_joint_bounds() -> None:
    torch.manual_seed(2)
    model = conv_mirrornet()
    x, x_star, target, weights = _conv_batch()
    pose = model.pose_vae(target)
    got = pose_vae_objective(pose, target, pose_variance=0.01)
    manual = (-0.5 * (math.log(2 * math.pi * 0.01) + (target - pose.s_rec_mean) ** 2 / 0.01)).flatten(1).sum(1).mean()
    torch.testing.assert_close(got["plausibility"], manual)
    # learned + a variance: the branch, floored.
    floored = pose.s_rec_logvar.clamp_min(math.log(0.01))
    manual = (-0.5 * (math.log(2 * math.pi) + floored + (target - pose.s_rec_mean) ** 2 / floored.exp())).flatten(1).sum(1).mean()
    torch.testing.assert_close(pose_vae_objective(pose, target, True, pose_variance=0.01)["plausibility"], manual)

    out = model(x, x_star, target, pose_source="annotation")
    base = labeled_elbo(out, target, weights)
    sharp = labeled_elbo(out, target, weights, BoundSettings(pose_variance=0.01))
    residual = (-0.5 * (out.s_mirror - out.pose.s_rec_mean) ** 2).flatten(1).sum(1).mean()
    constant = -0.5 * math.log(0.01) * target[0].numel()
    # log N(s; μ, σ²) = log N(s; μ, 1) + (1/σ² − 1)·(−½Σ(s−μ)²) − ½·K·h·w·log σ².
    torch.testing.assert_close(sharp["plausibility"], base["plausibility"] + 99 * residual + constant)
    torch.testing.assert_close(sharp["fidelity"], base["fidelity"])
    with pytest.raises(ValueError, match="pose_variance"):
        pose_vae_objective(pose, target, pose_variance=0.0)


# --------------------------------------------------------------------------------------------
# The unlabelled weight and its ramp.
def test_unlabeled_weight_ramp_values() -> None:
    assert unlabeled_weight_at(3.0, 0.5, 0.0) == 0.5
    assert unlabeled_weight_at(0.0, 1.0, 4.0) == pytest.approx(math.exp(-5))
    assert unlabeled_weight_at(2.0, 0.5, 4.0) == pytest.approx(0.5 * math.exp(-1.25))
    assert unlabeled_weight_at(4.0, 1.0, 4.0) == 1.0 == unlabeled_weight_at(9.0, 1.0, 4.0)


def test_unlabeled_weight_scales_only_the_unlabelled_rows() -> None:
    torch.manual_seed(3)
    model = conv_mirrornet()
    x, x_star, target, weights = _conv_batch(b=6)
    annotated = torch.tensor([1, 0, 1, 1, 0, 0])
    lab, unl = annotated.bool(), ~annotated.bool()
    out = model(x, x_star, target, annotated)
    part_l = labeled_elbo(out.select(lab), target[lab], weights[lab])
    part_u = unlabeled_elbo(out.select(unl))
    for w in (0.0, 0.3, 1.0):
        got = semi_supervised_elbo(out, target, weights, unlabeled_weight=w)
        torch.testing.assert_close(got["total"], (3 * part_l["total"] + w * 3 * part_u["total"]) / 6)
        torch.testing.assert_close(got["fidelity"], (3 * part_l["fidelity"] + w * 3 * part_u["fidelity"]) / 6)
        assert float(got["unlabeled_weight"]) == pytest.approx(w)
    with pytest.raises(ValueError, match="unlabeled_weight"):
        semi_supervised_elbo(out, target, weights, unlabeled_weight=-1.0)


def test_semi_supervised_stage_ramps_the_unlabelled_weight(tmp_path: Path) -> None:
    config = load_config(TINY, ["train.unlabeled_rampup_epochs=2", "train.epochs.semi_supervised=2"])
    run_experiment(config, tmp_path, progress=False)
    ckpt = torch.load(tmp_path / "checkpoints" / "semi_supervised.ckpt", weights_only=False)
    weights = [r["train"]["semi_supervised/unlabeled_weight"] for r in ckpt["history"]]
    assert len(weights) == 2
    # Epoch means along the ramp exp(−5(1 − t)²): small at first, rising, below 1 until the end.
    assert weights[0] < 0.2 < weights[1] < 1.0


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.pose_bottleneck=pixels", "model.pose_bottleneck"),
        ("model.bottleneck_power=0.5", "model.bottleneck_power"),
        ("model.pose_variance=0", "model.pose_variance"),
        ("model.pose_variance=-1", "model.pose_variance"),
        ("train.unlabeled_weight=-0.1", "train.unlabeled_weight"),
        ("train.unlabeled_rampup_epochs=-1", "train.unlabeled_rampup_epochs"),
    ],
)
def test_variant_keys_are_checked(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(TINY, [override])
