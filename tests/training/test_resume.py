"""Resume: an interrupted run continues from its last checkpoint and reaches the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mirrornet.config import load_config
from mirrornet.checkpoints import read_checkpoint
from mirrornet.training import run_experiment
from mirrornet.training.run import RunError

TINY = Path(__file__).resolve().parents[2] / "configs" / "cpu" / "tiny.yaml"


class Interrupt(RuntimeError):
    """Stands for a crash or a killed job."""


def _interrupt_at(stage: str, epoch: int):
    def callback(record: dict) -> None:
        if record["stage"] == stage and record["epoch"] == epoch:
            raise Interrupt(f"stopped after {stage} epoch {epoch}")

    return callback


@pytest.fixture(scope="module")
def config():
    # Augmentation and two batches per epoch so that order and augmentation matter.
    return load_config(TINY, ["train.epochs.baseline=3", "train.epochs.supervised_second=2"])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, config) -> Path:
    out = tmp_path_factory.mktemp("whole")
    run_experiment(config, out, progress=False)
    return out


def _same_weights(a: Path, b: Path, stage: str) -> None:
    sa = read_checkpoint(a / "checkpoints" / f"{stage}.ckpt")["state_dict"]
    sb = read_checkpoint(b / "checkpoints" / f"{stage}.ckpt")["state_dict"]
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"{stage}: {key} differs"


@pytest.mark.parametrize("stage,epoch", [("baseline", 1), ("supervised", 1)])
def test_resume_mid_stage_matches_uninterrupted(tmp_path, config, uninterrupted, stage, epoch) -> None:
    with pytest.raises(Interrupt):
        run_experiment(config, tmp_path, progress=False, epoch_callback=_interrupt_at(stage, epoch))
    partial = read_checkpoint(tmp_path / "checkpoints" / f"{stage}.ckpt")
    assert partial["epoch"] == epoch and not partial["completed"]
    assert not (tmp_path / "results.json").exists()
    # Without --resume the folder is refused; with it the run completes.
    with pytest.raises(RunError, match="--resume"):
        run_experiment(config, tmp_path, progress=False)
    results = run_experiment(config, tmp_path, resume=True, progress=False)
    expected = json.loads((uninterrupted / "results.json").read_text())
    for method, row in expected.items():
        assert results[method]["groups"] == pytest.approx(row["groups"], abs=1e-9)
    for name in ("baseline", "supervised", "semi_supervised"):
        _same_weights(tmp_path, uninterrupted, name)


def test_stage_list_then_resume_skips_completed(tmp_path, config, uninterrupted) -> None:
    results = run_experiment(config, tmp_path, stages=["pretrain_alpha", "baseline"], progress=False)
    assert set(results) == {"baseline"}
    before = (tmp_path / "checkpoints" / "baseline.ckpt").stat().st_mtime_ns
    results = run_experiment(config, tmp_path, resume=True, progress=False)
    assert (tmp_path / "checkpoints" / "baseline.ckpt").stat().st_mtime_ns == before
    expected = json.loads((uninterrupted / "results.json").read_text())
    assert set(results) == set(expected)
    for method, row in expected.items():
        assert results[method]["groups"] == pytest.approx(row["groups"], abs=1e-9)


def test_resume_with_another_config_is_refused(tmp_path, config) -> None:
    run_experiment(config, tmp_path, stages=["pretrain_alpha"], progress=False)
    other = load_config(TINY, ["train.lr=0.01"])
    with pytest.raises(RunError, match="train.lr"):
        run_experiment(other, tmp_path, resume=True, progress=False)


def test_every_epoch_draws_its_own_batches(tmp_path, monkeypatch) -> None:
    from mirrornet.training import datamodule

    seen: list[tuple[int, int]] = []
    real = datamodule.EpochIndexedDataset.__getitem__

    def spy(self, key):
        seen.append((int(key[0]), int(key[1])))
        return real(self, key)

    monkeypatch.setattr(datamodule.EpochIndexedDataset, "__getitem__", spy)
    config = load_config(TINY, ["train.epochs.alpha_pretrain=3"])
    run_experiment(config, tmp_path, stages=["pretrain_alpha"], progress=False)
    epochs = sorted({e for e, _ in seen})
    assert epochs == [0, 1, 2]
    # 2 batches of 8 per epoch; the epochs' orders differ.
    orders = [[i for e, i in seen if e == k] for k in epochs]
    assert all(len(o) == 16 for o in orders)
    assert orders[0] != orders[1] != orders[2]


def test_a_killed_checkpoint_write_leaves_no_temporary_behind(tmp_path) -> None:
    """The temporaries of dead writers (and of this process) go; a live writer's file and every
    other file stay."""
    import os
    import subprocess
    import sys

    from mirrornet.fileio import temporary_path
    from mirrornet.training.checkpoint import remove_stale_temporaries

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    mine = temporary_path(folder / "baseline.ckpt")  # the name save_checkpoint writes under
    stale = folder / f".supervised.ckpt.{dead}.tmp"
    live = folder / f".semi_supervised.ckpt.{os.getppid()}.tmp"
    others = [folder / "baseline.ckpt", folder / f".metrics.csv.{dead}.tmp", folder / f".baseline.ckpt.{dead}.tmp.png"]
    for path in [mine, stale, live, *others]:
        path.write_bytes(b"")
    assert sorted(remove_stale_temporaries(folder)) == sorted([mine, stale])
    assert not mine.exists() and not stale.exists()
    assert live.exists() and all(p.exists() for p in others)
    assert remove_stale_temporaries(tmp_path / "nowhere") == []
