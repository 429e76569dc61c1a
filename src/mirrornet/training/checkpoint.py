"""Checkpoints that rebuild their model alone, written atomically, read with ``weights_only=True``.

A checkpoint is a dict of plain tensors, numbers, strings, lists and dicts (so that
``torch.load(weights_only=True)`` reads it without trusting pickled code):

* ``config`` — the resolved :class:`~mirrornet.config.Config` as a dict of primitives;
* ``stage``, ``epoch`` (epochs of the stage completed), ``completed`` (the stage has finished);
* ``state_dict`` — the whole :class:`~mirrornet.model.MirrorNet` (α … ψ);
* ``optimizer`` — Adam's state (resume in the middle of a stage, or a stage continuing another);
* ``history`` — the per-epoch records of every stage so far (objective terms and α's scores).

Files are written to a temporary name in the same folder and renamed, so that an interrupted
write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from mirrornet.config import Config, config_from_dict

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "build_model",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
]

CHECKPOINT_FORMAT = "mirrornet-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not a MirrorNet checkpoint."""


def build_model(config: Config) -> torch.nn.Module:
    """Build an untrained :class:`~mirrornet.model.MirrorNet` from a config.

    α is ``mirrornet.nets.build_recognizer(config.model.recognizer)``; β … ψ come from
    ``build_vae_nets`` with the ``paper`` or ``small`` widths, overridden by
    ``config.model.vae_widths``.

    Args:
        config: the experiment config (``config.model``, and ``data.sigma`` for a pose bottleneck).

    Returns:
        The MirrorNet module.
    """
    from mirrornet.model import MirrorNet
    from mirrornet.nets import VAENetsConfig, build_recognizer, build_vae_nets

    m = config.model
    vae_cfg = VAENetsConfig.small() if m.vae_preset == "small" else VAENetsConfig()
    if m.vae_widths:
        valid = set(VAENetsConfig.__dataclass_fields__)
        unknown = sorted(set(m.vae_widths) - valid)
        if unknown:
            raise ValueError(
                f"unknown key model.vae_widths.{unknown[0]}; valid keys: "
                + ", ".join(f"model.vae_widths.{k}" for k in sorted(valid))
            )
        for key, value in m.vae_widths.items():
            setattr(vae_cfg, key, value)
    try:
        alpha = build_recognizer(m.recognizer)
    except KeyError as exc:
        raise ValueError(f"model.recognizer: {exc.args[0] if exc.args else exc}") from None
    nets = build_vae_nets(vae_cfg)
    bottleneck = None
    if m.pose_bottleneck == "coordinates":
        from mirrornet.pose_bottleneck import CoordinateBottleneck

        bottleneck = CoordinateBottleneck(sigma=config.data.sigma, power=m.bottleneck_power)
    return MirrorNet(
        alpha=alpha,
        alpha_logvar=math.log(m.alpha_variance),
        learn_alpha_variance=m.learn_alpha_variance,
        pose_bottleneck=bottleneck,
        **nets,
    )


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file in the same folder, then rename).

    Args:
        path: destination file.
        payload: a dict of tensors / primitives (see the module docstring).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)`` on the CPU.

    Raises:
        CheckpointError: the file is missing, unreadable, or not a MirrorNet checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: name it, keep the reason
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a MirrorNet checkpoint")
    return payload


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, Config]:
    """Rebuild the trained MirrorNet of a checkpoint from the config stored inside it.

    Args:
        path: a ``checkpoints/<stage>.ckpt`` file.

    Returns:
        (model in eval mode on the CPU, its config).

    Raises:
        CheckpointError: unreadable file, or weights that do not fit the stored config.
    """
    payload = read_checkpoint(path)
    config = config_from_dict(payload["config"])
    model = build_model(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {path} do not fit its config: {exc}") from None
    model.eval()
    return model, config
