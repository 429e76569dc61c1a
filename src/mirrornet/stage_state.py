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

A state is an ``nn.Module``: its parameters and buffers are its saved tensors and it moves to the
stage's device with the model. By default it is never optimised (its parameters do not require
gradients) and it stays in eval mode (a teacher's BatchNorm statistics follow the student's only
through :meth:`StageState.after_step`). :class:`EMATeacher` is the example: an exponential moving
average of the recognizer α.

A state whose class sets :attr:`StageState.trained` is trained *with* the stage instead: its
parameters join the stage's optimiser (named ``stage_state.<name>`` in the optimiser's saved
state), it follows the training module's train and eval modes, and the objectives' total reaches
it. :class:`DualPeer` is the example: PoseDual's second recognizer, which α and it teach each
other. It is saved with the stage's checkpoints for resume only: α alone is evaluated, exported
and used for prediction.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["StageState", "EMATeacher", "ema_teacher", "DualPeer", "dual_peer", "fresh_recognizer"]


class StageState(nn.Module):
    """The state of a stage (a teacher, an EMA …): saved with the stage, acted on after a step.

    Subclasses hold their tensors as parameters, buffers or sub-modules (so that ``state_dict``
    saves them) and override :meth:`after_step`.
    """

    #: Whether the stage's optimiser trains this state's parameters (see the module docstring).
    trained: bool = False

    def after_step(self, model: nn.Module) -> None:
        """Run after every optimiser step of the stage (default: nothing).

        Args:
            model: the MirrorNet, its weights just updated.
        """

    def train(self, mode: bool = True) -> StageState:
        """Stay in eval mode unless the state is :attr:`trained` (then follow ``mode``)."""
        return super().train(mode and self.trained)


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


def fresh_recognizer(alpha: nn.Module, name: str | None, num_joints: int, seed: int) -> nn.Module:
    """A recognizer of α's architecture, freshly initialised from ``seed`` (α is left as it is).

    The registry's builder of ``name`` (``config.model.recognizer``) gives it, with the architecture's own
    initialisation, when its parameters have α's names and shapes; otherwise (a recognizer of the
    user's own) it is α's copy with every sub-module's ``reset_parameters`` drawn again — PyTorch's
    default initialisation, not any custom one of that recognizer.

    Args:
        alpha: the recognizer whose architecture is copied.
        name: α's name in :data:`mirrornet.nets.RECOGNIZERS` (None: a recognizer of the user's own).
        num_joints: the heatmaps α gives (K).
        seed: the initialisation's seed (the global RNG is left untouched).
    """
    from mirrornet.nets import RECOGNIZERS, build_recognizer

    shapes = {n: p.shape for n, p in alpha.state_dict().items()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name in RECOGNIZERS:
            built = build_recognizer(name, num_joints=num_joints)
            if {n: p.shape for n, p in built.state_dict().items()} == shapes:
                return built.to(next(alpha.parameters()).device)
        peer = copy.deepcopy(alpha)
        for module in peer.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
    return peer


class DualPeer(StageState):
    """PoseDual's second recognizer, trained with α; α and it teach each other (Xie et al., 2021).

    A :attr:`~StageState.trained` state: the stage's optimiser updates it with α, and it is in
    train mode while α is. Only α is evaluated; the peer is a teacher during training.

    Args:
        peer: the second recognizer (α's architecture, another initialisation).
    """

    trained = True

    def __init__(self, peer: nn.Module) -> None:
        super().__init__()
        self.peer = peer

    def forward(self, image: Tensor) -> list[Tensor]:
        """The peer's heatmaps of ``image`` (B, 3, H, W): every stack, as ``MirrorNet.recognize``."""
        out = self.peer(image)
        return list(out) if isinstance(out, (list, tuple)) else [out]


def dual_peer(model: nn.Module, config: object) -> DualPeer:
    """A :data:`~mirrornet.curriculum.StateBuilder`: a :class:`DualPeer` of α's architecture,
    initialised from its own seed (a function of ``config.train.seed``), not as α's copy: the two
    networks of PoseDual differ by their initialisation."""
    from mirrornet.stage_seeds import stage_seed

    seed = stage_seed(int(config.train.seed), "dual_peer", -1)
    return DualPeer(fresh_recognizer(model.alpha, config.model.recognizer, model.num_joints, seed))
