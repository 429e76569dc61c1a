"""Checkpoints written during training: built by one function, written atomically by another,
and cleaned up after a killed write.

:func:`stage_payload` builds a stage's checkpoint after any epoch (the per-epoch resume point and
the stage's final state alike); :func:`save_checkpoint` writes it. The checkpoint layout and
reading one back (:func:`~mirrornet.checkpoints.load_checkpoint`) live in
:mod:`mirrornet.checkpoints`. Files are written to a temporary name in the same folder and
renamed, so that an interrupted write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mirrornet.checkpoints import CHECKPOINT_FORMAT
from mirrornet.fileio import atomic_path, remove_dead_temporaries

__all__ = ["stage_payload", "save_checkpoint", "remove_stale_temporaries"]


def stage_payload(
    config: dict[str, Any],
    stage: str,
    epoch: int,
    total_epochs: int,
    model: nn.Module,
    history: list[dict],
    optimizer: dict | None = None,
    optimizer_param_names: list[str] | None = None,
    stage_state: nn.Module | None = None,
) -> dict[str, Any]:
    """A stage's checkpoint after ``epoch`` of its ``total_epochs`` epochs (plain tensors and
    primitives, the layout of :mod:`mirrornet.checkpoints`).

    Args:
        config: the run's resolved config (``Config.to_dict()``).
        stage: the stage's name.
        epoch: epochs of the stage done.
        total_epochs: the stage's length; the stage is complete once ``epoch`` reaches it.
        model: the MirrorNet; its state dict is copied to the CPU.
        history: the stage's per-epoch records so far.
        optimizer: Adam's state dict (None: the stage ran no step).
        optimizer_param_names: the names of the optimiser's parameters, in its order.
        stage_state: the stage's :class:`~mirrornet.stage_state.StageState` (None: none); its
            state dict is copied to the CPU as ``"stage_state"``.
    """
    return {
        "config": config,
        "stage": stage,
        "epoch": int(epoch),
        "total_epochs": int(total_epochs),
        "completed": int(epoch) >= int(total_epochs),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer,
        "optimizer_param_names": optimizer_param_names,
        "history": list(history),
        "stage_state": (
            None if stage_state is None else {k: v.detach().cpu() for k, v in stage_state.state_dict().items()}
        ),
    }


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file in the same folder, then rename).

    Args:
        path: destination file.
        payload: a dict of tensors / primitives (the layout of :mod:`mirrornet.checkpoints`).
    """
    with atomic_path(path) as tmp:
        try:
            torch.save({"format": CHECKPOINT_FORMAT, **payload}, tmp)
        except RuntimeError as exc:
            # torch.save reports a full disk as "basic_ios::clear: iostream error"; said plainly.
            if shutil.disk_usage(tmp.parent).free < _FULL_DISK_BYTES:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
            raise


#: Free space below which a failed checkpoint write is taken for a full disk.
_FULL_DISK_BYTES = 1 << 20


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that killed checkpoint writes left in ``folder``.

    A process killed inside :func:`save_checkpoint` (SIGKILL, a node failure) leaves its
    ``.<stage>.ckpt.<pid>.tmp`` behind, often empty. Only files of exactly that form whose
    process is gone (or is this one, which writes no checkpoint while this runs) are deleted;
    checkpoints themselves are never touched.

    Args:
        folder: a run's ``checkpoints`` folder (a missing folder is fine).

    Returns:
        The files deleted.
    """
    # save_checkpoint's temporaries are ".<stage>.ckpt.<pid>.tmp" (fileio.temporary_path).
    return remove_dead_temporaries(folder, name=r".+\.ckpt")
