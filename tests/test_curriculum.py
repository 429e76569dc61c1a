"""The curriculum table (Sections 4, 5.2): what it refuses, what it chains, and what each stage's
objectives actually train."""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mirrornet import stage_objectives
from mirrornet.checkpoints import build_model
from mirrornet.config import Config, load_config
from mirrornet.curriculum import (
    CURRICULUM,
    METHODS,
    NETS,
    StageData,
    method_chain,
    resolve_stages,
    stage_by_name,
    stage_chain,
)
from mirrornet.training.run import stage_epochs

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted([*(ROOT / "configs").rglob("*.yaml"), *(ROOT / "src" / "mirrornet" / "presets").glob("*.yaml")])


def test_every_stage_starts_from_an_earlier_one() -> None:
    names = [s.name for s in CURRICULUM]
    assert len(set(names)) == len(names)
    for i, stage in enumerate(CURRICULUM):
        if stage.init_from is not None:
            assert names.index(stage.init_from) < i


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: str(p.relative_to(ROOT)))
def test_alpha_sees_the_same_epochs_in_every_method(preset: Path) -> None:
    """The epoch-budget identity: alpha_pretrain + baseline = alpha_pretrain + supervised_first
    + supervised_second = alpha_pretrain + supervised_first + semi_supervised, in every preset."""
    config = load_config(preset)
    # A method whose α stages mix optimizer steps (train.steps) and epochs is not budgeted by the
    # preset (e.g. the α-only default model); every other method must give α the same budget.
    in_steps = {m: {getattr(config.train.steps, s.epochs_key) is not None for s in method_chain(m)} for m in METHODS}
    budgeted = [m for m in METHODS if len(in_steps[m]) == 1]
    assert "baseline" in budgeted
    epochs = {method: sum(stage_epochs(config, s) for s in method_chain(method)) for method in budgeted}
    assert len(set(epochs.values())) == 1, epochs


def test_the_paper_gives_alpha_200_epochs() -> None:
    config = Config()
    assert {sum(stage_epochs(config, s) for s in method_chain(m)) for m in METHODS} == {200}


def test_a_misspelt_stage_is_refused_when_it_is_made() -> None:
    stage = stage_by_name("baseline")
    with pytest.raises(ValueError, match="alpha_pretrian.*alpha_pretrain"):
        replace(stage, epochs_key="alpha_pretrian")
    with pytest.raises(ValueError, match="alhpa"):
        replace(stage, trains=("alhpa",))
    with pytest.raises(TypeError, match="StageData"):
        replace(stage, data="annotated")
    with pytest.raises(TypeError, match="objective"):
        replace(stage, objectives=("recognizer",))


def test_stage_data_reaches_the_data_module() -> None:
    from mirrornet.training.datamodule import build_training_data, stage_pools

    config = load_config(ROOT / "configs" / "cpu" / "tiny.yaml")
    data = build_training_data(config)
    _, pools, counts = stage_pools(config, data, stage_by_name("semi_supervised").data)
    assert counts == [config.train.n_annotated, config.train.n_unannotated]
    assert data.annotated[pools[0]].all() and not data.annotated[pools[1]].any()
    _, pools, counts = stage_pools(config, data, stage_by_name("supervised").data)
    assert counts == [config.train.batch_size] and data.annotated[pools[0]].all()
    with pytest.raises(TypeError, match="StageData"):
        stage_pools(config, data, "mixed")


def test_chains_and_selection() -> None:
    assert [s.name for s in stage_chain("semi_supervised")] == [
        "pretrain_alpha", "pretrain_mask", "pretrain_vaes", "supervised_first", "semi_supervised"]
    assert [s.name for s in method_chain("supervised")] == ["pretrain_alpha", "supervised_first", "supervised"]
    assert [s.name for s in resolve_stages(["baseline"])] == ["pretrain_alpha", "baseline"]
    # A method is selected by its name, the name of the stage that gives its figure.
    assert [s.name for s in resolve_stages(["supervised", "baseline"])] == [
        "pretrain_alpha", "pretrain_mask", "pretrain_vaes", "baseline", "supervised_first", "supervised"]
    assert resolve_stages(None) == [s for s in CURRICULUM if not s.optional]  # the paper's stages
    with pytest.raises(KeyError, match="pretrain_alpha"):
        resolve_stages(["finetune"])


def test_every_objective_of_the_curriculum_is_used_and_named_as_it_is_logged() -> None:
    # Every function of stage_objectives with the StageObjective signature is some stage's.
    defined = {
        f for _, f in inspect.getmembers(stage_objectives, inspect.isfunction)
        if f.__module__ == stage_objectives.__name__
        and list(inspect.signature(f).parameters) == ["model", "batch", "config", "epochs_done"]
    }
    # (the optional consistency stages' objectives live in mirrornet.consistency)
    used = {o for stage in CURRICULUM for o in stage.objectives if o.__module__ == stage_objectives.__name__}
    assert used == defined and len(defined) == 6
    assert stage_objectives.objective_name(stage_objectives.semi_supervised) == "semi_supervised"


def _batch(b: int = 4, size: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """A mixed batch as PoseDataset returns it (every key any stage objective reads)."""
    g = torch.Generator().manual_seed(seed)
    h = size // 4
    annotated = torch.tensor([1.0, 1.0, 1.0, 0.0])[:b]
    return {
        "image": torch.randn(b, 3, size, size, generator=g),
        "x_star": torch.randn(b, 3, h, h, generator=g),
        "heatmaps": torch.rand(b, 16, h, h, generator=g) * annotated[:, None, None, None],
        "joint_weights": torch.ones(b, 16) * annotated[:, None],
        "silhouette": (torch.rand(b, 1, h, h, generator=g) > 0.5).float(),
        "has_silhouette": torch.ones(b),
        "annotated": annotated,
    }


@pytest.mark.parametrize("stage", CURRICULUM, ids=lambda s: s.name)
def test_a_stage_trains_exactly_its_nets(stage) -> None:
    """Every net a stage trains gets a gradient from the stage's objectives, and the nets it
    freezes get none — from the objectives themselves, with every parameter left trainable."""
    torch.manual_seed(0)
    # Weights on every optional term, so a stage whose nets learn only from a weighted term
    # (consistency + mirrors skips the image mirror at fidelity weight 0) trains them all here.
    config = load_config(ROOT / "configs" / "cpu" / "tiny.yaml",
                         ["train.plausibility_weight=0.1", "train.fidelity_weight=0.1"])
    model = build_model(config).train()
    for name in stage.frozen:
        getattr(model, name).eval()  # as the stage module runs frozen nets
    batch = _batch()
    if stage.data is not StageData.MIXED:
        batch["annotated"] = torch.ones(4)
        batch["heatmaps"] = torch.rand(4, 16, 16, 16, generator=torch.Generator().manual_seed(1))
        batch["joint_weights"] = torch.ones(4, 16)
    if stage.views is not None:  # two views of every item, the second moved by a quarter turn
        g = torch.Generator().manual_seed(2)
        batch["views"] = torch.randn(4, 2, 3, 64, 64, generator=g)
        quarter = torch.tensor([[0.0, 0.25, 0.0], [-0.25, 0.0, 15.0]])
        batch["view_heatmap_affines"] = torch.stack([torch.tensor([[0.25, 0.0, 0.0], [0.0, 0.25, 0.0]]), quarter]).expand(4, 2, 2, 3)
        batch["view_joint_orders"] = torch.arange(16).expand(4, 2, 16)
    state = stage.state(model, config) if stage.state is not None else None
    if state is not None:
        state.requires_grad_(state.trained)
    terms, total = stage_objectives.stage_terms(stage.objectives, model, batch, config, 0.0, state=state)
    names = {stage_objectives.objective_name(o) for o in stage.objectives}
    assert {key.split("/", 1)[0] for key in terms} == names  # logged as <objective>/<term>
    torch.testing.assert_close(total, sum(terms[f"{name}/total"] for name in names))
    (-total).backward()
    for name in NETS:
        grads = [p.grad for p in getattr(model, name).parameters()]
        moved = any(g is not None and torch.count_nonzero(g) > 0 for g in grads)
        assert moved == (name in stage.trains), f"{stage.name}: {name}"
    if state is not None and state.trained:  # a state trained with the stage (PoseDual's peer) learns too
        assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in state.parameters())
