"""Stages in optimizer steps, learning-rate schedules and best-on-validation selection."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mirrornet.checkpoints import read_checkpoint
from mirrornet.config import ConfigError, load_config
from mirrornet.curriculum import stage_by_name
from mirrornet.training import run_experiment
from mirrornet.training.schedule import learning_rate, round_steps, stage_length
from mirrornet.training.selection import best_checkpoint_path, best_record

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "cpu" / "tiny.yaml"


def _train(**overrides):
    return load_config(TINY, [f"{k}={v}" for k, v in overrides.items()]).train


def test_constant_schedule_is_the_paper_rate() -> None:
    t = _train(**{"train.lr": 0.01})
    assert [learning_rate(t, s, 100) for s in (0, 50, 99)] == [0.01, 0.01, 0.01]


def test_warmup_rises_linearly_then_cosine_decays_to_the_floor() -> None:
    t = _train(**{"train.lr": 1.0, "train.lr_schedule": "cosine", "train.warmup_steps": 10, "train.lr_min_ratio": 0.1})
    assert learning_rate(t, 0, 110) == pytest.approx(0.1)
    assert learning_rate(t, 9, 110) == pytest.approx(1.0)
    assert learning_rate(t, 10, 110) == pytest.approx(1.0)
    assert learning_rate(t, 60, 110) == pytest.approx(0.55)  # half way: the mean of 1 and 0.1
    assert learning_rate(t, 110, 110) == pytest.approx(0.1)
    rates = [learning_rate(t, s, 110) for s in range(10, 110)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_step_schedule_multiplies_at_each_milestone() -> None:
    t = _train(**{"train.lr": 1.0, "train.lr_schedule": "step", "train.lr_milestones": "[0.5, 0.75]",
                  "train.lr_gamma": 0.1})
    assert [learning_rate(t, s, 100) for s in (49, 50, 74, 75, 99)] == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01])


def test_steps_replace_epochs_in_rounds_of_eval_every_steps() -> None:
    config = load_config(TINY, ["train.steps.baseline=12", "train.eval_every_steps=4"])
    baseline, pretrain = stage_by_name("baseline"), stage_by_name("pretrain_alpha")
    assert (stage_length(config, baseline), round_steps(config, baseline)) == (3, 4)
    assert (stage_length(config, pretrain), round_steps(config, pretrain)) == (config.train.epochs.alpha_pretrain, None)


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.steps.baseline=10", "train.steps.baseline"),  # not a multiple of 200
        ("train.eval_every_steps=0", "train.eval_every_steps"),
        ("train.lr_milestones=[0.9, 0.5]", "train.lr_milestones"),
        ("train.lr_schedule=linear", "train.lr_schedule"),
        ("eval.select=best_val", "eval.select"),  # needs eval.epoch_split=val
        ("eval.box_jitter_scale=-0.1", "eval.box_jitter_scale"),
        ("data.half_body_prob=1.5", "data.half_body_prob"),
    ],
)
def test_bad_budget_settings_are_refused_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(TINY, [override])


def test_best_record_takes_the_earliest_best() -> None:
    records = [{"eval": {"groups": {"Total": v}}, "epoch": i} for i, v in enumerate([1.0, 3.0, 3.0, float("nan")])]
    assert best_record(records)["epoch"] == 1
    assert best_checkpoint_path("run/checkpoints/baseline.ckpt") == Path("run/checkpoints/baseline.best.ckpt")


@pytest.fixture(scope="module")
def step_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("steps")
    config = load_config(TINY, [
        "data.val_ratio=0.25", "eval.epoch_split=val", "eval.select=best_val", "train.max_steps_per_epoch=null",
        "train.steps.alpha_pretrain=6", "train.steps.baseline=4", "train.eval_every_steps=2",
        "train.lr_schedule=cosine", "train.warmup_steps=2", "eval.box_jitter_scale=0.1", "eval.box_jitter_shift=0.05",
    ])
    return out, run_experiment(config, out, stages=["baseline"], progress=False)


def test_a_stage_in_steps_takes_exactly_its_steps(step_run) -> None:
    out, _ = step_run
    for name, rounds in (("pretrain_alpha", 3), ("baseline", 2)):
        history = read_checkpoint(out / "checkpoints" / f"{name}.ckpt")["history"]
        assert [r["steps"] for r in history] == [2] * rounds
    # The schedule ran: the logged rate of the first round is the warm-up's mean, below lr.
    first = read_checkpoint(out / "checkpoints" / "pretrain_alpha.ckpt")["history"][0]
    assert first["train"]["lr"] == pytest.approx((0.5e-3 + 1e-3) / 2)


def test_best_val_reports_the_best_round_and_evaluates_its_weights(step_run) -> None:
    out, results = step_run
    row = results["baseline"]
    history = [r for s in ("pretrain_alpha", "baseline")
               for r in read_checkpoint(out / "checkpoints" / f"{s}.ckpt")["history"]]
    best = best_record(history)
    assert row["selected"] == {"stage": best["stage"], "epoch": best["epoch"], "alpha_epoch": best["alpha_epoch"]}
    assert row["groups"]["Total"] == pytest.approx(best["eval"]["groups"]["Total"])
    saved = read_checkpoint(row["checkpoint"])
    assert (saved["stage"], saved["epoch"]) == (best["stage"], best["epoch"])
    # The final validation figure is that of the selected weights on the same (whole) split.
    assert row["final"]["val"]["groups"]["Total"] == pytest.approx(best["eval"]["groups"]["Total"])


def test_final_figures_hold_every_metric_and_the_floor(step_run) -> None:
    out, _ = step_run
    final = json.loads((out / "results.json").read_text())["baseline"]["final"]
    for split in ("test", "test_flip", "val", "test_jitter"):
        entry = final[split]
        assert list(entry["metrics"]) == ["PCK@0.2", "PCK@0.1", "torso-PCK@0.2"]
        assert entry["metrics"]["PCK@0.2"] == entry["groups"]
        assert set(entry["floor"]) == set(entry["metrics"])
        assert all(0.0 <= v <= 100.0 and math.isfinite(v) for v in entry["floor"].values())
        # A looser threshold never scores lower.
        assert entry["metrics"]["PCK@0.1"]["Total"] <= entry["metrics"]["PCK@0.2"]["Total"]
        assert entry["floor"]["PCK@0.1"] <= entry["floor"]["PCK@0.2"]
