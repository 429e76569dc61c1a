"""Checkpoints read back: rebuild a trained MirrorNet alone, with ``torch.load(weights_only=True)``.

A checkpoint is a dict of plain tensors, numbers, strings, lists and dicts (so that
``torch.load(weights_only=True)`` reads it without trusting pickled code):

* ``format`` — :data:`CHECKPOINT_FORMAT`;
* ``config`` — the resolved :class:`~mirrornet.config.Config` as a dict of primitives;
* ``stage``, ``epoch`` (epochs of the stage completed), ``completed`` (the stage has finished);
* ``state_dict`` — the whole :class:`~mirrornet.model.MirrorNet` (α … ψ);
* ``optimizer`` — Adam's state (resume in the middle of a stage, or a stage continuing another);
* ``history`` — the per-epoch records of every stage so far (objective terms and α's scores).

A *recognizer file* (:data:`RECOGNIZER_FORMAT`, written by
:func:`mirrornet.pretrained.pack_default_model`) holds only what runs at run time: ``format``,
``config`` and ``state_dict`` with α's tensors (``alpha.*``). :func:`load_checkpoint` reads both
kinds; training resumes only from full checkpoints.

This module only reads checkpoints and builds models from configs, so that inference
(:mod:`mirrornet.predict`, :mod:`mirrornet.export`, ``mirrornet evaluate``) needs no training
code; training writes them (:func:`mirrornet.training.checkpoint.save_checkpoint`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from mirrornet.config import Config, ConfigError, config_from_dict

__all__ = [
    "CHECKPOINT_FORMAT",
    "RECOGNIZER_FORMAT",
    "CheckpointError",
    "RecognizerOnly",
    "build_model",
    "read_checkpoint",
    "load_checkpoint",
    "checkpoint_config",
    "load_weights",
]

#: The ``format`` entry of every MirrorNet checkpoint.
CHECKPOINT_FORMAT = "mirrornet-checkpoint-v1"
#: The ``format`` entry of a file holding the recognizer α alone (config and α's weights).
RECOGNIZER_FORMAT = "mirrornet-recognizer-v1"


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
    vae_cfg = VAENetsConfig.preset(m.vae_preset)
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


class RecognizerOnly(torch.nn.Module):
    """α alone, for inference from a recognizer file: ``recognize`` as :class:`MirrorNet`'s.

    Args:
        alpha: the recognizer.
        num_joints: the heatmaps α returns (16).
    """

    def __init__(self, alpha: torch.nn.Module, num_joints: int = 16) -> None:
        super().__init__()
        self.alpha = alpha
        self.num_joints = int(num_joints)

    def recognize(self, x: torch.Tensor) -> list[torch.Tensor]:
        """α's heatmaps of every stack, the last being the prediction (checked as MirrorNet checks them)."""
        from mirrornet.model import MirrorNet

        return MirrorNet.recognize(self, x)  # type: ignore[arg-type]  # reads .alpha and .num_joints only


def read_checkpoint(path: str | Path, mmap: bool = False, recognizer_ok: bool = False) -> dict[str, Any]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)`` on the CPU.

    Args:
        path: the checkpoint file.
        mmap: map the tensors' storage instead of reading it (cheap when only the config,
            stage or history is needed).
        recognizer_ok: also accept a recognizer file (:data:`RECOGNIZER_FORMAT`).

    Raises:
        CheckpointError: the file is missing, unreadable, or not a MirrorNet checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"{path} is a folder, not a checkpoint file (a run keeps them in <run>/checkpoints/<stage>.ckpt)"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(
            f"{path} is not a readable MirrorNet checkpoint: the file is empty (0 bytes; "
            "an interrupted copy or download?)"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:
        # torch's own text for a foreign or truncated file is unpickler noise ("101", "Unsupported
        # operand 170") or advice to drop weights_only, which would be wrong here; only the
        # error's kind is kept, as a hint.
        raise CheckpointError(
            f"{path} is not a readable MirrorNet checkpoint ({size} bytes that torch.load cannot read: "
            f"{type(exc).__name__}; a truncated, corrupt or foreign file?)"
        ) from None
    fmt = payload.get("format") if isinstance(payload, dict) else None
    newer = re.fullmatch(r"mirrornet-checkpoint-v(\d+)", fmt) if isinstance(fmt, str) else None
    if newer and int(newer.group(1)) > int(CHECKPOINT_FORMAT.rsplit("v", 1)[1]):
        raise CheckpointError(
            f"{path} was written by a newer MirrorNet (checkpoint format {fmt}; this version reads "
            f"{CHECKPOINT_FORMAT}); upgrade MirrorNet to use it"
        )
    formats = (CHECKPOINT_FORMAT, RECOGNIZER_FORMAT) if recognizer_ok else (CHECKPOINT_FORMAT,)
    if fmt not in formats:
        if fmt == RECOGNIZER_FORMAT:
            raise CheckpointError(
                f"{path} holds the recognizer α alone (for predict and evaluate); training needs a full checkpoint"
            )
        raise CheckpointError(f"{path} is not a MirrorNet checkpoint")
    for key in ("config", "state_dict"):
        # Every MirrorNet checkpoint holds both; without them it can neither rebuild its model
        # nor be resumed.
        if not isinstance(payload.get(key), dict):
            problem = "has no" if key not in payload else "has a malformed"
            raise CheckpointError(
                f"{path} is a MirrorNet checkpoint but {problem} '{key}' entry; it cannot be used"
            )
    return payload


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, Config]:
    """Rebuild the trained MirrorNet of a checkpoint from the config stored inside it.

    Args:
        path: a ``checkpoints/<stage>.ckpt`` file, or a recognizer file
            (:func:`mirrornet.pretrained.pack_default_model`).

    Returns:
        (model in eval mode on the CPU, its config). The model of a recognizer file is a
        :class:`RecognizerOnly` (``alpha`` and ``recognize``, all that inference uses).

    Raises:
        CheckpointError: unreadable file, weights that do not fit the stored config, or weights
            that hold NaN or infinite values.
    """
    payload = read_checkpoint(path, recognizer_ok=True)
    config = checkpoint_config(payload, path)
    try:
        if payload["format"] == RECOGNIZER_FORMAT:
            from mirrornet.nets import build_recognizer

            model = RecognizerOnly(build_recognizer(config.model.recognizer))
        else:
            model = build_model(config)
    except KeyError as exc:  # build_recognizer's unknown name
        raise CheckpointError(f"cannot rebuild the model of checkpoint {path}: {exc.args[0] if exc.args else exc}") from None
    except ValueError as exc:  # e.g. a recognizer or a VAE width this version does not know
        raise CheckpointError(f"cannot rebuild the model of checkpoint {path}: {exc}") from None
    load_weights(model, payload["state_dict"], path)
    # NaN / inf weights turn every prediction into NaN: refuse them here, naming the tensor.
    for key, tensor in payload["state_dict"].items():
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"checkpoint {path}: tensor {key} holds NaN or infinite values")
    model.eval()
    return model, config


def checkpoint_config(payload: dict[str, Any], path: str | Path) -> Config:
    """The validated :class:`Config` saved inside a checkpoint payload.

    Args:
        payload: a dict returned by :func:`read_checkpoint`.
        path: the checkpoint file, for the message.

    Raises:
        CheckpointError: the saved config has an unknown key or an invalid value (the message
            names the checkpoint and the key).
    """
    try:
        return config_from_dict(payload["config"])
    except ConfigError as exc:
        raise CheckpointError(f"the config saved in checkpoint {path} is not valid here: {exc}") from None


def load_weights(model: torch.nn.Module, state_dict: dict[str, Any], source: str | Path) -> None:
    """Load ``state_dict`` into ``model`` strictly; a mismatch is one line, not torch's dump.

    ``torch.nn.Module.load_state_dict`` lists every missing, unexpected and mis-shaped tensor
    (hundreds of lines for a recognizer of another size); the error here counts them per network
    (α = ``alpha``, β … ψ) and shows the first of them.

    Args:
        model: the MirrorNet built from the checkpoint's config.
        state_dict: the saved weights.
        source: the checkpoint file (or a description of where the weights come from).

    Raises:
        CheckpointError: the weights do not fit the model.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [
        k
        for k in expected
        if k in state_dict
        and (not torch.is_tensor(state_dict[k]) or tuple(state_dict[k].shape) != tuple(expected[k].shape))
    ]
    if missing or unexpected or misshaped:
        counts: dict[str, dict[str, int]] = {}
        for kind, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            for key in keys:
                net = counts.setdefault(key.split(".", 1)[0], {})
                net[kind] = net.get(kind, 0) + 1
        per_net = "; ".join(
            f"{net}: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()) for net, kinds in counts.items()
        )
        if misshaped:
            key = misshaped[0]
            shape = tuple(state_dict[key].shape) if torch.is_tensor(state_dict[key]) else type(state_dict[key]).__name__
            example = f"{key} is {shape} in the file, {tuple(expected[key].shape)} in the model"
        else:
            example = f"first {'missing' if missing else 'unexpected'}: {(missing or unexpected)[0]}"
        raise CheckpointError(
            f"the weights in {source} do not fit the model its config builds ({per_net} tensors; {example})"
        )
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:  # anything the checks above do not foresee: its first line only
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise CheckpointError(f"the weights in {source} do not fit the model its config builds: {first}") from None
