"""Faults reported in one line instead of a traceback, or handled instead of being left behind:
bugs told from bad input, a full disk, drawings of inputs Pillow cannot write, an empty --out,
newer checkpoints, dataset paths given as a file or with ``~``, leftovers of killed commands, and
Ctrl-C / SIGTERM during a real training run.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mirrornet.cli import main

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"


def _png(path: Path, h: int = 40, w: int = 30) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# 15. A bug is not bad input


def _a_bug(*args, **kwargs):
    np.zeros(3) + np.zeros(4)  # a numpy broadcasting error: a ValueError that no input causes


def test_a_bug_is_status_1_with_a_short_message_not_bad_input(tmp_path, checkpoint, capsys, monkeypatch) -> None:
    import mirrornet.predict as predict

    monkeypatch.setattr(predict, "predict_file", _a_bug)
    monkeypatch.delenv("MIRRORNET_DEBUG", raising=False)
    argv = ["predict", str(checkpoint), str(_png(tmp_path / "a.png")), "--out", str(tmp_path / "p.json")]
    code, err = _run(capsys, argv)
    assert code == 1, err
    err = "\n".join(line for line in err.splitlines() if not line.startswith("note: "))  # predict's note on boxes
    assert err.startswith("error: internal error: ValueError: operands could not be broadcast") and "Traceback" not in err
    assert "--debug" in err
    with pytest.raises(ValueError, match="broadcast"):  # the traceback, on --debug ...
        main([*argv, "--debug"])
    monkeypatch.setenv("MIRRORNET_DEBUG", "1")
    with pytest.raises(ValueError, match="broadcast"):  # ... or MIRRORNET_DEBUG=1
        main(argv)
    assert not (tmp_path / "p.json").exists()


def test_bad_input_still_has_status_2_and_debug_adds_the_traceback(tmp_path, capsys) -> None:
    code, err = _run(capsys, ["train", str(TINY), "--out", str(tmp_path / "r"), "--set", "train.lr=0", "--debug"])
    assert code == 2 and err.startswith("error: train.lr must be") and "Traceback" in err


# ---------------------------------------------------------------------------------------------
# 10. --draw for inputs whose suffix Pillow cannot write


@pytest.mark.parametrize("name", ["photo", "photo.dat", "photo.bak"])
def test_draw_gives_a_png_for_an_input_pillow_cannot_write(tmp_path, checkpoint, capsys, name) -> None:
    image = tmp_path / name
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(image, format="PNG")
    code, err = _run(capsys, ["predict", str(checkpoint), str(image), "--out", str(tmp_path / "p.json"),
                              "--draw", str(tmp_path / "drawn"), "--backend", "torch"])
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == [f"{name}.png"]
    with Image.open(tmp_path / "drawn" / f"{name}.png") as drawn:
        assert drawn.format == "PNG" and drawn.size == (30, 40)


# ---------------------------------------------------------------------------------------------
# 12. A full disk


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_drawing_is_one_line_naming_the_drawing(tmp_path, checkpoint, capsys, monkeypatch) -> None:
    image = _png(tmp_path / "a.png")
    monkeypatch.setattr(Path, "write_bytes", _enospc)
    code, err = _run(capsys, ["predict", str(checkpoint), str(image), "--out", str(tmp_path / "p.json"),
                              "--draw", str(tmp_path / "drawn"), "--backend", "torch"])
    assert code == 1, err
    assert f"error: no space left on the device while writing {tmp_path / 'drawn' / 'a.png'}" in err
    assert "Traceback" not in err
    assert not [p for p in (tmp_path / "drawn").iterdir()]  # no temporary left


def test_a_full_disk_while_training_is_one_line_and_the_run_resumes(tmp_path, capsys, monkeypatch) -> None:
    import shutil

    import mirrornet.training.checkpoint as checkpoint

    def full(*args, **kwargs):
        raise RuntimeError("basic_ios::clear: iostream error")  # what torch.save says

    real_save, real_usage = torch.save, shutil.disk_usage
    monkeypatch.setattr(checkpoint.torch, "save", full)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: real_usage(p)._replace(free=1000))
    out = tmp_path / "run"
    argv = ["train", str(TINY), "--out", str(out), "--stages", "pretrain_alpha", "--no-progress",
            "--set", "train.epochs.alpha_pretrain=1"]
    code, err = _run(capsys, argv)
    assert code == 1, err
    assert err.startswith(f"error: no space left on the device while writing {out / 'checkpoints'}")
    assert "Traceback" not in err
    assert not [p for p in (out / "checkpoints").iterdir()]  # no half-written checkpoint
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", real_usage)
    code, err = _run(capsys, [*argv, "--resume"])
    assert code == 0, err
    assert (out / "checkpoints" / "pretrain_alpha.ckpt").is_file()


def test_a_full_disk_while_synthesising_is_one_line_naming_the_folder(tmp_path, capsys, monkeypatch) -> None:
    import scipy.io

    monkeypatch.setattr(scipy.io, "savemat", _enospc)
    code, err = _run(capsys, ["synth", "--out", str(tmp_path / "s"), "--num", "4", "--size", "32"])
    assert code == 1, err
    assert f"error: no space left on the device while writing {tmp_path / 's'}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 16, 17. Messages that name the culprit


def test_train_out_empty_is_refused(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _run(capsys, ["train", str(TINY), "--out", ""])
    assert code == 2 and err.startswith("error: --out is empty; give the folder to write to"), err
    assert list(tmp_path.iterdir()) == []  # not runs/tiny either


@pytest.mark.parametrize("verb", ["synth", "demo"])
def test_other_empty_out_folders_are_refused(tmp_path, capsys, monkeypatch, verb) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _run(capsys, [verb, "--out", ""])
    assert code == 2 and err.startswith("error: --out is empty"), err
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_of_a_newer_format_says_so(tmp_path, checkpoint, capsys) -> None:
    from mirrornet.checkpoints import read_checkpoint

    payload = read_checkpoint(checkpoint)
    payload["format"] = "mirrornet-checkpoint-v7"
    torch.save(payload, tmp_path / "new.ckpt")
    code, err = _run(capsys, ["evaluate", str(tmp_path / "new.ckpt"), "--data-format", "synthetic"])
    assert code == 2
    assert f"{tmp_path / 'new.ckpt'} was written by a newer MirrorNet (checkpoint format mirrornet-checkpoint-v7" in err


@pytest.fixture(scope="module")
def lsp(tmp_path_factory) -> Path:
    from mirrornet.data.synthetic import export_synthetic

    root = tmp_path_factory.mktemp("home") / "lsp"
    export_synthetic(root, format="lsp", num=8, size=32, progress=False)
    return root


def test_root_naming_joints_mat_says_to_give_its_folder(lsp, checkpoint, capsys) -> None:
    code, err = _run(capsys, ["evaluate", str(checkpoint), "--data-format", "lsp", "--root", str(lsp / "joints.mat")])
    assert code == 2
    assert f"dataset folder {lsp / 'joints.mat'} is a file (data.format=lsp); give the folder that holds it ({lsp})" in err


def test_root_with_a_tilde_is_expanded(lsp, checkpoint, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(lsp.parent))
    code = main(["evaluate", str(checkpoint), "--data-format", "lsp", "--root", "~/lsp", "--json", "--backend", "torch"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["num_people"] == 4  # the test half of the 8 people in ~/lsp


# ---------------------------------------------------------------------------------------------
# 18. Leftovers of killed commands


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_export_removes_the_temporary_of_a_killed_export(tmp_path, checkpoint, capsys) -> None:
    stale = tmp_path / f".model.{_dead_pid()}.tmp.onnx"
    stale.write_bytes(b"\0" * 100)
    other = tmp_path / f".other.{_dead_pid()}.tmp.onnx"  # another target's: not this export's to judge
    other.write_bytes(b"\0")
    code, err = _run(capsys, ["export", str(checkpoint), "--onnx", str(tmp_path / "model.onnx")])
    assert code == 0, err
    assert not stale.exists() and other.exists() and (tmp_path / "model.onnx").is_file()


def test_synth_removes_the_partial_folder_of_a_killed_export(tmp_path, capsys) -> None:
    stale = tmp_path / ".s.partial-abc123"
    (stale / "images").mkdir(parents=True)
    code, err = _run(capsys, ["synth", "--out", str(tmp_path / "s"), "--num", "2", "--size", "32"])
    assert code == 0, err
    assert not stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigterm_during_synth_exits_143_leaving_nothing(tmp_path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mirrornet.cli", "synth", "--out", str(tmp_path / "s"),
                             "--num", "400", "--size", "64", "--no-progress"], stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any(p.name.startswith(".s.partial-") for p in tmp_path.iterdir()), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.startswith("error: terminated (SIGTERM)") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 19. Ctrl-C during a real training run


def test_ctrl_c_during_training_exits_130_with_the_resume_command(tmp_path) -> None:
    """SIGINT to a real `mirrornet train` in the middle of its first stage: status 130, the
    `--resume` command, the last finished epoch kept."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirrornet.cli", "train", str(TINY), "--out", str(out), "--stages", "pretrain_alpha",
         "--no-progress", "--set", "train.epochs.alpha_pretrain=500"],
        stderr=subprocess.PIPE, text=True,
        # As from a terminal: a shell's background job (`make test &`) starts with SIGINT ignored,
        # which the child would inherit and Python then respects (no KeyboardInterrupt at all).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for(lambda: (out / "checkpoints" / "pretrain_alpha.ckpt").is_file(), proc)  # epoch 1 done: training
    proc.send_signal(signal.SIGINT)
    try:
        # Generous: the shutdown (Lightning's teardown, the loggers' flush) is slow on a loaded machine.
        _, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"mirrornet train still ran 180 s after SIGINT: {proc.communicate()[1]}")
    assert proc.returncode == 130, err
    assert f"resume with: mirrornet train {TINY} --out {out} --resume" in err
    assert "Traceback" not in err
    assert (out / "checkpoints" / "pretrain_alpha.ckpt").is_file()
    assert not (out / ".lock").exists()


def test_a_python_tag_in_a_saved_config_is_one_line(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["train", str(TINY), "--out", str(out), "--stages", "pretrain_alpha", "--no-progress",
            "--set", "train.epochs.alpha_pretrain=0"]
    assert main(argv) == 0
    saved = out / "config.yaml"
    saved.write_text(saved.read_text().replace("input_size:\n  - 64\n  - 64", "input_size: !!python/tuple [64, 64]"))
    assert "!!python/tuple" in saved.read_text()
    code, err = _run(capsys, [*argv, "--resume"])
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"its saved {saved} is not a valid config: cannot parse {saved} (line" in err
    assert "could not determine a constructor for the tag 'tag:yaml.org,2002:python/tuple'" in err
