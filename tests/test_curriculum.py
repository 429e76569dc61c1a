"""The curriculum table (Sections 4, 5.2)."""

from __future__ import annotations

import pytest

from mirrornet.config import Config
from mirrornet.curriculum import CURRICULUM, METHODS, NETS, method_chain, resolve_stages, stage_by_name, stage_chain
from mirrornet.training.lightning_module import OBJECTIVES
from mirrornet.training.run import stage_epochs


def test_every_stage_is_consistent() -> None:
    names = [s.name for s in CURRICULUM]
    assert len(set(names)) == len(names)
    for i, stage in enumerate(CURRICULUM):
        assert set(stage.trains) <= set(NETS) and set(stage.trains).isdisjoint(stage.frozen)
        assert all(o in OBJECTIVES for o in stage.objectives)
        assert stage.data in ("annotated", "mixed", "silhouettes")
        assert hasattr(Config().train.epochs, stage.epochs_key)
        if stage.init_from is not None:
            assert names.index(stage.init_from) < i  # starts from an earlier stage


def test_the_papers_steps() -> None:
    assert stage_by_name("baseline").trains == ("alpha",)
    for name in ("supervised_first", "supervised", "semi_supervised"):
        stage = stage_by_name(name)
        assert stage.frozen == ("psi",)  # ψ is not updated in steps 2 and 3
    assert stage_by_name("semi_supervised").data == "mixed"
    assert stage_by_name("semi_supervised").init_from == "supervised_first"  # the kept midpoint
    assert stage_by_name("supervised").init_from == "supervised_first"
    assert [s.method for s in CURRICULUM if s.method] == list(METHODS)


def test_alpha_sees_200_epochs_in_every_method() -> None:
    config = Config()
    for method in METHODS:
        epochs = sum(stage_epochs(config, s) for s in method_chain(method))
        assert epochs == 200, method


def test_chains_and_selection() -> None:
    assert [s.name for s in stage_chain("semi_supervised")] == [
        "pretrain_alpha", "pretrain_mask", "pretrain_vaes", "supervised_first", "semi_supervised"]
    assert [s.name for s in method_chain("supervised")] == ["pretrain_alpha", "supervised_first", "supervised"]
    assert [s.name for s in resolve_stages(["baseline"])] == ["pretrain_alpha", "baseline"]
    assert resolve_stages(None) == list(CURRICULUM)
    with pytest.raises(KeyError, match="pretrain_alpha"):
        resolve_stages(["finetune"])
