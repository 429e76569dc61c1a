"""The seams a new method uses: stages keyed by name, a stage's state and after-step hook (saved
and resumed), one way to apply a stage, and stage names checked outside the config schema."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures_runs import interrupted_and_resumed
from mirrornet import curriculum, stage_objectives
from mirrornet.checkpoints import build_model, read_checkpoint
from mirrornet.codecs import warp_heatmaps
from mirrornet.config import ConfigError, load_config
from mirrornet.data.builders import easy_hard_views
from mirrornet.data.views import MultiViewDataset, view_affine, view_joint_order
from mirrornet.curriculum import CURRICULUM, METHOD_LABELS, METHODS, NETS, Stage, StageData, check_stage_names
from mirrornet.stage_seeds import PAPER_STAGE_KEYS, stage_key, stage_seed
from mirrornet.stage_state import EMATeacher, StageState, ema_teacher
from mirrornet.training import run_experiment
from mirrornet.training.datamodule import build_training_data

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "cpu" / "tiny.yaml"


def test_the_paper_stages_keep_their_seeds() -> None:
    """The seven stages draw what they drew when seeds were keyed by position."""
    paper = [s for s in CURRICULUM if not s.optional]
    assert [stage_key(s.name) for s in paper] == list(range(len(paper)))
    assert set(PAPER_STAGE_KEYS) == {s.name for s in paper}
    assert all(stage_key(s.name) >= 2**32 for s in CURRICULUM if s.optional)  # hashed: no clash with 0-6
    old = int(np.random.SeedSequence([3, 4, 2 + 1, 1]).generate_state(1)[0])  # (seed, index, epoch+1, rank)
    assert stage_seed(3, "supervised_first", 2, rank=1) == old


def test_a_new_stage_key_is_stable_across_processes() -> None:
    code = "from mirrornet.stage_seeds import stage_key; print(stage_key('pose_consistency'))"
    keys = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        keys.add(int(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout))
    assert keys == {2**32 + zlib.crc32(b"pose_consistency")}
    assert stage_key("pose_consistency") not in PAPER_STAGE_KEYS.values()
    assert stage_seed(0, "pose_consistency", 0) != stage_seed(0, "pose_consistency_b", 0)


def _throwaway(name: str = "throwaway", **changes) -> Stage:
    row = dict(
        name=name, trains=("alpha",), objectives=(stage_objectives.recognizer,), data=StageData.ANNOTATED,
        epochs_key="alpha_pretrain", init_from=None, continues_optimizer=False, evaluate=False, method=None,
        description="a stage added for a test",
    )
    row.update(changes)
    return Stage(**row)


def _first_stage_run(out: Path, config) -> tuple[list[dict], dict]:
    run_experiment(config, out, stages=["pretrain_alpha"], progress=False)
    payload = read_checkpoint(out / "checkpoints" / "pretrain_alpha.ckpt")
    return payload["history"], payload["state_dict"]


def test_adding_a_stage_leaves_the_other_stages_draws_unchanged(tmp_path, monkeypatch) -> None:
    """A stage inserted before pretrain_alpha changes none of its batches, noise or weights."""
    config = load_config(TINY, ["train.epochs.alpha_pretrain=1"])
    before, weights = _first_stage_run(tmp_path / "a", config)
    monkeypatch.setattr(curriculum, "CURRICULUM", (_throwaway(), *CURRICULUM))
    assert curriculum.resolve_stages(None)[0].name == "throwaway"
    after, weights_after = _first_stage_run(tmp_path / "b", config)
    assert [r["train"] for r in after] == [r["train"] for r in before]
    assert all(torch.equal(weights[k], weights_after[k]) for k in weights)


def test_methods_and_labels_come_from_the_curriculum() -> None:
    assert METHODS == ("baseline", "supervised", "semi_supervised")
    assert METHOD_LABELS == {"baseline": "Baseline", "supervised": "Supervised MirrorNet",
                             "semi_supervised": "Semi-supervised MirrorNet", "consistency": "Consistency (PoseCons)",
                             "consistency_dual": "Consistency (PoseDual)",
                             "consistency_mirrors": "Consistency + mirrors"}
    with pytest.raises(ValueError, match="label exactly when it has a method"):
        _throwaway(method="throwaway")
    with pytest.raises(ValueError, match="label exactly when it has a method"):
        _throwaway(label="Throwaway")


def test_stage_names_are_checked_by_the_curriculum_before_a_run(tmp_path) -> None:
    check_stage_names(["baseline", "supervised_first"], "train.fresh_optimizer_stages")
    with pytest.raises(ConfigError, match=r"'train.fresh_optimizer_stages' must be one of .*; got 'nope'"):
        check_stage_names(["baseline", "nope"], "train.fresh_optimizer_stages")
    config = load_config(TINY, ["train.fresh_optimizer_stages=[nope]"])  # the schema no longer asks
    with pytest.raises(ConfigError, match="got 'nope'"):
        run_experiment(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything is written


@pytest.mark.parametrize("learn_alpha_variance", [False, True])
def test_apply_trains_exactly_the_stage_nets(learn_alpha_variance: bool) -> None:
    config = load_config(TINY, [f"model.learn_alpha_variance={str(learn_alpha_variance).lower()}"])
    model = build_model(config)
    for stage in CURRICULUM:
        model.train()
        params = stage.apply(model)
        stage.eval_frozen(model)
        assert {n: getattr(model, n).training for n in NETS} == {n: n in stage.trains for n in NETS}
        expected = [p for n in NETS if n in stage.trains for p in getattr(model, n).parameters()]
        assert {id(p) for p in params} - {id(model.alpha_logvar)} == {id(p) for p in expected}, stage.name
        assert any(p is model.alpha_logvar for p in params) is (learn_alpha_variance and "alpha" in stage.trains)


# A stateful stage with two views: α learns from the annotation and from its EMA teacher's
# heatmaps on the easy view, carried into the hard view's frame (the worked example of
# docs/training.md).
def consistency(model, batch, config, epochs_done, state=None):
    """Eq. 30 plus −MSE between α on the hard view and the teacher on the easy view (a test objective)."""
    terms = stage_objectives.recognizer(model, batch, config, epochs_done)
    easy, hard = batch["views"][:, 0], batch["views"][:, 1]  # (B, 3, H, W) each
    with torch.no_grad():
        target = warp_heatmaps(state(easy), view_affine(batch["view_heatmap_affines"], 0, 1),
                               joint_order=view_joint_order(batch["view_joint_orders"], 0, 1))
    agreement = -((model.recognize(hard)[-1] - target) ** 2).mean()
    return {**terms, "agreement": agreement, "total": terms["total"] + agreement}


def _stateful(decay: float = 0.5) -> Stage:
    return _throwaway("ema_stage", objectives=(consistency,), epochs_key="baseline", init_from="pretrain_alpha",
                      state=lambda model, config: ema_teacher(model, config, decay=decay), views=easy_hard_views)


def test_a_stage_state_follows_every_step_and_resumes(tmp_path, monkeypatch) -> None:
    config = load_config(TINY, ["train.epochs.alpha_pretrain=1", "train.epochs.baseline=2"])
    monkeypatch.setattr(curriculum, "CURRICULUM", (*CURRICULUM, _stateful()))
    run_experiment(config, tmp_path / "whole", stages=["ema_stage"], progress=False)
    whole = read_checkpoint(tmp_path / "whole" / "checkpoints" / "ema_stage.ckpt")
    steps = sum(r["steps"] for r in whole["history"])
    assert steps > 0 and int(whole["stage_state"]["steps"]) == steps  # after_step ran once per step
    assert any(r["train"]["consistency/agreement"] != 0 for r in whole["history"])  # the objective got it
    start = read_checkpoint(tmp_path / "whole" / "checkpoints" / "pretrain_alpha.ckpt")["state_dict"]
    teacher = {k.removeprefix("teacher."): v for k, v in whole["stage_state"].items() if k.startswith("teacher.")}
    assert any(not torch.equal(v, start[f"alpha.{k}"]) for k, v in teacher.items())  # it moved off its start

    resumed = interrupted_and_resumed(config, tmp_path / "cut", "ema_stage")
    assert resumed["stage_state"].keys() == whole["stage_state"].keys()
    for key, value in whole["stage_state"].items():
        assert torch.equal(resumed["stage_state"][key], value), key


def test_an_ema_teacher_averages_and_is_never_trained() -> None:
    config = load_config(TINY)
    model = build_model(config)
    teacher = ema_teacher(model, config, decay=0.75)
    assert isinstance(teacher, StageState) and not teacher.train().training
    assert not any(p.requires_grad for p in teacher.teacher.parameters())
    before = {k: v.clone() for k, v in teacher.teacher.state_dict().items()}
    with torch.no_grad():
        for p in model.alpha.parameters():
            p.add_(1.0)
    teacher.after_step(model)
    for name, p in teacher.teacher.named_parameters():
        torch.testing.assert_close(p, 0.75 * before[name] + 0.25 * dict(model.alpha.named_parameters())[name])
    assert int(teacher.steps) == 1
    with pytest.raises(ValueError, match="decay"):
        EMATeacher(model.alpha, decay=1.0)


def test_the_worked_example_of_the_docs_runs_on_a_two_view_batch() -> None:
    """docs/training.md's pose-consistency stage: its row is valid and its objective, given the
    state and views its row builds, gives finite terms whose total reaches α."""
    text = (ROOT / "docs" / "training.md").read_text()
    section = text.split("### Adding a stage: a worked example", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/training.md", "exec"), namespace)  # noqa: S102 - the documentation's own code
    stage = namespace["POSE_CONSISTENCY"]
    assert stage.label == "Pose consistency" and stage.state is not None and stage.views is not None
    config = load_config(TINY)
    torch.manual_seed(0)
    model = build_model(config).train()
    state = stage.state(model, config)
    data = build_training_data(config)
    items = MultiViewDataset(data.train, stage.views(config))
    batch = torch.utils.data.default_collate([items[i] for i in range(4)])
    assert batch["views"].shape == (4, 2, 3, 64, 64)
    terms, total = stage_objectives.stage_terms(stage.objectives, model, batch, config, 0.0, state=state)
    assert torch.isfinite(total) and float(terms["pose_consistency/agreement"].detach()) < 0
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.alpha.parameters())
