"""How long a stage runs and its learning rate at every step (not in the paper).

The paper measures each stage in epochs over its images, so that fewer annotated images mean fewer
optimizer steps. A stage can instead be given a number of optimizer steps (``train.steps``): it
then runs ``steps / train.eval_every_steps`` *rounds* of ``eval_every_steps`` steps, each round
playing the part of an epoch (an evaluation, a record and a checkpoint after it; the batch order
and augmentation of round r are drawn as those of epoch r). Every method and every annotated ratio
can so be given the same number of steps.

The learning rate follows ``train.lr_schedule`` over each stage's steps, after an optional linear
warm-up: ``constant`` (the paper), ``step`` (× ``lr_gamma`` at each milestone, a fraction of the
stage's steps) or ``cosine`` (half a cosine from ``lr`` to ``lr × lr_min_ratio``). It is a function
of the step alone, so a resumed stage continues on the same curve.
"""

from __future__ import annotations

import math

from mirrornet.config import Config, TrainConfig
from mirrornet.curriculum import Stage

__all__ = ["stage_length", "round_steps", "learning_rate"]


def round_steps(config: Config, stage: Stage) -> int | None:
    """Optimizer steps per round of a stage measured in steps; None for a stage measured in epochs."""
    steps = getattr(config.train.steps, stage.epochs_key)
    return None if steps is None else int(config.train.eval_every_steps)


def stage_length(config: Config, stage: Stage) -> int:
    """A stage's length in epochs, or in rounds when it is measured in steps (``train.steps``)."""
    steps = getattr(config.train.steps, stage.epochs_key)
    if steps is not None:
        return int(steps) // int(config.train.eval_every_steps)
    return int(getattr(config.train.epochs, stage.epochs_key))


def learning_rate(train: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of a stage's optimizer step ``step`` (0-based) of ``total_steps``.

    Args:
        train: the ``train`` section (``lr``, ``lr_schedule``, ``warmup_steps``,
            ``lr_milestones``, ``lr_gamma``, ``lr_min_ratio``).
        step: the step about to be taken, counted from the stage's start.
        total_steps: the stage's steps.
    """
    base = float(train.lr)
    total = max(1, int(total_steps))
    if train.warmup_steps > 0 and step < train.warmup_steps:
        return base * (step + 1) / train.warmup_steps
    if train.lr_schedule == "step":
        passed = sum(1 for m in train.lr_milestones if step >= m * total)
        return base * train.lr_gamma**passed
    if train.lr_schedule == "cosine":
        start = min(train.warmup_steps, total - 1)
        progress = (step - start) / max(1, total - start)
        floor = base * train.lr_min_ratio
        return floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return base
