"""The default model packaged with MirrorNet, and how a recognizer file is made from a checkpoint.

``mirrornet predict`` / ``mirrornet evaluate`` and :class:`mirrornet.PoseEstimator` use the
recognizer file at :data:`DEFAULT_MODEL` when no checkpoint is given. That file is a trained α
alone (:data:`~mirrornet.checkpoints.RECOGNIZER_FORMAT`: the resolved config and α's weights;
no optimizer state, no β … ψ), small enough to ship inside the package, and read with
``torch.load(weights_only=True)`` like every checkpoint. An installation without it (a source
tree before a model has been packed) says so when the default model is asked for.
:func:`pack_default_model` writes such a file from any training checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["DEFAULT_MODEL", "NoDefaultModelError", "default_model_path", "pack_default_model"]

#: Where the packaged default model lives inside the installed package.
DEFAULT_MODEL: Path = Path(__file__).resolve().parent / "weights" / "default.ckpt"


class NoDefaultModelError(FileNotFoundError):
    """No default model is packaged in this installation."""


def default_model_path() -> Path:
    """The packaged default model (a recognizer file).

    Raises:
        NoDefaultModelError: this installation carries no default model.
    """
    path = Path(DEFAULT_MODEL)  # the module attribute at call time: tools may point it elsewhere
    if not path.is_file():
        raise NoDefaultModelError(
            f"no default model is packaged in this installation; give a checkpoint (looked for {path})"
        )
    return path


def pack_default_model(checkpoint: str | Path, out: str | Path) -> Path:
    """Write the recognizer file of a checkpoint: its resolved config and α's weights, nothing else.

    The checkpoint is first loaded in full (:func:`~mirrornet.checkpoints.load_checkpoint`), so
    that weights that do not fit its config, or hold NaN, are refused before anything is written.
    The file is written atomically; copy it to :data:`DEFAULT_MODEL` to make it the default.

    Args:
        checkpoint: a training checkpoint (``<run>/checkpoints/<stage>.ckpt``) or a recognizer file.
        out: the file to write.

    Returns:
        ``out``.

    Raises:
        CheckpointError: the checkpoint is unreadable or its weights do not fit its config.
    """
    from mirrornet.checkpoints import RECOGNIZER_FORMAT, load_checkpoint
    from mirrornet.fileio import atomic_path

    model, config = load_checkpoint(checkpoint)
    # clone(): a view would save the whole storage it views, not just α's tensors.
    state = {f"alpha.{k}": v.detach().cpu().clone() for k, v in model.alpha.state_dict().items()}
    payload = {"format": RECOGNIZER_FORMAT, "config": config.to_dict(), "state_dict": state}
    out = Path(out)
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    return out
