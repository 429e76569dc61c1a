"""Run the whole curriculum (Sections 4, 5.2) and report Tables 2–7 style results.

:func:`run_experiment` walks :data:`mirrornet.curriculum.CURRICULUM`: each stage starts from the
final weights of the stage it is initialised from, trains for its configured epochs under a
fresh ``lightning.Trainer`` (so devices, nodes, strategy and precision are plain config keys),
evaluates α after every epoch, and leaves ``checkpoints/<stage>.ckpt`` after every epoch.
With ``resume=True`` a completed stage is skipped and a partial one continues from its last
epoch (weights, Adam state, epoch counter); since every epoch's batch order, augmentation and
sampling noise are seeded by (seed, stage, epoch), the resumed run reaches the same results as
an uninterrupted one.

Outputs in ``out_dir``: ``config.yaml`` (the resolved config), ``checkpoints/``,
``logs/{csv,tensorboard}/<stage>/`` (Lightning CSV and TensorBoard logs, every objective term by name),
``metrics.csv`` (one row per stage epoch), ``results.json`` (one entry per method: the mean of
the last ``eval.last_k_epochs`` epochs per group, and the final figures on the whole test
split), ``figures/learning_curves.png`` (Fig. 9) and ``figures/joint_diagnostics.png`` (the
gradient norm into α of each term of the bound, KL_z and α's score per joint-stage epoch).
"""

from __future__ import annotations

import csv
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mirrornet.checkpoints import build_model, checkpoint_config, load_weights, read_checkpoint
from mirrornet.config import Config, ConfigError, config_from_dict, save_config
from mirrornet.curriculum import CURRICULUM, METHODS, Stage, method_chain, resolve_stages, stage_chain
from mirrornet.data.builders import build_codec_for
from mirrornet.fileio import atomic_path, check_output_dir, json_safe, write_json_atomic
from mirrornet.inference import metric_for
from mirrornet.training.checkpoint import remove_stale_temporaries, save_checkpoint
from mirrornet.training.curves import plot_joint_diagnostics, plot_learning_curves
from mirrornet.training.datamodule import build_training_data, stage_pools
from mirrornet.training.optimizer_state import merge_named_states, named_adam_states
# Package-private helpers of the reporting module, shared with run_experiment.
from mirrornet.training.results import _all_records, _final_summary, _payload_of, collect_results, final_evaluation

__all__ = [
    "RunError",
    "apply_speed_options",
    "ResumeConfigError",
    "run_experiment",
    "continued_optimizer_state",
    "write_metrics_csv",
    "stage_epochs",
]


class RunError(RuntimeError):
    """A run cannot start or continue (an output folder in use, a missing earlier stage, ...)."""


class ResumeConfigError(RunError, ConfigError):
    """``--resume`` with a config other than the one the run (or one of its checkpoints) used.

    A :class:`RunError` that is also a :class:`~mirrornet.config.ConfigError`: the fault is in
    the input, so the command line reports it as bad input (status 2).
    """


def stage_epochs(config: Config, stage: Stage) -> int:
    """The configured length of ``stage``."""
    return int(getattr(config.train.epochs, stage.epochs_key))


def _alpha_epoch_base(config: Config, stage: Stage) -> int:
    # Epochs α has seen before this stage: those of the α-training stages it starts from.
    return sum(stage_epochs(config, s) for s in stage_chain(stage.name)[:-1] if "alpha" in s.trains)


def _rank() -> int:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


def _say(message: str, progress: bool) -> None:
    if progress and _rank() == 0:
        print(f"[mirrornet] {message}", file=sys.stderr, flush=True)


def quiet_libraries() -> None:
    """Silence what a user cannot act on: Lightning's start-up lines at every stage (devices,
    tips, adverts, "`Trainer.fit` stopped"), and matplotlib's font fallbacks."""
    # Lightning writes these at INFO level to its own loggers; warnings still get through.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def _make_trainer(config: Config, out_dir: Path, stage: Stage, total_epochs: int, start_epoch: int, progress: bool):
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from mirrornet.training.progress import StageProgress

    t = config.train
    loggers = [
        CSVLogger(str(out_dir / "logs" / "csv"), name=stage.name),
        TensorBoardLogger(str(out_dir / "logs" / "tensorboard"), name=stage.name, default_hp_metric=False),
    ]
    strategy: Any = t.strategy
    if strategy in ("ddp", "ddp_find_unused_parameters_true"):
        from lightning.pytorch.strategies import DDPStrategy

        # Some trained parameters get no gradient in some stages (the variance branches of θ
        # and φ are unused while their variance is fixed to 1: in pretraining, Eqs. 31, 34, and
        # in every stage with model.generator_variance=fixed).
        strategy = DDPStrategy(find_unused_parameters=True)
    return L.Trainer(
        max_epochs=total_epochs - start_epoch,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=strategy,
        precision=t.precision,
        logger=loggers,
        enable_checkpointing=False,  # MirrorNet writes its own atomic, weights-only checkpoints
        # Lightning's bar writes to stdout and leaves every refresh behind in a log: ours instead.
        enable_progress_bar=False,
        callbacks=[StageProgress(stage.name, total_epochs, start_epoch)] if progress else [],
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # the batch sampler slices per rank itself
        limit_val_batches=1.0 if stage.evaluate else 0,
        log_every_n_steps=1,
        gradient_clip_val=t.gradient_clip_val,
        default_root_dir=str(out_dir),
    )


def _check_out_dir(config: Config, out_dir: Path, resume: bool) -> None:
    _check_out_paths(out_dir)
    saved = out_dir / "config.yaml"
    ckpts = list((out_dir / "checkpoints").glob("*.ckpt")) if (out_dir / "checkpoints").is_dir() else []
    if not resume and ckpts:
        raise RunError(
            f"{out_dir} already holds a run ({len(ckpts)} checkpoints); "
            "continue it with --resume or choose another --out"
        )
    if not resume:
        return
    # The config the run was started with (config.yaml), and the one each checkpoint's weights
    # were trained with: config.yaml can be deleted or edited by hand, so the run continues only
    # where every saved config still holds.
    saved_configs: list[tuple[str, dict, set[str]]] = []
    if saved.is_file():
        import yaml

        try:
            previous = config_from_dict(yaml.safe_load(saved.read_text(encoding="utf-8"))).to_dict()
        except (ConfigError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ResumeConfigError(f"cannot resume {out_dir}: its saved {saved} is not a valid config: {exc}") from None
        saved_configs.append((f"the saved {saved}", previous, {c.stem for c in ckpts}))
    for ckpt in sorted(ckpts):
        previous = checkpoint_config(read_checkpoint(ckpt, mmap=True), ckpt).to_dict()
        saved_configs.append((f"the config checkpoint {ckpt} was trained with", previous, {ckpt.stem}))
    current = config.to_dict()
    for source, previous, trained in saved_configs:
        diffs = _resume_diffs(previous, current, trained)
        if diffs:
            raise ResumeConfigError(
                f"cannot resume {out_dir}: the config differs from {source} in "
                + ", ".join(f"{k} ({a!r} -> {b!r})" for k, a, b in diffs[:5])
                + "; resume with that config or choose another --out"
            )


def _check_out_paths(out_dir: Path) -> None:
    """Refuse an output folder that a plain file stands in the way of, before anything is written.

    ``mkdir`` would otherwise fail with a bare "[Errno 17] File exists" (or "Not a directory")
    after ``config.yaml`` and the logs had been started.
    """
    for folder in (out_dir / "checkpoints", out_dir / "logs", out_dir / "figures"):
        if folder.exists() and not folder.is_dir():
            raise FileExistsError(
                f"cannot write the run to {out_dir}: {folder} exists and is not a folder; "
                f"choose another --out, or move {folder} away"
            )
    # --out itself, or a folder above it, being a file or not writable would fail only at the
    # first write, after the data was read (and, under DDP, on rank 0 alone).
    check_output_dir(out_dir, "--out")


#: Keys that ``--resume`` accepts when they were unset before and no stage that reads them has
#: a checkpoint yet: the silhouettes that a refused run lacked (ψ's data) change nothing that
#: is already trained.
_ADDABLE_ON_RESUME: dict[str, tuple[str, ...]] = {
    "data.silhouette_root": ("pretrain_mask", "pretrain_vaes"),
    "data.mask_format": ("pretrain_mask", "pretrain_vaes"),
    "data.mask_root": ("pretrain_mask", "pretrain_vaes"),
}


def _resume_diffs(previous: dict, current: dict, trained_stages: set[str]) -> list[tuple[str, Any, Any]]:
    """The config differences that forbid a resume, given the stages that have checkpoints."""
    return [
        (key, old, new) for key, old, new in _diff(previous, current)
        if not (key in _ADDABLE_ON_RESUME and old is None and not trained_stages & set(_ADDABLE_ON_RESUME[key]))
    ]


def _diff(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out.extend(_diff(a.get(k), b.get(k), f"{prefix}{k}."))
        return out
    return [] if a == b else [(prefix[:-1], a, b)]


def run_experiment(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    stages: list[str] | None = None,
    progress: bool = True,
    epoch_callback: Callable[[dict], None] | None = None,
) -> dict:
    """Train the curriculum (or the named stages and those they start from) and report.

    Args:
        config: the experiment config.
        out_dir: output folder (see the module docstring).
        resume: continue an interrupted run in ``out_dir``: completed stages are skipped, a partial
            stage continues from its last epoch.
        stages: stage names (``mirrornet.curriculum``) to run; their earlier stages are run too
            (or reused when already completed and ``resume`` is set). None: all.
        progress: show Lightning's progress bars and stage messages.
        epoch_callback: called with each finished epoch's record (monitoring, tests).

    Returns:
        The results dict written to ``results.json``: {method: {"metric", "groups", "epochs",
        "alpha_epochs", "checkpoint"}} for every method whose final stage is complete.

    Raises:
        RunError: ``out_dir`` holds another run (without ``resume``), or the config differs from
            the saved one (with ``resume``).
        mirrornet.training.datamodule.DataError: the data cannot serve a stage.
        mirrornet.training.lightning_module.NonFiniteLossError: the loss became NaN/inf.
    """
    from mirrornet.training.lightning_module import StageModule, _seed_all, stage_seed

    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    try:
        selected = resolve_stages(stages)
    except KeyError as exc:
        raise RunError(str(exc.args[0])) from None
    _check_out_dir(config, out_dir, resume)
    # Read the data and check every stage's needs before anything is trained or written: a
    # missing folder, a bad joints.mat or a stage without its data (ψ without silhouettes)
    # stops the run here, naming what is missing.
    data = build_training_data(config)
    for stage in selected:
        stage_pools(config, data, stage.data)
    data.epoch_eval_set(config.eval.epoch_split)
    if _rank() == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, out_dir / "config.yaml")
        # A run killed inside a checkpoint write leaves its temporary file behind; rank 0 is the
        # only writer of checkpoints and writes none yet.
        remove_stale_temporaries(ckpt_dir)
    quiet_libraries()
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # Epoch means are reduced across ranks by the stage module itself (its per-epoch record).
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")  # Lightning's own deprecation use
    warnings.filterwarnings("ignore", message=".*The number of training batches.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    codec = build_codec_for(config)
    kind, threshold = metric_for(config)

    # Final payloads of the stages of this run (weights, optimizer, records), kept in memory so
    # that every rank starts the next stage from the same state without reading files.
    finals: dict[str, dict] = {}
    for stage in selected:
        path = ckpt_dir / f"{stage.name}.ckpt"
        total = stage_epochs(config, stage)
        payload = read_checkpoint(path) if (resume and path.is_file()) else None
        if payload is not None and payload.get("completed"):
            _say(f"stage {stage.name}: complete, skipped", progress)
            finals[stage.name] = payload
            continue
        start_epoch = 0
        if payload is not None:
            start_epoch = int(payload["epoch"])
            state, records = payload["state_dict"], payload["history"]
            optimizer_state = named_adam_states(payload) or payload["optimizer"]
            _say(f"stage {stage.name}: resuming after epoch {start_epoch}/{total}", progress)
        else:
            state, optimizer_state, records = None, None, []
            if stage.init_from is not None:
                init = _payload_of(stage.init_from, finals, ckpt_dir)
                if init is None or not init.get("completed"):
                    raise RunError(
                        f"stage {stage.name} starts from stage {stage.init_from}, which has not "
                        f"completed in {out_dir}; run it first (or resume)"
                    )
                state = init["state_dict"]
                optimizer_state = None
                if stage.name not in config.train.fresh_optimizer_stages:
                    optimizer_state = continued_optimizer_state(stage, lambda name: _payload_of(name, finals, ckpt_dir))
            _say(f"stage {stage.name} ({stage.description}): {total} epochs", progress)
        # The fresh nets' initialisation depends on (seed, stage) only.
        _seed_all(stage_seed(config.train.seed, stage, -1))
        model = build_model(config)
        if state is not None:
            load_weights(model, state, path if payload is not None else ckpt_dir / f"{stage.init_from}.ckpt")
        apply_speed_options(model, config)
        module = StageModule(
            model,
            config,
            stage,
            data,
            total_epochs=total,
            start_epoch=start_epoch,
            alpha_epoch_base=_alpha_epoch_base(config, stage),
            checkpoint_path=path,
            optimizer_state=optimizer_state,
            records=records,
            codec=codec,
            epoch_callback=epoch_callback,
            metric=(kind, threshold),
        )
        if total - start_epoch > 0:
            trainer = _make_trainer(config, out_dir, stage, total, start_epoch, progress)
            trainer.fit(module)
            finals[stage.name] = module.last_payload
        else:
            finals[stage.name] = {
                "config": config.to_dict(),
                "stage": stage.name,
                "epoch": total,
                "total_epochs": total,
                "completed": True,
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": None,
                "optimizer_param_names": None,
                "history": records,
            }
            if _rank() == 0:
                save_checkpoint(path, finals[stage.name])

    results = collect_results(config, out_dir, finals)
    if config.eval.final:
        for method, row in results.items():
            final_stage = method_chain(method)[-1].name
            row["final"] = final_evaluation(config, data, codec, _payload_of(final_stage, finals, ckpt_dir), (kind, threshold))
            _say(f"{method}: final α on the whole test split: {_final_summary(row['final'])}", progress)
    if _rank() == 0:
        _write_outputs(config, out_dir, results, finals, kind, threshold)
    return results


def apply_speed_options(model: Any, config: Config) -> Any:
    """Apply ``train.channels_last`` and ``train.compile`` to a freshly built MirrorNet, in place.

    channels_last converts every 4-D parameter and buffer (the convolutions' weights); a
    convolution with channels-last weights gives channels-last outputs, so the activations follow.
    compile wraps α's forward with ``torch.compile`` in place (``nn.Module.compile``), so the
    parameter names, the state dict and the checkpoints stay those of the eager module. Where
    TorchDynamo is not supported (e.g. a Python version it does not know yet), α stays eager and
    a warning says so.

    Returns:
        The same model.
    """
    import torch

    t = config.train
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    if t.compile:
        if torch._dynamo.is_dynamo_supported():  # no public name for this check
            model.alpha.compile()
        else:
            warnings.warn("train.compile: torch.compile is not supported here; α runs eagerly", stacklevel=2)
    return model


def continued_optimizer_state(stage: Stage, payload_of: Callable[[str], dict | None]) -> dict[str, dict] | None:
    """Adam's state by parameter name at the start of ``stage`` (None: a fresh optimiser).

    Every parameter gets its state from the latest earlier stage of ``stage``'s chain that
    trained it (``mirrornet.training.optimizer_state``): α's from its last α stage, β … φ's from
    the VAE pretraining or the stage continued. So α starts ``baseline`` and
    ``supervised_first`` with the same moments and step count.

    Args:
        stage: the stage about to start.
        payload_of: stage name → its final checkpoint payload (or None).
    """
    if not stage.continues_optimizer:
        return None
    return merge_named_states(payload_of(s.name) for s in stage_chain(stage.name)[:-1])


def write_metrics_csv(path: str | Path, records: list[dict]) -> None:
    """One row per stage epoch: stage, epoch, α epoch, optimiser steps and images drawn, every
    objective term (and gradient norm into α), every group."""
    train_keys = sorted({k for r in records for k in (r.get("train") or {})})
    eval_keys: list[str] = []
    for r in records:
        for k in (r.get("eval") or {}).get("groups", {}):
            if k not in eval_keys:
                eval_keys.append(k)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["stage", "epoch", "alpha_epoch", "steps", "annotated_draws", "unannotated_draws", "metric"]
            + [f"train/{k}" for k in train_keys]
            + [f"eval/{k}" for k in eval_keys]
        )
        for r in records:
            ev = r.get("eval") or {}
            writer.writerow(
                [r["stage"], r["epoch"], r["alpha_epoch"], r.get("steps", ""), r.get("annotated_draws", ""),
                 r.get("unannotated_draws", ""), ev.get("metric", "")]
                + [r["train"].get(k, "") for k in train_keys]
                + [ev.get("groups", {}).get(k, "") for k in eval_keys]
            )


def _write_outputs(config: Config, out_dir: Path, results: dict, finals: dict, kind: str, threshold: float) -> None:
    records = _all_records(out_dir, finals)
    flat = [r for s in CURRICULUM for r in records.get(s.name, [])]
    write_metrics_csv(out_dir / "metrics.csv", flat)
    write_json_atomic(out_dir / "results.json", json_safe(results))
    curves = {}
    for method in METHODS:
        chain = method_chain(method)
        history = [r for s in chain for r in records.get(s.name, [])]
        if any(r.get("eval") for r in history):
            curves[method] = history
    if curves:
        metric = next(iter(results.values()))["metric"] if results else f"{kind.upper()}@{threshold:g}"
        plot_learning_curves(curves, out_dir / "figures" / "learning_curves.png", metric=metric)
    # Which term of the bound drives α, per epoch of the joint stages (docs/model.md).
    joint = {s.name: records[s.name] for s in CURRICULUM if records.get(s.name)}
    split = "validation split" if config.eval.epoch_split == "val" else "test split"
    plot_joint_diagnostics(joint, out_dir / "figures" / "joint_diagnostics.png",
                           metric=f"{kind.upper()}@{threshold:g}, {split}")
