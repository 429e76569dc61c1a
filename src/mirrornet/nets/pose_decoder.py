"""Pose generator φ: p_φ(s | z), three transposed convolutions (MirrorNet Sec. 4.3, Fig. 6).

"The generator φ is implemented as a three-layered transposed convolutional network, where a
branching architecture was introduced in the last layer to evaluate the pose plausibility."

    z (B, 256, h/8, w/8)
    → 4×4/2 transposed conv, width channels, BN, ReLU      (h/4, w/4)
    → 4×4/2 transposed conv, width channels, BN, ReLU      (h/2, w/2)
    → two 4×4/2 transposed convs, K channels each: s_mean and s_logvar   (h, w)

Each layer doubles the resolution, so three of them take z at 1/8 (8×8 for LSP, 8×6 for MPII)
to the heatmaps at 64×64 / 64×48. The figure fixes the layer count and the branching, not the
widths; one hidden width of 176 matches Table 8 (1.31M parameters against 1.33M, 1.06 GMACs
against 1.13 when a transposed convolution is counted at its output resolution, as Table 8 does:
see :mod:`mirrornet.nets.summary`).
"""

from __future__ import annotations

import torch
from torch import nn

from mirrornet.nets.layers import init_logvar_head


def _up(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    # 4×4 kernel, stride 2, padding 1: exactly doubles the size (as in DCGAN and SimpleBaseline).
    return nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)


class PoseGenerator(nn.Module):
    """φ: p_φ(s | z) = N(s_mean, diag(exp(s_logvar))) (Eq. 3, Fig. 6).

    Args:
        num_joints: Number of heatmaps K.
        latent_channels: Channels of the primitive z (256 in the paper).
        width: Channels of the two hidden transposed convolutions.
    """

    def __init__(self, num_joints: int = 16, latent_channels: int = 256, width: int = 176) -> None:
        super().__init__()
        if min(num_joints, latent_channels, width) < 1:
            raise ValueError(
                f"PoseGenerator sizes must be positive, got num_joints={num_joints}, "
                f"latent_channels={latent_channels}, width={width}"
            )
        self.latent_channels = latent_channels
        self.body = nn.Sequential(
            _up(latent_channels, width),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            _up(width, width),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        # The branching last layer of Fig. 6.
        self.mean = _up(width, num_joints)
        self.logvar = _up(width, num_joints)
        init_logvar_head(self.logvar)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate the heatmaps' Gaussian.

        Args:
            z: Primitive (B, latent, h/8, w/8).

        Returns:
            (s_mean, s_logvar), each (B, K, h, w).
        """
        if z.dim() != 4 or z.shape[1] != self.latent_channels:
            raise ValueError(f"PoseGenerator expects z of shape (B, {self.latent_channels}, h, w), got {tuple(z.shape)}")
        features = self.body(z)  # (B, width, h/2, w/2)
        return self.mean(features), self.logvar(features)
