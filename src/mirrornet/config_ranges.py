"""The value ranges of the config keys that types alone do not bound, checked when a config is
loaded (:meth:`mirrornet.config_schema.Config.validate`), before a run touches its folder.

A value outside its range would otherwise fail only after hours of training (λ = NaN at the
joint stages), silently do something else (a rotation probability of 5), fail inside Lightning
or torch with their own words (0 devices, -1 workers), or exhaust memory (10¹² synthetic
people). Each message names the key, the value and the range.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from mirrornet.choices import VAE_WIDTH_MINIMUMS
from mirrornet.config_checks import ConfigError

__all__ = ["ACCELERATORS", "PRECISIONS", "STRATEGIES", "check_ranges"]

#: ``train.accelerator`` values that ``lightning.Trainer`` accepts.
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")

#: ``train.precision`` values that ``lightning.Trainer`` accepts.
PRECISIONS = ("32-true", "32", "16-mixed", "16-true", "16", "bf16-mixed", "bf16-true", "bf16", "64-true", "64",
              "transformer-engine", "transformer-engine-float16")

#: ``train.strategy`` values: ``auto`` and the names of Lightning's strategy registry.
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_false", "ddp_find_unused_parameters_true", "ddp_fork",
              "ddp_fork_find_unused_parameters_false", "ddp_fork_find_unused_parameters_true", "ddp_notebook",
              "ddp_notebook_find_unused_parameters_false", "ddp_notebook_find_unused_parameters_true",
              "ddp_spawn", "ddp_spawn_find_unused_parameters_false", "ddp_spawn_find_unused_parameters_true",
              "deepspeed", "deepspeed_stage_1", "deepspeed_stage_2", "deepspeed_stage_2_offload",
              "deepspeed_stage_3", "deepspeed_stage_3_offload", "deepspeed_stage_3_offload_nvme", "fsdp",
              "fsdp_cpu_offload", "single_device", "single_tpu", "single_xla", "xla", "xla_debug")

#: Upper bounds that keep a mistyped value from exhausting memory or running for ever.
MAX_EPOCHS = 100_000
MAX_SYNTHETIC_PEOPLE = 1_000_000
MAX_SYNTHETIC_SIZE = 4096
MAX_WORKERS = 256


def _number(key: str, value: float, low: float, high: float, low_open: bool = False) -> None:
    """``value`` must be a finite number in [low, high] (or (low, high] with ``low_open``)."""
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > low if low_open else value >= low)
    if not (ok and value <= high):
        bracket = "(" if low_open else "["
        raise _error(f"{key} must be a finite number in {bracket}{low:g}, {high:g}], got {value!r}")


def _count(key: str, value: int | None, low: int, high: int | None = None, optional: bool = False) -> None:
    """``value`` must be an int in [low, high] (None too, with ``optional``)."""
    if value is None and optional:
        return
    if value < low or (high is not None and value > high):
        upper = f" and at most {high:,}" if high is not None else ""
        none = " (or null)" if optional else ""
        raise _error(f"{key} must be >= {low}{upper}{none}, got {value!r}")


def _error(message: str) -> Exception:
    return ConfigError(message)


def _one_of(key: str, value: str, options: tuple[str, ...], shown: int = 12) -> None:
    if value not in options:
        listed = ", ".join(options[:shown]) + (", …" if len(options) > shown else "")
        raise _error(f"config key {key!r} must be one of {listed}; got {value!r}")


def _check_devices(devices: int | str) -> None:
    """An int >= 1 or -1 (all), ``auto``, or a text of one count or a list of device indices."""
    text = str(devices).strip()
    if isinstance(devices, int):
        ok = devices >= 1 or devices == -1
    else:
        ok = text == "auto" or text == "-1" or bool(re.fullmatch(r"[1-9]\d*|\d+(\s*,\s*\d+)*\s*,?", text))
    if not ok:
        raise _error(
            f"train.devices must be a number of devices >= 1, -1 (all), 'auto' or a list of device "
            f"indices such as '0,1'; got {devices!r}"
        )


def _check_vae_widths(widths: dict[str, int]) -> None:
    """``model.vae_widths``: fields of ``VAENetsConfig``, each an int of at least its minimum."""
    for name, value in widths.items():
        if name not in VAE_WIDTH_MINIMUMS:
            raise _error(f"unknown config key 'model.vae_widths.{name}'; valid keys: "
                         + ", ".join(f"model.vae_widths.{f}" for f in VAE_WIDTH_MINIMUMS))
        if value < VAE_WIDTH_MINIMUMS[name]:
            raise _error(f"model.vae_widths.{name} must be an integer >= {VAE_WIDTH_MINIMUMS[name]}, got {value!r}")


def check_ranges(config: Any) -> None:
    """Check the ranges of the keys below; raise ``ConfigError`` naming the first bad one."""
    d, m, t = config.data, config.model, config.train
    _number("data.sigma", d.sigma, 0.0, 1e3, low_open=True)
    _number("data.scale_factor", d.scale_factor, 0.0, 0.99)
    _number("data.rotation", d.rotation, 0.0, 180.0)
    _number("data.rotation_prob", d.rotation_prob, 0.0, 1.0)
    _number("data.padding", d.padding, 1.0, 10.0)
    _number("data.synthetic_difficulty", d.synthetic_difficulty, 0.0, 1.0)
    _count("data.num_workers", d.num_workers, 0, MAX_WORKERS)
    _count("data.synthetic_num_train", d.synthetic_num_train, 1, MAX_SYNTHETIC_PEOPLE)
    _count("data.synthetic_num_test", d.synthetic_num_test, 1, MAX_SYNTHETIC_PEOPLE)
    _count("data.synthetic_size", d.synthetic_size, 16, MAX_SYNTHETIC_SIZE)
    _number("model.lam", m.lam, 0.0, 1e6)
    # model.recognizer is checked against the recognizer registry (a user's own included) by the schema.
    _check_vae_widths(m.vae_widths)
    _one_of("train.accelerator", t.accelerator, ACCELERATORS)
    _one_of("train.strategy", t.strategy, STRATEGIES, shown=4)
    _one_of("train.precision", t.precision, PRECISIONS)
    _check_devices(t.devices)
    _count("train.num_nodes", t.num_nodes, 1)
    if t.gradient_clip_val is not None:
        _number("train.gradient_clip_val", t.gradient_clip_val, 0.0, 1e12)
    _count("train.max_steps_per_epoch", t.max_steps_per_epoch, 1, optional=True)
    _count("train.max_eval_batches", t.max_eval_batches, 1, optional=True)
    _count("train.eval_batch_size", t.eval_batch_size, 1, optional=True)
    for name, value in dataclasses.asdict(t.epochs).items():
        _count(f"train.epochs.{name}", value, 0, MAX_EPOCHS)
    if config.eval.threshold is not None:
        _number("eval.threshold", config.eval.threshold, 0.0, 1e3, low_open=True)
