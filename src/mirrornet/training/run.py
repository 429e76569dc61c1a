"""Run the whole curriculum (Sections 4, 5.2) and report Tables 2–7 style results.

:func:`run_experiment` reads as the curriculum: after checking the output folder
(:mod:`mirrornet.training.run_folder`) and every stage's data, for each stage of
:data:`mirrornet.curriculum.CURRICULUM` it decides where the stage starts (:func:`_stage_start`:
skipped, resumed, or from the final weights and Adam state of the stage it is initialised from),
builds its MirrorNet, fits it under a fresh ``lightning.Trainer`` (so devices, nodes, strategy
and precision are plain config keys; :func:`_fit_stage`), which evaluates α and leaves
``checkpoints/<stage>.ckpt`` after every epoch, and records the stage's final state; then it
reports (:mod:`mirrornet.training.results`).
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

import contextlib
import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirrornet.checkpoints import build_model, load_weights, read_checkpoint
from mirrornet.config import Config, ConfigError, save_config
from mirrornet.curriculum import Stage, check_stage_names, method_chain, resolve_stages, stage_chain
from mirrornet.data.builders import build_codec_for
from mirrornet.fileio import check_output_dir, folder_lock
from mirrornet.inference import metric_for
from mirrornet.seeding import seed_all
from mirrornet.stage_seeds import stage_seed
from mirrornet.training.checkpoint import remove_stale_temporaries, save_checkpoint, stage_payload
from mirrornet.training.datamodule import TrainingData, build_training_data, stage_pools
from mirrornet.training.optimizer_state import merge_named_states, named_adam_states
# Package-private helpers of the reporting module, shared with run_experiment.
from mirrornet.training.results import _final_summary, _payload_of, collect_results, final_evaluation, write_run_outputs
from mirrornet.training.run_folder import ResumeConfigError, RunError, check_out_dir, save_data_paths
from mirrornet.training.schedule import stage_length

__all__ = [
    "RunError",
    "apply_speed_options",
    "ResumeConfigError",
    "run_experiment",
    "continued_optimizer_state",
    "stage_epochs",
]


def stage_epochs(config: Config, stage: Stage) -> int:
    """The configured length of ``stage``: epochs, or rounds of ``train.eval_every_steps`` steps
    for a stage measured in steps (:func:`mirrornet.training.schedule.stage_length`)."""
    return stage_length(config, stage)


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
    tips, adverts, "`Trainer.fit` stopped") and its warnings about choices made on purpose, and
    matplotlib's font fallbacks."""
    # Lightning writes these at INFO level to its own loggers; warnings still get through.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # Epoch means are reduced across ranks by the stage module itself (its per-epoch record).
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*treespec.*")  # Lightning's own deprecation use
    warnings.filterwarnings("ignore", message=".*The number of training batches.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")


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


@dataclass
class _Run:
    """What every stage of one run shares."""

    config: Config
    out_dir: Path
    data: TrainingData
    codec: Any
    metric: tuple[str, float]  # (pck or pckh, threshold) of the per-epoch evaluation
    progress: bool
    epoch_callback: Callable[[dict], None] | None

    def checkpoint(self, stage_name: str) -> Path:
        """The checkpoint of a stage in this run's folder."""
        return self.out_dir / "checkpoints" / f"{stage_name}.ckpt"


@dataclass
class _StageStart:
    """Where a stage starts.

    Attributes:
        done: the stage's final payload when it is complete already (it is skipped).
        epoch: epochs of the stage already done (resume).
        weights: the state dict to start from (None: the fresh nets), read from ``weights_path``.
        optimizer_state: Adam's state to continue (by parameter name, or positional).
        records: the stage's per-epoch records so far.
        stage_state: the state dict of the stage's :class:`~mirrornet.stage_state.StageState`
            to resume (None: built fresh).
    """

    done: dict | None = None
    epoch: int = 0
    weights: dict | None = None
    weights_path: Path | None = None
    optimizer_state: dict | None = None
    records: list[dict] = field(default_factory=list)
    stage_state: dict | None = None


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
        progress: show each stage's progress (:class:`~mirrornet.training.progress.StageProgress`)
            and the stage messages, on stderr.
        epoch_callback: called with each finished epoch's record (monitoring, tests).

    Returns:
        The results dict written to ``results.json``: {method: {"metric", "groups", "epochs",
        "alpha_epochs", "checkpoint"}} for every method whose final stage is complete.

    Raises:
        RunError: ``out_dir`` holds another run (without ``resume``), or the config differs from
            the saved one (with ``resume``).
        mirrornet.data.builders.DataError: the data cannot serve a stage.
        mirrornet.training.lightning_module.NonFiniteLossError: the loss became NaN/inf.
    """
    check_stage_names(config.train.fresh_optimizer_stages, "train.fresh_optimizer_stages")
    try:
        selected = resolve_stages(stages)
    except KeyError as exc:
        raise RunError(str(exc.args[0])) from None
    from mirrornet.threads import apply_threads

    apply_threads(config.train.threads, config.data.num_workers)  # see mirrornet.threads: PyTorch's default oversubscribes
    check_output_dir(out_dir, "--out")  # an empty name, or a file in the way, before the lock is taken
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    try:
        # One run per folder: a second run on it is refused while the first lives (the lock dies
        # with its process); DDP's other ranks belong to the run that holds it.
        with folder_lock(out_dir / ".lock", f"--out {out_dir}") if _rank() == 0 else contextlib.nullcontext():
            return _run_locked(config, out_dir, selected, resume, progress, epoch_callback)
    finally:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a run refused before it wrote anything leaves no empty folder


def _run_locked(
    config: Config, out_dir: Path, selected: list[Stage], resume: bool, progress: bool,
    epoch_callback: Callable[[dict], None] | None,
) -> dict:
    """:func:`run_experiment` once the folder's lock is held."""
    run = _prepare_run(config, out_dir, selected, resume, progress, epoch_callback)
    # Final payloads of the stages of this run (weights, optimizer, records), kept in memory so
    # that every rank starts the next stage from the same state without reading files.
    finals: dict[str, dict] = {}
    for stage in selected:
        start = _stage_start(run, stage, finals, resume)
        if start.done is not None:
            finals[stage.name] = start.done
            continue
        model = _build_stage_model(config, stage, start)
        finals[stage.name] = _fit_stage(run, stage, model, start)
    return _report(run, finals)


def _prepare_run(
    config: Config, out_dir: Path, selected: list[Stage], resume: bool, progress: bool,
    epoch_callback: Callable[[dict], None] | None,
) -> _Run:
    """Check the output folder and every selected stage's data, then start the folder.

    The data is read and every stage's needs are checked before anything is trained or written:
    a missing folder, a bad joints.mat or a stage without its data (ψ without silhouettes) stops
    the run here, naming what is missing.
    """
    check_out_dir(config, out_dir, resume)
    _check_trainer_options(config)
    data = build_training_data(config)
    for stage in selected:
        stage_pools(config, data, stage.data)
    data.epoch_eval_set(config.eval.epoch_split)
    if _rank() == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, out_dir / "config.yaml")
        save_data_paths(config, out_dir)  # a relative data.root resumed elsewhere is refused
        # A run killed inside a checkpoint write leaves its temporary file behind; rank 0 is the
        # only writer of checkpoints and writes none yet.
        remove_stale_temporaries(out_dir / "checkpoints")
    quiet_libraries()
    return _Run(config, out_dir, data, build_codec_for(config), metric_for(config), progress, epoch_callback)


def _check_trainer_options(config: Config) -> None:
    """Let Lightning judge the scale settings on this machine before anything is written (a GPU
    asked where there is none, a strategy whose package is missing, devices its accelerator does
    not take).

    Raises:
        ConfigError: naming the keys and Lightning's reason.
    """
    import lightning as L

    t = config.train
    quiet_libraries()
    try:
        L.Trainer(accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
                  precision=t.precision, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                  enable_model_summary=False)
    except Exception as exc:  # noqa: BLE001 - Lightning raises several types for these settings
        raise ConfigError(
            f"train.accelerator={t.accelerator}, train.devices={t.devices}, train.strategy={t.strategy}, "
            f"train.precision={t.precision}: Lightning cannot run them here: {str(exc).splitlines()[0]}"
        ) from None


def _stage_start(run: _Run, stage: Stage, finals: dict[str, dict], resume: bool) -> _StageStart:
    """Where ``stage`` starts: complete already (skipped), after its last saved epoch (resume), or
    from the final weights (and Adam state) of the stage it is initialised from.

    Raises:
        RunError: the stage it is initialised from has not completed.
    """
    path, total = run.checkpoint(stage.name), stage_epochs(run.config, stage)
    payload = read_checkpoint(path) if (resume and path.is_file()) else None
    if payload is not None and payload.get("completed"):
        _say(f"stage {stage.name}: complete, skipped", run.progress)
        return _StageStart(done=payload)
    if payload is not None:
        start = _StageStart(
            epoch=int(payload["epoch"]), weights=payload["state_dict"], weights_path=path,
            optimizer_state=named_adam_states(payload) or payload["optimizer"], records=payload["history"],
            stage_state=payload.get("stage_state"),
        )
        _say(f"stage {stage.name}: resuming after epoch {start.epoch}/{total}", run.progress)
        return start
    start = _StageStart()
    if stage.init_from is not None:
        ckpt_dir = run.out_dir / "checkpoints"
        init = _payload_of(stage.init_from, finals, ckpt_dir)
        if init is None or not init.get("completed"):
            raise RunError(
                f"stage {stage.name} starts from stage {stage.init_from}, which has not "
                f"completed in {run.out_dir}; run it first (or resume)"
            )
        start.weights, start.weights_path = init["state_dict"], run.checkpoint(stage.init_from)
        if stage.name not in run.config.train.fresh_optimizer_stages:
            start.optimizer_state = continued_optimizer_state(stage, lambda name: _payload_of(name, finals, ckpt_dir))
    _say(f"stage {stage.name} ({stage.description}): {total} epochs", run.progress)
    return start


def _build_stage_model(config: Config, stage: Stage, start: _StageStart) -> Any:
    """The stage's MirrorNet: the fresh nets, seeded by (seed, stage) only, then the weights it
    starts from, then the speed options."""
    seed_all(stage_seed(config.train.seed, stage.name, -1))
    model = build_model(config)
    if start.weights is not None:
        load_weights(model, start.weights, start.weights_path)
    return apply_speed_options(model, config)


def _fit_stage(run: _Run, stage: Stage, model: Any, start: _StageStart) -> dict:
    """Train ``stage`` from ``start`` to its last epoch; returns its final checkpoint payload.

    The stage module writes the checkpoint after every epoch; a stage with no epoch to run (a
    length of 0) is complete as it starts, and that is its checkpoint.
    """
    from mirrornet.training.lightning_module import StageModule

    config, total, path = run.config, stage_epochs(run.config, stage), run.checkpoint(stage.name)
    if total - start.epoch <= 0:
        payload = stage_payload(config.to_dict(), stage.name, total, total, model, start.records)
        if _rank() == 0:
            save_checkpoint(path, payload)
        return payload
    module = StageModule(
        model,
        config,
        stage,
        run.data,
        total_epochs=total,
        start_epoch=start.epoch,
        alpha_epoch_base=_alpha_epoch_base(config, stage),
        checkpoint_path=path,
        optimizer_state=start.optimizer_state,
        records=start.records,
        codec=run.codec,
        epoch_callback=run.epoch_callback,
        metric=run.metric,
        stage_state=start.stage_state,
    )
    trainer = _make_trainer(config, run.out_dir, stage, total, start.epoch, run.progress)
    try:
        trainer.fit(module)
    except SystemExit as exc:
        # Lightning ends an interrupted fit with sys.exit: status 1 after Ctrl-C, 0 after SIGTERM
        # (its SIGTERMException). The interrupt goes on as itself, for the caller to report;
        # the last finished epoch's checkpoint is kept.
        if not trainer.interrupted:
            raise
        interrupt = exc.__context__ if isinstance(exc.__context__, KeyboardInterrupt) else KeyboardInterrupt()
        raise interrupt from None
    return module.last_payload


def _report(run: _Run, finals: dict[str, dict]) -> dict:
    """Each complete method's row, with its final α's figures on the whole splits (when
    ``eval.final``); rank 0 writes ``metrics.csv``, ``results.json`` and the figures."""
    config = run.config
    results = collect_results(config, run.out_dir, finals)
    if config.eval.final:
        for method, row in results.items():
            if config.eval.select == "best_val":
                final = read_checkpoint(row["checkpoint"])
            else:
                final = _payload_of(method_chain(method)[-1].name, finals, run.out_dir / "checkpoints")
            row["final"] = final_evaluation(config, run.data, run.codec, final, run.metric)
            _say(f"{method}: final α on the whole test split: {_final_summary(row['final'])}", run.progress)
    if _rank() == 0:
        write_run_outputs(config, run.out_dir, results, finals, *run.metric)
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
