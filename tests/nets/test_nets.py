"""Tests of mirrornet.nets: shapes, input checks and paper-size parameter counts.

Forward and backward passes of every registered net are in ``tests/nets/test_recognizers.py``.
"""

from __future__ import annotations

import math

import pytest
import torch

from mirrornet.nets import (
    PAPER_RECOGNIZERS,
    RECOGNIZERS,
    GaussianEncoder,
    ImageGenerator,
    MaskEstimator,
    PoseGenerator,
    VAENetsConfig,
    build_recognizer,
    build_vae_nets,
    count_parameters,
    sharpen,
)
from mirrornet.nets.layers import match_size
from mirrornet.nets.unet import UNet, unet_widths

SMALL_RECOGNIZERS = ["hourglass_2x64", "hourglass_1x32", "resnet18_w16", "resnet10_w8", "hrnet_w8"]
K = 16


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _stacks(out: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    return out if isinstance(out, list) else [out]


# --- recognizers α -------------------------------------------------------------------------------


def test_registry_holds_paper_and_small_variants() -> None:
    for name in [*PAPER_RECOGNIZERS, *SMALL_RECOGNIZERS]:
        assert name in RECOGNIZERS
    with pytest.raises(KeyError, match="valid"):
        build_recognizer("resnet51")


def test_hourglass_returns_one_output_per_stack() -> None:
    net = build_recognizer("hourglass_2x64").eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 64, 64))
    assert isinstance(out, list) and len(out) == 2
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("name", SMALL_RECOGNIZERS)
@pytest.mark.parametrize("size", [(64, 64), (128, 128), (128, 96), (256, 256), (256, 192)])
def test_small_recognizer_shapes(name: str, size: tuple[int, int]) -> None:
    # The meta device checks shapes with no arithmetic; the two small sizes also run for real.
    device = "cpu" if size[0] * size[1] <= 128 * 96 else "meta"
    with torch.device(device):
        net = build_recognizer(name, num_joints=14).eval()
        with torch.no_grad():
            stacks = _stacks(net(torch.zeros(1, 3, *size)))
    for s in stacks:
        assert tuple(s.shape) == (1, 14, size[0] // 4, size[1] // 4)


@pytest.mark.parametrize("name", PAPER_RECOGNIZERS)
@pytest.mark.parametrize("size", [(256, 256), (256, 192)])
def test_paper_recognizer_shapes(name: str, size: tuple[int, int]) -> None:
    with torch.device("meta"):
        net = build_recognizer(name).eval()
        stacks = _stacks(net(torch.zeros(2, 3, *size)))
    assert len(stacks) == (8 if name == "hourglass" else 1)
    assert all(tuple(s.shape) == (2, K, size[0] // 4, size[1] // 4) for s in stacks)


@pytest.mark.parametrize(("name", "paper"), [("hourglass", 25.59e6), ("resnet50", 34.00e6), ("hrnet_w32", 28.54e6)])
def test_paper_recognizer_parameters_match_table8(name: str, paper: float) -> None:
    with torch.device("meta"):
        params = count_parameters(build_recognizer(name))
    assert abs(params - paper) / paper < 0.01


@pytest.mark.parametrize("name", ["resnet10_w8", "hrnet_w8"])
def test_recognizers_reject_sides_not_divisible_by_32(name: str) -> None:
    net = build_recognizer(name)
    with pytest.raises(ValueError, match="divisible by 32"):
        net(torch.zeros(1, 3, 64, 48))


def test_hourglass_accepts_sides_divisible_by_4_only() -> None:
    net = build_recognizer("hourglass_1x32").eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 72, 40))[-1].shape == (1, K, 18, 10)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.zeros(1, 3, 66, 64))


# --- β, γ, δ, θ, ψ, φ ----------------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(64, 64), (64, 48)])
def test_vae_nets_paper_shapes(hw: tuple[int, int]) -> None:
    h, w = hw
    with torch.device("meta"):
        nets = build_vae_nets(VAENetsConfig.paper())
        s = torch.zeros(1, K, h, w)
        a_mean, _ = nets["beta"](torch.zeros(1, 3, h, w))
        z_mean, _ = nets["delta"](s)
        x_mean, _ = nets["theta"](s, a_mean, a_mean)
        s_mean, _ = nets["phi"](z_mean)
        mask = nets["psi"](x_mean, s)
    # 256×8×8 for LSP and 256×8×6 for MPII (Sec. 5.2).
    assert tuple(a_mean.shape) == tuple(z_mean.shape) == (1, 256, 8, w // 8)
    assert tuple(x_mean.shape) == (1, 3, h, w)
    assert tuple(s_mean.shape) == (1, K, h, w)
    assert tuple(mask.shape) == (1, 1, h, w)


@pytest.mark.parametrize(
    ("key", "paper"),
    [("beta", 5.28e6), ("gamma", 5.28e6), ("delta", 5.29e6), ("theta", 12.84e6), ("psi", 10.28e6), ("phi", 1.33e6)],
)
def test_vae_net_parameters_match_table8(key: str, paper: float) -> None:
    with torch.device("meta"):
        params = count_parameters(build_vae_nets()[key])
    assert abs(params - paper) / paper < 0.10


def test_small_config_scales_every_net_down() -> None:
    with torch.device("meta"):
        paper = {k: count_parameters(v) for k, v in build_vae_nets(VAENetsConfig.paper()).items()}
        small = {k: count_parameters(v) for k, v in build_vae_nets(VAENetsConfig.small()).items()}
    for key in paper:
        assert small[key] < paper[key] / 50, key
    assert VAENetsConfig.paper() == VAENetsConfig()


@pytest.mark.parametrize("key", ["encoder_width", "theta_width", "latent_channels", "phi_width"])
def test_config_rejects_bad_sizes_naming_the_key(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        VAENetsConfig(**{key: 0})
    with pytest.raises(ValueError, match=key):
        VAENetsConfig(**{key: 2.5})
    # Fields set one by one (config overrides) are checked when the nets are built.
    config = VAENetsConfig.small()
    setattr(config, key, -3)
    with pytest.raises(ValueError, match=key):
        build_vae_nets(config)


def test_encoder_branches_differ_and_check_input() -> None:
    enc = GaussianEncoder(5, latent_channels=4, width=4).eval()
    with torch.no_grad():
        mean, logvar = enc(torch.randn(1, 5, 24, 16))
    assert mean.shape == logvar.shape == (1, 4, 3, 2)
    assert not torch.allclose(mean, logvar)
    with pytest.raises(ValueError, match="divisible by 8"):
        enc(torch.zeros(1, 5, 20, 16))
    with pytest.raises(ValueError, match=r"\(B, 5, h, w\)"):
        enc(torch.zeros(1, 3, 16, 16))


def test_logvar_heads_start_near_unit_variance() -> None:
    # The variance branches start at log σ² ≈ 0 so the first Gaussian likelihoods are tame.
    gen = PoseGenerator(num_joints=K, latent_channels=8, width=8).eval()
    with torch.no_grad():
        _, s_logvar = gen(torch.randn(1, 8, 2, 2))
    assert s_logvar.abs().max() < 0.05


def test_pose_generator_upsamples_eightfold() -> None:
    gen = PoseGenerator(num_joints=K, latent_channels=8, width=8)
    s_mean, s_logvar = gen(torch.randn(3, 8, 2, 3))
    assert s_mean.shape == s_logvar.shape == (3, K, 16, 24)
    with pytest.raises(ValueError, match="PoseGenerator"):
        gen(torch.randn(1, 7, 2, 2))


def test_image_generator_uses_the_latents_and_checks_their_size() -> None:
    gen = ImageGenerator(num_joints=K, latent_channels=4, width=4).eval()
    s = torch.rand(1, K, 16, 16)
    a, g = torch.randn(1, 4, 2, 2), torch.randn(1, 4, 2, 2)
    with torch.no_grad():
        x1, _ = gen(s, a, g)
        x2, _ = gen(s, a, torch.randn(1, 4, 2, 2))
    assert not torch.allclose(x1, x2)  # the scene g changes the image
    with pytest.raises(ValueError, match="bottom input"):
        gen(s, torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4))


def test_sharpen_is_the_papers_sigmoid() -> None:
    x = torch.tensor([0.0, 0.1, -0.2, 1.0])
    expected = torch.tensor([0.5, 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(2)), 1 / (1 + math.exp(-10))])
    assert torch.allclose(sharpen(x), expected)


def test_mask_estimator_output_is_sharpened_last_layer() -> None:
    psi = MaskEstimator(num_joints=K, width=4).eval()
    x_star, s = torch.randn(1, 3, 16, 16), torch.rand(1, K, 16, 16)
    with torch.no_grad():
        raw = psi.head(psi.body(torch.cat([x_star, s], dim=1)))
        w = psi(x_star, s)
    assert torch.allclose(w, 1 / (1 + torch.exp(-10 * raw)))
    with pytest.raises(ValueError, match="MaskEstimator"):
        psi(x_star, s[:, :15])


def test_mask_estimator_works_on_sides_not_divisible_by_16() -> None:
    psi = MaskEstimator(num_joints=K, width=4).eval()
    with torch.no_grad():
        assert psi(torch.randn(1, 3, 20, 12), torch.rand(1, K, 20, 12)).shape == (1, 1, 20, 12)


def test_unet_widths_and_match_size() -> None:
    assert unet_widths(40, 4, 512) == (40, 80, 160, 320, 512)
    assert unet_widths(8, 3) == (8, 16, 32, 64)
    x = torch.arange(12.0).view(1, 1, 3, 4)
    assert torch.equal(match_size(x, (2, 3)), x[..., :2, :3])
    padded = match_size(x, (4, 4))
    assert padded.shape == (1, 1, 4, 4) and padded[..., 3, :].abs().sum() == 0
    with pytest.raises(ValueError, match="two positive widths"):
        UNet(3, (8,))


def test_vae_presets_by_name() -> None:
    from mirrornet.choices import VAE_PRESETS
    from mirrornet.nets import VAENetsConfig

    assert {name: VAENetsConfig.preset(name) for name in VAE_PRESETS} == {
        "paper": VAENetsConfig.paper(), "small": VAENetsConfig.small()
    }
    with pytest.raises(ValueError, match="unknown VAE preset 'tiny'; valid: paper, small"):
        VAENetsConfig.preset("tiny")
