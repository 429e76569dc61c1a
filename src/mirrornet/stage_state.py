"""What a curriculum stage keeps across its optimiser steps besides the nets it trains.

Most stages need nothing but the model: their objective is a function of the model and a batch.
A method such as mean-teacher consistency needs more — a teacher that follows the student, an
exponential moving average, a second network — and something to do after each step. Such a
stage names a builder in :attr:`mirrornet.curriculum.Stage.state`; the training module then

1. builds the state once the stage's nets hold their starting weights (``builder(model, config)``);
2. passes it to each of the stage's objectives as ``state=`` (:func:`~mirrornet.stage_objectives.stage_terms`);
3. calls :meth:`StageState.after_step` after every optimiser step;
4. saves its ``state_dict`` in every checkpoint of the stage (``"stage_state"``) and loads it
   back on resume, so that a resumed stage equals an uninterrupted one.

A state is an ``nn.Module``: its parameters and buffers are its saved tensors, it moves to the
stage's device with the model, it is never optimised (its parameters do not require gradients)
and it stays in eval mode (a teacher's BatchNorm statistics follow the student's only through
:meth:`StageState.after_step`). :class:`EMATeacher` is the example: an exponential moving average
of the recognizer α.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["StageState", "EMATeacher", "ema_teacher"]


class StageState(nn.Module):
    """The state of a stage (a teacher, an EMA …): saved with the stage, acted on after a step.

    Subclasses hold their tensors as parameters, buffers or sub-modules (so that ``state_dict``
    saves them) and override :meth:`after_step`.
    """

    def after_step(self, model: nn.Module) -> None:
        """Run after every optimiser step of the stage (default: nothing).

        Args:
            model: the MirrorNet, its weights just updated.
        """

    def train(self, mode: bool = True) -> StageState:
        """Stay in eval mode: a state is never trained by the stage's loss."""
        return super().train(False)


class EMATeacher(StageState):
    """A teacher recognizer: the exponential moving average of the student α's weights.

    After every step ``teacher ← decay · teacher + (1 − decay) · α`` for every parameter, and the
    buffers (BatchNorm statistics) are copied. ``steps`` counts the updates (saved, so that a
    resumed stage continues the same average).

    Args:
        alpha: the student recognizer; the teacher starts as its copy.
        decay: the average's decay in [0, 1).
    """

    def __init__(self, alpha: nn.Module, decay: float = 0.999) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMATeacher: decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.teacher = copy.deepcopy(alpha).requires_grad_(False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        """Move the teacher toward the student α of ``model`` (one EMA update)."""
        student = dict(model.alpha.named_parameters())
        for name, p in self.teacher.named_parameters():
            p.lerp_(student[name].detach().to(p.dtype), 1.0 - self.decay)
        student_buffers = dict(model.alpha.named_buffers())
        for name, b in self.teacher.named_buffers():
            b.copy_(student_buffers[name])
        self.steps += 1

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The teacher's heatmaps of ``image`` (B, 3, H, W): its last stack, (B, K, h, w)."""
        out = self.teacher(image)
        return out[-1] if isinstance(out, (list, tuple)) else out


def ema_teacher(model: nn.Module, config: object, decay: float = 0.999) -> EMATeacher:
    """A :data:`~mirrornet.curriculum.StateBuilder`: an :class:`EMATeacher` of ``model.alpha``.

    Args:
        model: the MirrorNet at the stage's start.
        config: the run's config (unused: the decay is the builder's; bind another with
            ``functools.partial(ema_teacher, decay=...)``).
        decay: the average's decay.
    """
    return EMATeacher(model.alpha, decay=decay)
