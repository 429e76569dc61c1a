"""What a training run shows while it trains: one bar per stage on a terminal, one line per
epoch otherwise — always on stderr, so that stdout holds only results (``--json``).

Lightning's own progress bar writes to stdout, draws a second bar for every evaluation and,
when the output is not a terminal, leaves every refresh behind as text; this callback replaces it.
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

import lightning as L

__all__ = ["StageProgress"]


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}g}" if abs(value) >= 1e4 else f"{value:.{digits}f}"


class StageProgress(L.Callback):
    """Progress of one curriculum stage.

    On a terminal: a single bar over all of the stage's optimiser steps with the epoch, the
    last loss, the last evaluation's Total and tqdm's time estimate. Elsewhere (a log file, a
    pipe, CI): one line per finished epoch.

    Args:
        stage: the stage's name.
        total_epochs: the stage's length.
        start_epoch: epochs already done (a resumed stage).
        stream: where to write (default ``sys.stderr``).
        interactive: draw a bar (default: whether ``stream`` is a terminal).
    """

    def __init__(
        self,
        stage: str,
        total_epochs: int,
        start_epoch: int = 0,
        stream: IO[str] | None = None,
        interactive: bool | None = None,
    ) -> None:
        super().__init__()
        self.stage = stage
        self.total_epochs = int(total_epochs)
        self.start_epoch = int(start_epoch)
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty()) if interactive is None else bool(interactive)
        self._bar: Any = None
        self._epoch_started = 0.0
        self._loss: float | None = None
        self._score: float | None = None

    def _epoch(self, trainer: "L.Trainer") -> int:
        return self.start_epoch + trainer.current_epoch + 1

    def on_train_start(self, trainer: "L.Trainer", pl_module: "L.LightningModule") -> None:
        if not self.interactive or not trainer.is_global_zero:
            return
        from tqdm.auto import tqdm

        per_epoch = trainer.num_training_batches
        remaining = self.total_epochs - self.start_epoch
        total = per_epoch * remaining if math.isfinite(per_epoch) else None
        self._bar = tqdm(total=total, desc=f"  {self.stage}", file=self.stream, leave=False, dynamic_ncols=True)

    def on_train_epoch_start(self, trainer: "L.Trainer", pl_module: "L.LightningModule") -> None:
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, trainer: "L.Trainer", pl_module: "L.LightningModule", outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(self._postfix(trainer), refresh=False)

    def _postfix(self, trainer: "L.Trainer") -> str:
        text = f"epoch {self._epoch(trainer)}/{self.total_epochs}, loss {_fmt(self._loss)}"
        return text + (f", eval Total {self._score:.2f}" if self._score is not None else "")

    def on_train_epoch_end(self, trainer: "L.Trainer", pl_module: "L.LightningModule") -> None:
        score = trainer.callback_metrics.get("eval/Total")
        self._score = float(score) if score is not None else self._score
        if not trainer.is_global_zero:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(trainer))
            return
        seconds = time.perf_counter() - self._epoch_started
        line = f"  {self.stage} epoch {self._epoch(trainer)}/{self.total_epochs}: loss {_fmt(self._loss)}"
        if score is not None:
            line += f", eval Total {float(score):.2f}"
        print(f"{line} ({seconds:.1f} s)", file=self.stream, flush=True)

    def on_train_end(self, trainer: "L.Trainer", pl_module: "L.LightningModule") -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
