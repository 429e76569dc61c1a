"""The checks of a config's values that types alone cannot make (:meth:`mirrornet.config_schema.Config.validate`).

Each function takes one section of the schema (a dataclass of :mod:`mirrornet.config_schema`) and
raises :class:`ConfigError` naming the dotted key and the value at fault. They live apart from
the schema so that the schema reads as the list of settings and their meaning.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from typing import Any

__all__ = ["ConfigError", "check_choices", "check_data", "check_model", "check_train", "check_eval"]


class ConfigError(ValueError):
    """A configuration file, key or value is invalid; the message names what is at fault."""



def check_choices(section: Any, prefix: str) -> None:
    """Check every field of ``section`` (and of its sub-sections) whose metadata lists choices."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            check_choices(value, f"{prefix}{f.name}.")
            continue
        options = f.metadata.get("choices")
        if options is None or value is None:
            continue
        options = options() if callable(options) else options
        for item in value if isinstance(value, list) else [value]:
            if item not in options:
                raise ConfigError(
                    f"config key {prefix + f.name!r} must be one of {', '.join(options)}; got {item!r}"
                )


def check_data(d: Any, e: Any) -> None:
    if d.format != "synthetic" and not d.root:
        raise ConfigError(f"data.root is required for data.format={d.format!r}")
    if len(d.input_size) != 2 or min(d.input_size) <= 0:
        raise ConfigError(f"data.input_size must be two positive ints (H, W), got {d.input_size}")
    if d.heatmap_stride <= 0:
        raise ConfigError(
            f"config key 'data.heatmap_stride' must be a positive int (input pixels per heatmap "
            f"pixel, 4 in the paper), got {d.heatmap_stride}"
        )
    if any(s % (d.heatmap_stride * 8) for s in d.input_size):
        raise ConfigError(
            f"data.input_size {tuple(d.input_size)} must be divisible by 8 × data.heatmap_stride "
            f"= {8 * d.heatmap_stride} (the latents are 1/8 of the heatmaps)"
        )
    if not 0.0 <= d.val_ratio < 1.0:
        raise ConfigError(f"data.val_ratio must be in [0, 1), got {d.val_ratio}")
    if e.epoch_split == "val" and d.val_ratio <= 0.0:
        raise ConfigError("eval.epoch_split=val needs a validation split: set data.val_ratio > 0")
    if d.annotated_count is not None and d.annotated_count < 1:
        raise ConfigError(f"data.annotated_count must be a positive number of images or null, got {d.annotated_count}")
    if not 0.0 < d.annotated_ratio <= 1.0:
        raise ConfigError(f"data.annotated_ratio must be in (0, 1], got {d.annotated_ratio}")
    if not (math.isfinite(d.half_body_prob) and 0.0 <= d.half_body_prob <= 1.0):
        raise ConfigError(f"data.half_body_prob must be a probability in [0, 1], got {d.half_body_prob}")
    if not (math.isfinite(d.colour_jitter) and 0.0 <= d.colour_jitter < 1.0):
        raise ConfigError(f"data.colour_jitter must be in [0, 1), got {d.colour_jitter}")
    if d.image_backend == "opencv" and importlib.util.find_spec("cv2") is None:
        raise ConfigError(
            "config key 'data.image_backend' is 'opencv', but OpenCV is not installed: "
            "pip install 'mirrornet[speed]' (or opencv-python-headless), or use 'pillow'"
        )


def check_model(m: Any) -> None:
    if not (math.isfinite(m.bottleneck_power) and m.bottleneck_power >= 1):
        raise ConfigError(f"model.bottleneck_power must be a number >= 1, got {m.bottleneck_power}")
    if m.pose_variance is not None and not (math.isfinite(m.pose_variance) and m.pose_variance > 0):
        raise ConfigError(f"model.pose_variance must be a positive number or null, got {m.pose_variance}")
    if not (math.isfinite(m.alpha_variance) and m.alpha_variance > 0):
        raise ConfigError(f"model.alpha_variance must be a finite positive number, got {m.alpha_variance}")


def check_train(t: Any) -> None:
    if not (math.isfinite(t.unlabeled_weight) and t.unlabeled_weight >= 0):
        raise ConfigError(f"train.unlabeled_weight must be a finite number >= 0, got {t.unlabeled_weight}")
    if not (math.isfinite(t.unlabeled_rampup_epochs) and t.unlabeled_rampup_epochs >= 0):
        raise ConfigError(
            f"train.unlabeled_rampup_epochs must be a finite number >= 0, got {t.unlabeled_rampup_epochs}"
        )
    for key in ("consistency_weight", "plausibility_weight", "fidelity_weight"):
        if not (math.isfinite(getattr(t, key)) and getattr(t, key) >= 0):
            raise ConfigError(f"train.{key} must be a finite number >= 0, got {getattr(t, key)}")
    if t.alpha_grad_norm_every < 0:
        raise ConfigError(f"train.alpha_grad_norm_every must be >= 0, got {t.alpha_grad_norm_every}")
    if t.batch_size <= 0:
        raise ConfigError(f"train.batch_size must be positive, got {t.batch_size}")
    if t.n_annotated < 1 or t.n_unannotated < 0:
        raise ConfigError(
            f"train.n_annotated must be >= 1 and train.n_unannotated >= 0, "
            f"got {t.n_annotated} and {t.n_unannotated}"
        )
    if t.n_annotated + t.n_unannotated != t.batch_size:
        raise ConfigError(
            f"train.n_annotated + train.n_unannotated = {t.n_annotated} + {t.n_unannotated} "
            f"must equal train.batch_size = {t.batch_size}"
        )
    for name, value in dataclasses.asdict(t.epochs).items():
        if value < 0:
            raise ConfigError(f"train.epochs.{name} must be >= 0, got {value}")
    if not (math.isfinite(t.lr) and t.lr > 0):  # NaN passes a plain `<= 0`
        raise ConfigError(f"train.lr must be a finite positive number, got {t.lr}")
    if t.threads is not None and t.threads < 1:
        raise ConfigError(f"train.threads must be a positive number of threads or null (automatic), got {t.threads}")
    _check_steps(t)


def _check_steps(t: Any) -> None:
    """The step budget and the learning-rate schedule."""
    if t.eval_every_steps < 1:
        raise ConfigError(f"train.eval_every_steps must be >= 1, got {t.eval_every_steps}")
    for name, value in dataclasses.asdict(t.steps).items():
        if value is None:
            continue
        if value < 0 or value % t.eval_every_steps:
            raise ConfigError(
                f"train.steps.{name}={value} must be >= 0 and a multiple of "
                f"train.eval_every_steps={t.eval_every_steps} (the stage runs whole rounds)"
            )
    if t.warmup_steps < 0:
        raise ConfigError(f"train.warmup_steps must be >= 0, got {t.warmup_steps}")
    if not all(math.isfinite(m) and 0.0 < m < 1.0 for m in t.lr_milestones) or t.lr_milestones != sorted(t.lr_milestones):
        raise ConfigError(
            f"train.lr_milestones must be increasing fractions of a stage's steps in (0, 1), got {t.lr_milestones}"
        )
    if not (math.isfinite(t.lr_gamma) and 0.0 < t.lr_gamma <= 1.0):
        raise ConfigError(f"train.lr_gamma must be in (0, 1], got {t.lr_gamma}")
    if not (math.isfinite(t.lr_min_ratio) and 0.0 <= t.lr_min_ratio <= 1.0):
        raise ConfigError(f"train.lr_min_ratio must be in [0, 1], got {t.lr_min_ratio}")


def check_eval(e: Any) -> None:
    if e.select == "best_val" and e.epoch_split != "val":
        raise ConfigError("eval.select=best_val chooses on the validation split: set eval.epoch_split=val")
    for key in ("box_jitter_scale", "box_jitter_shift"):
        value = getattr(e, key)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ConfigError(f"eval.{key} must be a number in [0, 1] (0: the annotated box), got {value}")
