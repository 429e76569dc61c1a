"""A thin Lightning wrapper that runs one curriculum stage (Sections 4, 5.2).

The maths lives in :mod:`mirrornet.objectives` and :mod:`mirrornet.model`; the stage table in
:mod:`mirrornet.curriculum` says which nets train and which objectives are maximised. This module
only: freezes the other nets, sums the stage's objectives (loss = −objective), logs every term by
name, evaluates α on the test split at the end of every epoch, stops on a non-finite loss naming
the stage, epoch and term, and writes an atomic checkpoint after every epoch (the resume point).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from mirrornet.config import Config
from mirrornet.curriculum import CURRICULUM, Stage
from mirrornet.training.checkpoint import save_checkpoint
from mirrornet.training.datamodule import TrainingData, eval_loader, train_loader
from mirrornet.training.evaluation import predict_batch, score_predictions

__all__ = ["NonFiniteLossError", "OBJECTIVES", "StageModule", "stage_seed"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the stage, epoch and term."""


def _recognizer(model, batch: dict, config: Config) -> dict[str, Tensor]:
    from mirrornet.objectives import recognizer_objective

    stacks = model.recognize(batch["image"])  # list of (B, K, h, w)
    return recognizer_objective(
        stacks, batch["heatmaps"], batch["joint_weights"], model.pose_logvar(stacks[-1].float())
    )


def _mask(model, batch: dict, config: Config) -> dict[str, Tensor]:
    from mirrornet.objectives import mask_objective

    w = model.psi(batch["x_star"], batch["heatmaps"])  # (B, 1, h, w)
    return mask_objective(w, batch["silhouette"], batch["has_silhouette"])


def _image_vae(model, batch: dict, config: Config) -> dict[str, Tensor]:
    from mirrornet.objectives import image_vae_objective

    x_star, s = batch["x_star"], batch["heatmaps"]
    has = batch["has_silhouette"].view(-1, 1, 1, 1) > 0.5
    mask = batch["silhouette"]  # (B, 1, h, w)
    if not bool(has.all()):
        # No silhouette: ψ's (pretrained, frozen) estimate, detached (Sec. 4.2).
        with torch.no_grad():
            estimate = model.estimate_mask(x_star, s, freeze_psi=True, mask_pose_gradient=False)
        mask = torch.where(has, mask.expand_as(estimate), estimate)
    out = model.image_vae(x_star, s, mask)
    return image_vae_objective(out, x_star)


def _pose_vae(model, batch: dict, config: Config) -> dict[str, Tensor]:
    from mirrornet.objectives import pose_vae_objective

    return pose_vae_objective(model.pose_vae(batch["heatmaps"]), batch["heatmaps"])


def _labeled(model, batch: dict, config: Config) -> dict[str, Tensor]:
    from mirrornet.objectives import labeled_elbo

    m = config.model
    out = model(batch["image"], batch["x_star"], s_annotated=batch["heatmaps"], pose_source=m.pose_source)
    return labeled_elbo(out, batch["x_star"], batch["heatmaps"], batch["joint_weights"], lam=m.lam, pose_source=m.pose_source)


def _semi_supervised(model, batch: dict, config: Config) -> dict[str, Tensor]:
    from mirrornet.objectives import semi_supervised_elbo

    m = config.model
    annotated = batch["annotated"]  # (B,) 1 annotated / 0 not
    out = model(
        batch["image"], batch["x_star"], s_annotated=batch["heatmaps"], annotated=annotated, pose_source=m.pose_source
    )
    return semi_supervised_elbo(
        out, batch["x_star"], batch["heatmaps"], batch["joint_weights"], annotated, lam=m.lam, pose_source=m.pose_source
    )


#: Objective name (``Stage.objectives``) → function(model, batch, config) -> named terms + total.
OBJECTIVES: dict[str, Callable[[Any, dict, Config], dict[str, Tensor]]] = {
    "recognizer": _recognizer,
    "mask": _mask,
    "image_vae": _image_vae,
    "pose_vae": _pose_vae,
    "labeled": _labeled,
    "semi_supervised": _semi_supervised,
}


def stage_seed(seed: int, stage: Stage, epoch: int, rank: int = 0) -> int:
    """The seed of (run seed, stage, epoch, rank): every epoch starts from a known RNG state,
    so that a resumed stage draws the same noise as an uninterrupted one."""
    index = [s.name for s in CURRICULUM].index(stage.name)
    # epoch -1 (model initialisation) maps to 0 and epochs e to e + 1.
    return int(np.random.SeedSequence([seed, index, epoch + 1, rank]).generate_state(1)[0])


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
        optimizer_state: Adam state to continue from (resume, or a continuing stage).
        records: the per-epoch records of this stage so far (resume).
        codec: the heatmap codec (evaluation).
        epoch_callback: called with each finished epoch's record (e.g. to interrupt a run in tests).
        metric: (``pck`` or ``pckh``, threshold) of the per-epoch evaluation.
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
        self._sums: dict[str, float] = {}
        self._count = 0
        self._eval_parts: list[tuple[np.ndarray, ...]] = []
        self._eval_result: dict | None = None
        self._set_trainable()

    # ---------------------------------------------------------------------------------------
    def _set_trainable(self) -> None:
        for name in ("alpha", "beta", "gamma", "delta", "theta", "phi", "psi"):
            trains = name in self.stage.trains
            for p in getattr(self.model, name).parameters():
                p.requires_grad_(trains)
        if isinstance(self.model.alpha_logvar, torch.nn.Parameter):
            self.model.alpha_logvar.requires_grad_("alpha" in self.stage.trains)

    def _frozen_to_eval(self) -> None:
        # Frozen nets keep their BatchNorm statistics (ψ in the joint stages, Sec. 5.2).
        for name in self.stage.frozen:
            getattr(self.model, name).eval()

    @property
    def global_epoch(self) -> int:
        """The stage's epoch counted from its start (0-based), across resumes."""
        return self.start_epoch + self.current_epoch

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters this stage updates."""
        return [p for p in self.model.parameters() if p.requires_grad]

    # ---------------------------------------------------------------------------------------
    def train_dataloader(self):
        loader = train_loader(
            self.config,
            self.data,
            self.stage.data,
            epoch_offset=self.start_epoch,
            rank=self.trainer.global_rank,
            world_size=self.trainer.world_size,
            stream=[s.name for s in CURRICULUM].index(self.stage.name),
        )
        self._batch_sampler = loader.batch_sampler
        return loader

    def val_dataloader(self):
        # Every rank evaluates the whole test split: the figure needs no gathering and is the
        # same on every rank.
        return eval_loader(self.config, self.data.test)

    def configure_optimizers(self):
        params = self.trainable_parameters()
        optimizer = torch.optim.Adam(params, lr=self.config.train.lr)
        if self.optimizer_state is not None:
            try:
                # A deep copy: Adam adopts the given tensors, which another stage may share
                # (supervised and semi_supervised both continue supervised_first's state).
                optimizer.load_state_dict(copy.deepcopy(self.optimizer_state))
            except (ValueError, KeyError) as exc:
                raise RuntimeError(f"stage {self.stage.name}: the saved optimizer state does not fit: {exc}") from None
            for group in optimizer.param_groups:
                group["lr"] = self.config.train.lr
        return optimizer

    # ---------------------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        # Lightning only sets the epoch of a sampler *inside* a batch sampler; ours is told here,
        # before this epoch's iterator is created (epoch 0's uses the initial epoch, 0).
        if self._batch_sampler is not None:
            self._batch_sampler.set_epoch(self.current_epoch)
        self._sums, self._count = {}, 0

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if batch_idx == 0:
            # Seeded here, not at epoch start: creating the DataLoader iterator draws from the
            # global RNG, and Lightning creates it before the epoch-start hook on a fresh fit
            # but after it on later epochs; resumed and uninterrupted runs must draw alike.
            _seed_all(stage_seed(self.config.train.seed, self.stage, self.global_epoch, self.trainer.global_rank))
        self._frozen_to_eval()

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        terms: dict[str, Tensor] = {}
        total = None
        for name in self.stage.objectives:
            out = OBJECTIVES[name](self.model, batch, self.config)
            for term, value in out.items():
                terms[f"{name}/{term}"] = value
            total = out["total"] if total is None else total + out["total"]
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
            self._sums[key] = self._sums.get(key, 0.0) + v
            self.log(f"train/{key}", v, on_step=True, on_epoch=True, batch_size=batch_size, sync_dist=False)
        self._count += 1
        self.log("train/loss", float(loss.detach()), prog_bar=True, on_step=True, on_epoch=True, batch_size=batch_size)
        return loss

    # ---------------------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._eval_parts = []

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        coords, _ = predict_batch(
            self.model, self.codec, batch["image"], batch["affine"], flip_test=self.config.eval.flip_test
        )
        self._eval_parts.append(
            (
                coords.numpy(),
                batch["joints"].float().cpu().numpy(),
                batch["labelled"].float().cpu().numpy(),
                batch["bbox_size"].float().cpu().numpy(),
                batch["head_size"].float().cpu().numpy(),
            )
        )

    def on_validation_epoch_end(self) -> None:
        if not self._eval_parts or self.trainer.sanity_checking:
            return
        pred, gt, mask, box, head = (np.concatenate(p) for p in zip(*self._eval_parts))
        result = score_predictions(self.metric_kind, self.metric_threshold, pred, gt, mask, box, head)
        self._eval_result = {"metric": result["metric"], "groups": {k: float(v) for k, v in result["groups"].items()}}
        for group, value in result["groups"].items():
            if math.isfinite(value):
                self.log(f"eval/{group}", float(value), prog_bar=group == "Total", sync_dist=False)

    def on_train_epoch_end(self) -> None:
        # Runs after the epoch's evaluation (Lightning 2: validation ends the training epoch).
        sums = torch.tensor([self._sums[k] for k in sorted(self._sums)] + [float(self._count)], dtype=torch.float64)
        if self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums.to(self.device), reduce_op="sum").cpu()
        count = max(float(sums[-1]), 1.0)
        train_means = {k: float(v) / count for k, v in zip(sorted(self._sums), sums[:-1].tolist())}
        epoch = self.global_epoch + 1
        record = {
            "stage": self.stage.name,
            "epoch": epoch,
            "alpha_epoch": self.alpha_epoch_base + epoch if "alpha" in self.stage.trains else self.alpha_epoch_base,
            "train": train_means,
            "world_size": int(self.trainer.world_size),
            "eval": self._eval_result if self.stage.evaluate else None,
        }
        self._eval_result = None
        self.records.append(record)
        self.last_payload = self.checkpoint_payload(epoch)
        if self.checkpoint_path is not None and self.trainer.is_global_zero:
            save_checkpoint(self.checkpoint_path, self.last_payload)
        if self.epoch_callback is not None:
            self.epoch_callback(record)

    def checkpoint_payload(self, epoch: int) -> dict:
        """The checkpoint dict after ``epoch`` epochs of this stage (plain tensors and primitives)."""
        optimizer = self.trainer.optimizers[0].state_dict() if self.trainer.optimizers else None
        return {
            "config": self.config.to_dict(),
            "stage": self.stage.name,
            "epoch": int(epoch),
            "total_epochs": self.total_epochs,
            "completed": int(epoch) >= self.total_epochs,
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": optimizer,
            "history": list(self.records),
        }
