"""The arms of benchmarks.semi_table give α the same optimizer steps and differ where they say."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from benchmarks import semi_table
from mirrornet.config import load_config
from mirrornet.curriculum import method_chain, stage_by_name
from mirrornet.training.schedule import round_steps, stage_length

ROOT = Path(__file__).resolve().parents[1]
ARMS = semi_table.ARMS


def _record(arm: str, seed: int, val: float, test: float, runs: Path, overrides: Sequence[str] = ()) -> dict:
    """A finished run's JSON as semi_table writes it: validation ``val`` and test ``test`` PCK@0.1
    (PCK@0.2 30 points higher), its selected checkpoint under ``runs``."""
    metrics = {"PCK@0.1": {"Total": test}, "PCK@0.2": {"Total": test + 30}}
    floor = {"PCK@0.1": 35.0, "PCK@0.2": 70.0}
    row = {"totals": {"PCK@0.1": val}, "groups": {"Total": val}, "final": {"test": {"metrics": metrics, "floor": floor}},
           "checkpoint": str(runs / f"n45_{arm}_s{seed}" / "checkpoints" / f"{arm}.best.ckpt")}
    return {"labels": 45, "arm": arm, "seed": seed, "steps": 3600, "overrides": list(overrides),
            "results": {arm: row}, "seconds": 60.0}


def _alpha_steps(stages: list[str], overrides: list[str]) -> int:
    config = load_config(ROOT / "configs" / "cpu" / "lsp_scarce.yaml", overrides)
    method = stage_by_name(stages[-1]).method
    return sum(stage_length(config, s) * round_steps(config, s) for s in method_chain(method))


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_gives_alpha_the_same_steps(arm: str) -> None:
    stages, overrides = semi_table.arm(arm, 1200, (0.1, 1.0))
    assert _alpha_steps(stages, overrides) == 1200


def test_the_add_on_arms_differ_only_in_their_weights() -> None:
    _, plausibility = semi_table.arm("plausibility", 1200, (0.1, 0.0))
    _, fidelity = semi_table.arm("fidelity", 1200, (0.0, 1.0))
    differ = set(plausibility) ^ set(fidelity)
    assert differ == {"train.plausibility_weight=0.1", "train.fidelity_weight=0.0",
                      "train.plausibility_weight=0.0", "train.fidelity_weight=1.0"}
    dual, consistency = semi_table.arm("dual", 1200, (0, 0)), semi_table.arm("consistency", 1200, (0, 0))
    assert dual[0] == ["consistency_dual"] and dual[1] == consistency[1]  # PoseDual: only the stage differs
    assert set(semi_table.arm("plus", 1200, (0, 0))[1]) - set(semi_table.arm("mirrornet", 1200, (0, 0))[1]) == set(
        semi_table.PLUS)


def test_the_controls_swap_the_semi_supervised_stage_for_the_labelled_bound() -> None:
    for reference, control in semi_table.CONTROLS.items():
        (semi,), with_images = semi_table.arm(reference, 1200, (0, 0))
        (supervised,), without = semi_table.arm(control, 1200, (0, 0))
        assert (semi, supervised) == ("semi_supervised", "supervised")
        assert set(with_images) ^ set(without) == {"train.steps.semi_supervised=300", "train.steps.supervised_second=0",
                                                   "train.steps.semi_supervised=0", "train.steps.supervised_second=300"}
        assert stage_by_name(supervised).data.name == "ANNOTATED"


def test_the_report_pairs_each_reference_with_its_control(tmp_path) -> None:
    def record(arm: str, seed: int, test: float) -> dict:
        return _record(arm, seed, test, test, tmp_path)

    runs = {(45, "mirrornet", s): record("mirrornet", s, 40.0 + s) for s in (0, 1, 2)}
    runs |= {(45, "supervised", s): record("supervised", s, 39.0) for s in (0, 1)}  # seed 2 has no control
    table = semi_table.report(runs, {})
    assert "mirrornet − supervised paired by seed: PCK@0.1 +1.50 ± 6.35 (2/2 > 0)" in table  # +1, +2
    assert "plus − plus_supervised" not in table  # no pair, no line


def test_intervals_count_the_seeds_that_agree() -> None:
    assert semi_table.interval([1.0, 2.0, 3.0]).endswith("(3/3 > 0)")
    assert semi_table.interval([1.0, -1.0]).startswith("+0.00 ± ")


def test_the_baseline_arm_is_the_label_curves_run_of_the_same_settings(tmp_path) -> None:
    # semi_table reads the label curve's run back as its baseline arm: only right when the two
    # resolve to the same config (a new key in one of them would make the pairing wrong).
    from benchmarks import label_curve
    from benchmarks.cli_runs import resolved_config

    stages, overrides = semi_table.arm("baseline", 3600, (0.0, 0.0))
    ours = [f"data.root={tmp_path / 'lsp'}", f"data.lspet_root={tmp_path / 'lspet'}", "data.annotated_count=45",
            "data.split_seed=2", "train.seed=2", *overrides]
    assert stages == ["baseline"]
    assert resolved_config(semi_table.CONFIG, ours) == resolved_config(
        label_curve.CONFIG, label_curve._overrides(tmp_path, 45, 3600, 2))


def test_the_mirrornet_preset_is_the_measured_arms(tmp_path) -> None:
    # The preset the README recommends must train what semi_table's `mirrornet` arm (and, with
    # --stages supervised, its control) measured: it differs only in the step counts of the stages
    # those runs do not reach.
    from benchmarks.cli_runs import resolved_config

    preset = ROOT / "configs" / "cpu" / "lsp_scarce_mirrornet.yaml"
    data = [f"data.root={tmp_path / 'lsp'}", f"data.lspet_root={tmp_path / 'lspet'}", "data.annotated_count=90"]
    unused = {"mirrornet": ["train.steps.baseline=0", "train.steps.supervised_second=0"],
              "supervised": ["train.steps.baseline=0", "train.steps.semi_supervised=0"]}
    for name, stage in (("mirrornet", "semi_supervised"), ("supervised", "supervised")):
        stages, overrides = semi_table.arm(name, semi_table.chosen_budget(90), (0.0, 0.0))
        assert stages == [stage]
        assert resolved_config(preset, [*data, *unused[name]]) == resolved_config(semi_table.CONFIG, [*data, *overrides])


def test_the_cosine_schedule_run_is_the_label_curves_run(tmp_path) -> None:
    from benchmarks import label_curve, schedules
    from benchmarks.cli_runs import resolved_config

    curve = resolved_config(label_curve.CONFIG, label_curve._overrides(tmp_path, schedules.LABELS, schedules.STEPS, 0))
    assert resolved_config(schedules.CONFIG, schedules.overrides(tmp_path, "cosine")) == curve
    constant = resolved_config(schedules.CONFIG, schedules.overrides(tmp_path, "constant"))
    assert constant["train"]["lr_schedule"] == "constant" and curve["train"]["lr_schedule"] == "cosine"
    assert {k: v for k, v in constant["train"].items() if k != "lr_schedule"} == {
        k: v for k, v in curve["train"].items() if k != "lr_schedule"}


def test_the_report_reads_the_chosen_weights_and_pairs_the_baselines(tmp_path, monkeypatch) -> None:
    import json

    def record(arm: str, seed: int, val: float, test: float, overrides: Sequence[str] = ()) -> dict:
        return _record(arm, seed, val, test, tmp_path / "runs", overrides)

    results, curve = tmp_path / "semi", tmp_path / "curve"
    results.mkdir(), curve.mkdir()
    files = {
        "n45_consistency_s0": record("consistency", 0, 40, 38.0),
        "n45_consistency_s1": record("consistency", 1, 40, 37.0),
        "n45_plausibility_w0.1_s0": record("plausibility", 0, 41, 39.0, ["train.plausibility_weight=0.1"]),
        "n45_plausibility_w1_s0": record("plausibility", 0, 45, 30.0, ["train.plausibility_weight=1"]),
    }
    for name, data in files.items():
        (results / f"{name}.json").write_text(json.dumps(data))
    for seed, test in ((0, 35.0), (1, 36.0), (2, 99.0)):
        (curve / f"n45_t3600_s{seed}.json").write_text(json.dumps({**record("baseline", seed, 30, test), "steps": 3600}))
    monkeypatch.setattr(semi_table, "RESULTS", results)
    monkeypatch.setattr(semi_table, "CURVE", curve)
    runs, chosen = {}, {}
    semi_table.finished_runs(runs, chosen)
    # Weight 1 wins on validation (45 > 41) although its test figure is lower: the test is never used to choose.
    assert chosen == {(45, "plausibility"): 1.0}
    assert runs[(45, "plausibility", 0)]["overrides"] == ["train.plausibility_weight=1"]
    # Baselines only for the seeds another arm ran (seed 2 has none).
    assert sorted(k for k in runs if k[1] == "baseline") == [(45, "baseline", 0), (45, "baseline", 1)]
    assert "+2.00 ± 12.71 (2/2 > 0)" in semi_table.report(runs, chosen)  # consistency − baseline: +3, +1


def test_the_bone_violations_column_reads_the_measured_runs(tmp_path, monkeypatch) -> None:
    def record(arm: str, seed: int) -> dict:
        return _record(arm, seed, 40.0, 40.0, tmp_path / "runs")

    runs = {(45, "consistency", s): record("consistency", s) for s in (0, 1)}
    assert semi_table.run_name(runs[(45, "consistency", 0)]) == "n45_consistency_s0"
    monkeypatch.setattr(semi_table, "RESULTS", tmp_path)
    # No checkpoint on disk: nothing is measured, and nothing is written.
    assert semi_table.bone_violations(list(runs.values())) == {}
    assert not (tmp_path / semi_table.BONES_FILE).exists()
    bones = {"n45_consistency_s0": {"run": 12.0, "annotation": 3.0},
             "n45_consistency_s1": {"run": 14.0, "annotation": 5.0}}
    table = semi_table.report(runs, {}, bones)
    assert "| 13.0 (2) |" in table and "| test annotation | | | | | | | 4.0 | |" in table
    assert "| - |" in semi_table.report(runs, {})  # not measured: a dash, not a zero
