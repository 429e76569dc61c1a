"""What the command line prints: a quiet, honest log, JSON alone on stdout, and a fast --help."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mirrornet.cli import main
from mirrornet.config import load_config
from mirrornet.training.progress import StageProgress

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"


def test_train_json_is_only_json_on_stdout_and_progress_is_one_line_per_epoch(tmp_path, monkeypatch, capfd) -> None:
    monkeypatch.setenv("MIRRORNET_NO_PROGRESS", "0")
    status = main(["train", str(TINY), "--out", str(tmp_path / "run"), "--json"])
    assert status == 0
    captured = capfd.readouterr()
    results = json.loads(captured.out)  # nothing but the results
    assert set(results) >= {"baseline", "supervised", "semi_supervised"}
    err = captured.err.splitlines()
    for noise in ("GPU available", "litlogger", "Tip:", "Trainer.fit", "it/s", "v_num"):
        assert not any(noise in line for line in err), noise
    # Not a terminal: one line per epoch of each stage, and one line announcing each stage.
    epochs = load_config(TINY).train.epochs.alpha_pretrain
    assert sum(line.startswith("  pretrain_alpha epoch ") for line in err) == epochs
    assert sum(line.startswith("[mirrornet] stage ") for line in err) == 7
    assert any("eval Total" in line for line in err if line.startswith("  baseline epoch 1/"))


def test_stage_progress_draws_one_bar_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = StageProgress("baseline", total_epochs=2, stream=stream, interactive=True)
    trainer = SimpleNamespace(num_training_batches=3, current_epoch=0, is_global_zero=True,
                              callback_metrics={})
    progress.on_train_start(trainer, None)
    for epoch in range(2):
        trainer.current_epoch = epoch
        progress.on_train_epoch_start(trainer, None)
        for step in range(3):
            progress.on_train_batch_end(trainer, None, {"loss": torch.tensor(-1.5)}, None, step)
        trainer.callback_metrics = {"eval/Total": torch.tensor(42.0 + epoch)}
        progress.on_train_epoch_end(trainer, None)
    assert progress._bar.n == 6 and progress._bar.total == 6  # one bar over the stage's 6 steps
    progress.on_train_end(trainer, None)
    text = stream.getvalue()
    assert "epoch 2/2" in text and "eval Total 43.00" in text and "loss -1.50" in text
    assert "epoch 1/2: loss" not in text  # no per-epoch lines on a terminal


def test_interrupted_train_says_how_to_resume(tmp_path, monkeypatch, capsys) -> None:
    import mirrornet.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mirrornet.training, "run_experiment", interrupted)
    out = tmp_path / "run"
    assert main(["train", str(TINY), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and f"--out {out} --resume" in err and "Traceback" not in err


def test_help_and_argument_errors_do_not_import_torch() -> None:
    code = ("import sys; import mirrornet.cli as cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "try:\n    cli.main(['train'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'lightning', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_resume_accepts_silhouettes_added_before_the_stages_that_read_them(tmp_path) -> None:
    from mirrornet.training import run_experiment
    from mirrornet.training.run import RunError
    from mirrornet.training.run_folder import check_out_dir

    out = tmp_path / "run"
    run_experiment(load_config(TINY), out, stages=["pretrain_alpha"], progress=False)
    added = load_config(TINY, [f"data.silhouette_root={tmp_path}"])
    check_out_dir(added, out, resume=True)  # ψ has not trained: the new key changes nothing done
    changed = load_config(TINY, ["train.lr=0.01"])
    with pytest.raises(RunError, match=r"train\.lr"):
        check_out_dir(changed, out, resume=True)
    # Once ψ has a checkpoint, its data may no longer change.
    (out / "checkpoints" / "pretrain_mask.ckpt").write_bytes((out / "checkpoints" / "pretrain_alpha.ckpt").read_bytes())
    with pytest.raises(RunError, match=r"data\.silhouette_root"):
        check_out_dir(added, out, resume=True)
