"""The six networks around the recognizer: β, γ, δ, θ, ψ, φ (MirrorNet Sec. 4.2-4.3, Table 8).

One dataclass holds their sizes so that the paper-size nets (``VAENetsConfig.paper()``, the
defaults) and the small CPU nets (``VAENetsConfig.small()``) are scaled together, and one builder
returns them by their paper names:

=====  ==========================  =================================  =======================
name   role                        class                              size knob
=====  ==========================  =================================  =======================
beta   q_β(a | s, x), Eq. 12        GaussianEncoder(3, latent, w)      ``encoder_width``
gamma  q_γ(g | s, x), Eq. 13        GaussianEncoder(3, latent, w)      ``encoder_width``
delta  q_δ(z | s), Eq. 14           GaussianEncoder(K, latent, w)      ``encoder_width``
theta  p_θ(x | s, a, g), Eq. 2      ImageGenerator(K, latent, w)       ``theta_width``
psi    mask estimator, Eq. 32-33    MaskEstimator(K, w, cap)           ``psi_width``, ``psi_max_width``
phi    p_φ(s | z), Eq. 3            PoseGenerator(K, latent, w)        ``phi_width``
=====  ==========================  =================================  =======================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from torch import nn

from mirrornet.choices import VAE_PRESETS
from mirrornet.nets.encoder import GaussianEncoder
from mirrornet.nets.pose_decoder import PoseGenerator
from mirrornet.nets.unet import ImageGenerator, MaskEstimator

#: The keys of :func:`build_vae_nets`'s result, in the order Table 8 lists them.
VAE_NET_NAMES: tuple[str, ...] = ("beta", "gamma", "theta", "psi", "delta", "phi")


@dataclass
class VAENetsConfig:
    """Sizes of β, γ, δ, θ, ψ and φ. The defaults are the paper's sizes (Table 8).

    Attributes:
        latent_channels: Channels of the latent maps a, g, z (256 in the paper; the maps are at
            1/8 of the heatmap resolution, 256×8×8 for LSP and 256×8×6 for MPII).
        encoder_width: First residual block width of β, γ and δ (blocks use w, 2w, 4w, 8w).
        theta_width: First level width of θ's U-Net (levels w, 2w, 4w, 8w).
        psi_width: First level width of ψ's U-Net (levels w … 16w, capped at psi_max_width).
        psi_max_width: Channel cap of ψ's U-Net (0 means no cap).
        phi_width: Hidden width of φ's two transposed convolutions.
    """

    latent_channels: int = 256
    encoder_width: int = 64
    theta_width: int = 72
    psi_width: int = 40
    psi_max_width: int = 512
    phi_width: int = 176

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every size (also after fields were set one by one, e.g. from config overrides).

        Raises:
            ValueError: Naming the field and the bad value.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            minimum = 0 if f.name == "psi_max_width" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"VAENetsConfig.{f.name} must be an integer >= {minimum}, got {value!r}")

    @classmethod
    def paper(cls) -> VAENetsConfig:
        """The paper's sizes (Table 8): about 5.2M (β, γ, δ each), 12.4M (θ), 10.3M (ψ), 1.3M (φ)."""
        return cls()

    @classmethod
    def small(cls) -> VAENetsConfig:
        """Small sizes for CPU tests and demos (a few hundred thousand parameters in all)."""
        return cls(latent_channels=16, encoder_width=8, theta_width=8, psi_width=4, psi_max_width=0, phi_width=16)

    def to_dict(self) -> dict[str, int]:
        """The sizes as a plain dict (for configs and checkpoints)."""
        return asdict(self)

    @classmethod
    def preset(cls, name: str) -> VAENetsConfig:
        """The sizes of a named preset (``model.vae_preset``): one of ``choices.VAE_PRESETS``.

        Raises:
            ValueError: an unknown name, listing the presets.
        """
        builders = {"paper": cls.paper, "small": cls.small}
        if set(builders) != set(VAE_PRESETS):  # the owner of the names and this table agree
            raise AssertionError(f"VAE presets {sorted(builders)} differ from choices.VAE_PRESETS {VAE_PRESETS}")
        if name not in builders:
            raise ValueError(f"unknown VAE preset {name!r}; valid: {', '.join(VAE_PRESETS)}")
        return builders[name]()


def build_vae_nets(config: VAENetsConfig | None = None, num_joints: int = 16) -> dict[str, nn.Module]:
    """Build β, γ, δ, θ, ψ, φ.

    Args:
        config: Sizes; None for the paper's.
        num_joints: Number of heatmaps K.

    Returns:
        A dict with keys "beta", "gamma", "delta", "theta", "psi", "phi".
    """
    c = VAENetsConfig.paper() if config is None else config
    c.validate()
    if num_joints < 1:
        raise ValueError(f"build_vae_nets: num_joints must be >= 1, got {num_joints}")
    return {
        "beta": GaussianEncoder(3, c.latent_channels, c.encoder_width),
        "gamma": GaussianEncoder(3, c.latent_channels, c.encoder_width),
        "delta": GaussianEncoder(num_joints, c.latent_channels, c.encoder_width),
        "theta": ImageGenerator(num_joints, c.latent_channels, c.theta_width),
        "psi": MaskEstimator(num_joints, c.psi_width, c.psi_max_width or None),
        "phi": PoseGenerator(num_joints, c.latent_channels, c.phi_width),
    }
