"""A run cut short inside a stage and resumed, for the tests that check a resumed stage equals an
uninterrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mirrornet.checkpoints import read_checkpoint
from mirrornet.config import Config


class Stopped(RuntimeError):
    """Raised by the epoch callback to cut the run short."""


def interrupted_and_resumed(config: Config, out: Path, stage: str, stop_after_epoch: int = 1) -> dict[str, Any]:
    """Run ``stage`` in ``out``, stop it after its epoch ``stop_after_epoch`` (as a killed process
    would be), resume it to its end, and return its final checkpoint's payload."""

    def stop(record: dict) -> None:
        if record["stage"] == stage and record["epoch"] == stop_after_epoch:
            raise Stopped

    from mirrornet.training import run_experiment

    with pytest.raises(Stopped):
        run_experiment(config, out, stages=[stage], progress=False, epoch_callback=stop)
    run_experiment(config, out, stages=[stage], resume=True, progress=False)
    return read_checkpoint(out / "checkpoints" / f"{stage}.ckpt")
