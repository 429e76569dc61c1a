"""A thin Lightning wrapper that runs one curriculum stage (Sections 4, 5.2).

The maths lives outside it: :mod:`mirrornet.model`, :mod:`mirrornet.objectives` and
:mod:`mirrornet.bounds`; the stage table in :mod:`mirrornet.curriculum` says which nets train and
which objectives of :mod:`mirrornet.stage_objectives` are maximised (:func:`stage_terms` runs
them on a batch and sums their totals; loss = −total). This module only: freezes the other nets,
logs every term by name, keeps each epoch's mean of every term (torchmetrics ``MeanMetric``,
reduced across data-parallel ranks), evaluates α on the test split at the end of every epoch,
stops on a non-finite loss naming the stage, epoch and term, and after every epoch builds the
epoch's record and the stage's checkpoint (the resume point, :mod:`mirrornet.training.checkpoint`).
Seeds come from :mod:`mirrornet.stage_seeds` (keyed by the stage's name).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torchmetrics import MeanMetric, Metric, SumMetric

from mirrornet.config import Config
from mirrornet.curriculum import Stage
from mirrornet.data.builders import eval_loader
from mirrornet.inference import Evaluation
from mirrornet.seeding import seed_all
from mirrornet.stage_objectives import alpha_driving_norms, stage_terms
from mirrornet.stage_seeds import stage_key, stage_seed
from mirrornet.training.checkpoint import save_checkpoint, stage_payload
from mirrornet.training.datamodule import TrainingData, train_loader
from mirrornet.training.optimizer_state import load_named_states
from mirrornet.training.schedule import learning_rate, round_steps
from mirrornet.training.selection import best_checkpoint_path, validation_total

__all__ = [
    "NonFiniteLossError",
    "StageModule",
]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the stage, epoch and term."""


def _epoch_metric(kind: type[Metric], device: torch.device) -> Metric:
    """A fresh float64 aggregate (``MeanMetric`` or ``SumMetric``) on ``device``.

    float64, as the sums of thousands of float32 terms need; every value counts, NaN included
    (no value is dropped from a mean). ``compute`` sums the states of every rank.
    """
    return kind(nan_strategy="disable").set_dtype(torch.float64).to(device)


class StageModule(L.LightningModule):
    """Runs one :class:`~mirrornet.curriculum.Stage` on a :class:`~mirrornet.model.MirrorNet`.

    Args:
        model: the MirrorNet (initialised from the previous stage by the caller).
        config: the run's config.
        stage: the stage to run.
        data: training and evaluation data.
        total_epochs: the stage's length.
        start_epoch: epochs already done (resume); Lightning's epoch 0 is this epoch.
        alpha_epoch_base: epochs α had seen before this stage (learning-curve x axis).
        checkpoint_path: where to write the per-epoch checkpoint (None: nowhere).
        optimizer_state: Adam's state by parameter name (see
            :mod:`mirrornet.training.optimizer_state`): each trained parameter found in it
            continues its moments and step count, the others start fresh. A positional Adam
            state dict (a checkpoint without parameter names) is loaded as is.
        records: the per-epoch records of this stage so far (resume).
        codec: the heatmap codec (evaluation).
        epoch_callback: called with each finished epoch's record (e.g. to interrupt a run in tests).
        metric: (``pck`` or ``pckh``, threshold) of the per-epoch evaluation.
        stage_state: the saved state dict of the stage's
            :class:`~mirrornet.stage_state.StageState` (resume; None: the state starts as its
            builder makes it). Ignored by a stage without a state.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: Config,
        stage: Stage,
        data: TrainingData,
        total_epochs: int,
        start_epoch: int = 0,
        alpha_epoch_base: int = 0,
        checkpoint_path: str | Path | None = None,
        optimizer_state: dict | None = None,
        records: list[dict] | None = None,
        codec=None,
        epoch_callback: Callable[[dict], None] | None = None,
        metric: tuple[str, float] = ("pck", 0.2),
        stage_state: dict | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.stage = stage
        self.data = data
        self.total_epochs = int(total_epochs)
        self.start_epoch = int(start_epoch)
        self.alpha_epoch_base = int(alpha_epoch_base)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.optimizer_state = optimizer_state
        self.records: list[dict] = list(records or [])
        self.codec = codec
        self.epoch_callback = epoch_callback
        self.metric_kind, self.metric_threshold = metric[0], float(metric[1])
        self.last_payload: dict | None = None
        self._batch_sampler = None
        # This epoch's mean of every logged term (each step's value counts once) and the images
        # drawn: key → metric, made at the key's first value on this module's device (after any
        # precision conversion, so they stay float64). Not part of the checkpoint's state dict.
        self._means = torch.nn.ModuleDict()
        self._draws = torch.nn.ModuleDict()  # "annotated", "unannotated": images drawn
        self._count = 0  # optimiser steps this epoch (on this rank = global steps)
        self._evaluation: Evaluation | None = None
        self._eval_result: dict | None = None
        self._set_trainable()
        # Built after the nets hold their starting weights (a teacher starts as the student).
        self.stage_state = stage.state(model, config) if stage.state is not None else None
        if self.stage_state is not None:
            # A trained state (PoseDual's peer) is optimised with the stage's nets; others never are.
            self.stage_state.requires_grad_(self._state_trained)
        if self.stage_state is not None and stage_state is not None:
            self.stage_state.load_state_dict(stage_state)

    # ---------------------------------------------------------------------------------------
    def _set_trainable(self) -> None:
        self.stage.apply(self.model)

    def _frozen_to_eval(self) -> None:
        # Frozen nets keep their BatchNorm statistics (ψ in the joint stages, Sec. 5.2).
        self.stage.eval_frozen(self.model)
        if self.stage_state is not None and not self._state_trained:
            self.stage_state.eval()

    @property
    def _state_trained(self) -> bool:
        """Whether the stage's state is trained with its nets (:attr:`StageState.trained`)."""
        return bool(getattr(self.stage_state, "trained", False))

    @property
    def global_epoch(self) -> int:
        """The stage's epoch counted from its start (0-based), across resumes."""
        return self.start_epoch + self.current_epoch

    def _named_trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        if self._state_trained:
            named += [(f"stage_state.{n}", p) for n, p in self.stage_state.named_parameters() if p.requires_grad]
        return named

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters this stage updates: the model's it trains, then a trained state's."""
        return [p for _, p in self._named_trainable()]

    def trainable_parameter_names(self) -> list[str]:
        """The names of :meth:`trainable_parameters`, in the same order (the optimiser's); a trained
        state's are ``stage_state.<name>``."""
        return [n for n, _ in self._named_trainable()]

    # ---------------------------------------------------------------------------------------
    def train_dataloader(self):
        loader = train_loader(
            self.config,
            self.data,
            self.stage.data,
            epoch_offset=self.start_epoch,
            rank=self.trainer.global_rank,
            world_size=self.trainer.world_size,
            stream=stage_key(self.stage.name),
            views=self.stage.views(self.config) if self.stage.views is not None else None,
            num_batches=round_steps(self.config, self.stage),
        )
        self._batch_sampler = loader.batch_sampler
        return loader

    def val_dataloader(self):
        # Every rank evaluates the whole split (test, or validation with eval.epoch_split=val):
        # the figure needs no gathering and is the same on every rank.
        return eval_loader(self.config, self.data.epoch_eval_set(self.config.eval.epoch_split))

    def configure_optimizers(self):
        params = self.trainable_parameters()
        optimizer = torch.optim.Adam(params, lr=self.config.train.lr)
        state = self.optimizer_state
        if state is not None and "param_groups" in state:
            # A positional state (a checkpoint written before parameter names were stored).
            try:
                # A deep copy: Adam adopts the given tensors, which another stage may share.
                optimizer.load_state_dict(copy.deepcopy(state))
            except (ValueError, KeyError) as exc:
                raise RuntimeError(f"stage {self.stage.name}: the saved optimizer state does not fit: {exc}") from None
            for group in optimizer.param_groups:
                group["lr"] = self.config.train.lr
        elif state:
            load_named_states(optimizer, self.trainable_parameter_names(), state)
        return optimizer

    # ---------------------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        # Lightning only sets the epoch of a sampler *inside* a batch sampler; ours is told here,
        # before this epoch's iterator is created (epoch 0's uses the initial epoch, 0).
        if self._batch_sampler is not None:
            self._batch_sampler.set_epoch(self.current_epoch)
        self._means.clear()
        self._draws.clear()
        self._count = 0

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if batch_idx == 0:
            # Seeded here, not at epoch start: creating the DataLoader iterator draws from the
            # global RNG, and Lightning creates it before the epoch-start hook on a fresh fit
            # but after it on later epochs; resumed and uninterrupted runs must draw alike.
            seed_all(stage_seed(self.config.train.seed, self.stage.name, self.global_epoch, self.trainer.global_rank))
        self._frozen_to_eval()
        self._set_learning_rate(batch_idx)

    def _set_learning_rate(self, batch_idx: int) -> None:
        """The learning rate of this step (:func:`mirrornet.training.schedule.learning_rate`);
        the paper's constant rate leaves the optimizer as it is."""
        t = self.config.train
        if t.lr_schedule == "constant" and t.warmup_steps == 0:
            return
        per_epoch = int(self.trainer.num_training_batches)
        lr = learning_rate(t, self.global_epoch * per_epoch + batch_idx, self.total_epochs * per_epoch)
        for group in self.trainer.optimizers[0].param_groups:
            group["lr"] = lr
        self._accumulate(self._means, MeanMetric, "lr", lr)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        epochs_done = self.global_epoch + batch_idx / max(1.0, float(self.trainer.num_training_batches))
        terms, total = stage_terms(
            self.stage.objectives, self.model, batch, self.config, epochs_done, state=self.stage_state
        )
        loss = -total  # maximise the bound
        if not bool(torch.isfinite(loss.detach())):
            bad = [k for k, v in terms.items() if not bool(torch.isfinite(v.detach()).all())]
            term = next((k for k in bad if not k.endswith("/total")), bad[0] if bad else "loss")
            raise NonFiniteLossError(
                f"the loss became non-finite in stage {self.stage.name}, epoch {self.global_epoch + 1}, "
                f"batch {batch_idx}: term {term} = {float(terms[term].detach()) if term in terms else float(loss)}; "
                "the last good checkpoint is kept"
            )
        batch_size = int(batch["image"].shape[0])
        for key, value in terms.items():
            v = float(value.detach())
            self._accumulate(self._means, MeanMetric, key, v)
            self.log(f"train/{key}", v, on_step=True, on_epoch=True, batch_size=batch_size, sync_dist=False)
        every = self.config.train.alpha_grad_norm_every
        if every and batch_idx % every == 0 and "alpha" in self.stage.trains:
            for term, norm in alpha_driving_norms(self.model.alpha, self.stage.objectives, terms):
                self._accumulate(self._means, MeanMetric, f"alpha_grad/{term}", norm)
                self.log(f"train/alpha_grad/{term}", norm, on_step=True, on_epoch=True, batch_size=batch_size)
        self._count += 1
        annotated = batch.get("annotated")
        n_annotated = float(annotated.sum()) if annotated is not None else float(batch_size)
        self._accumulate(self._draws, SumMetric, "annotated", n_annotated)
        self._accumulate(self._draws, SumMetric, "unannotated", batch_size - n_annotated)
        self.log("train/loss", float(loss.detach()), prog_bar=True, on_step=True, on_epoch=True, batch_size=batch_size)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # Runs after the optimiser step (automatic optimisation): the stage's state follows it.
        if self.stage_state is not None:
            self.stage_state.after_step(self.model)

    def _accumulate(self, store: torch.nn.ModuleDict, kind: type[Metric], key: str, value: float) -> None:
        """Add ``value`` to this epoch's aggregate ``key`` of ``store``, made at its first value."""
        if key not in store:
            store[key] = _epoch_metric(kind, self.device)
        store[key].update(value)

    # ---------------------------------------------------------------------------------------
    # The evaluation loop of mirrornet.inference, its batches driven by Lightning (which has
    # put them on this module's device and switched to eval mode and no_grad).
    def on_validation_epoch_start(self) -> None:
        self._evaluation = Evaluation(self.model, self.codec, flip_test=self.config.eval.flip_test)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluation.add(batch)

    def on_validation_epoch_end(self) -> None:
        if self._evaluation is None or len(self._evaluation) == 0 or self.trainer.sanity_checking:
            return
        report = self._evaluation.predictions().report(self.metric_kind, self.metric_threshold)
        result = next(iter(report.values()))  # the paper's metric
        self._eval_result = {
            "metric": result["metric"],
            "groups": {k: float(v) for k, v in result["groups"].items()},
            "totals": {name: float(r["groups"]["Total"]) for name, r in report.items()},
        }
        for group, value in result["groups"].items():
            if math.isfinite(value):
                self.log(f"eval/{group}", float(value), prog_bar=group == "Total", sync_dist=False)

    def on_train_epoch_end(self) -> None:
        # Runs after the epoch's evaluation (Lightning 2: validation ends the training epoch).
        epoch = self.global_epoch + 1
        record = self._epoch_record(epoch)
        self._eval_result = None
        self.records.append(record)
        self.last_payload = self.checkpoint_payload(epoch)
        if self.checkpoint_path is not None and self.trainer.is_global_zero:
            # The best weights first: a stage checkpoint never names a best epoch not on disk.
            if self._is_new_best(record):
                best = {**self.last_payload, "optimizer": None, "optimizer_param_names": None}
                save_checkpoint(best_checkpoint_path(self.checkpoint_path), best)
            save_checkpoint(self.checkpoint_path, self.last_payload)
        if self.epoch_callback is not None:
            self.epoch_callback(record)

    def _is_new_best(self, record: dict) -> bool:
        """Whether ``record`` (just appended) has the stage's best validation score so far
        (``eval.select: best_val``; the earliest of equal scores is kept)."""
        if self.config.eval.select != "best_val" or not record.get("eval"):
            return False
        earlier = [validation_total(r) for r in self.records[:-1] if r.get("eval")]
        return not earlier or validation_total(record) > max(earlier)

    def _epoch_record(self, epoch: int) -> dict:
        """The record of the epoch just finished: every term's mean over the steps of all ranks,
        what the epoch fed the trained nets, and the evaluation."""
        # Every rank computes the same keys in the same order: each compute is a collective.
        train_means = {key: float(self._means[key].compute()) for key in sorted(self._means)}
        draws = {key: int(round(float(metric.compute()))) for key, metric in self._draws.items()}
        return {
            "stage": self.stage.name,
            "epoch": epoch,
            "alpha_epoch": self.alpha_epoch_base + epoch if "alpha" in self.stage.trains else self.alpha_epoch_base,
            "train": train_means,
            # What this epoch fed the trained nets: optimiser steps and images drawn (all ranks).
            "steps": int(self._count),
            "annotated_draws": draws.get("annotated", 0),
            "unannotated_draws": draws.get("unannotated", 0),
            "world_size": int(self.trainer.world_size),
            "eval": self._eval_result if self.stage.evaluate else None,
        }

    def checkpoint_payload(self, epoch: int) -> dict:
        """The checkpoint dict after ``epoch`` epochs of this stage (plain tensors and primitives)."""
        return stage_payload(
            self.config.to_dict(),
            self.stage.name,
            epoch,
            self.total_epochs,
            self.model,
            self.records,
            optimizer=self.trainer.optimizers[0].state_dict() if self.trainer.optimizers else None,
            optimizer_param_names=self.trainable_parameter_names(),
            stage_state=self.stage_state,
        )
