"""Bad configs, checkpoints, output folders and annotations: clear errors, exit status 2, no debris.

Each test feeds one faulty input and checks that the error names the file / key / value at fault,
carries no numpy reprs or pickle noise, and (through the command line) exits with status 2 and
no traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_formats import lsp_joints, write_lsp, write_lspet, write_mpii

from mirrornet.cli import main
from mirrornet.config import ConfigError, load_config
from mirrornet.data import DatasetFormatError, read_lsp, read_lspet, read_mpii
from mirrornet.checkpoints import CHECKPOINT_FORMAT, CheckpointError, build_model, load_checkpoint, read_checkpoint
from mirrornet.training import run_experiment, save_checkpoint
from mirrornet.training.run import RunError

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"
ONE_EPOCH = ["train.epochs.alpha_pretrain=1"]


def _cli_error(capsys, argv: list[str]) -> str:
    """Run ``mirrornet argv``; it must exit 2 with one ``error:`` message and no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


# ---------------------------------------------------------------------------------------------
# 1. Empty config files, heatmap stride


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "null\n", "---\n"])
def test_empty_config_file_is_an_error_naming_it(tmp_path, capsys, text) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="empty.yaml.*empty"):
        load_config(path)
    # The same through a base file: the message names the base, not the child.
    (tmp_path / "child.yaml").write_text("extends: empty.yaml\ntrain:\n  lr: 0.002\n")
    with pytest.raises(ConfigError, match="empty.yaml"):
        load_config(tmp_path / "child.yaml")
    err = _cli_error(capsys, ["train", str(path), "--out", str(tmp_path / "out")])
    assert "empty.yaml" in err
    assert not (tmp_path / "out").exists()


def test_heatmap_stride_is_checked_at_load_time() -> None:
    for stride in (0, -4):
        with pytest.raises(ConfigError, match=rf"data.heatmap_stride.*{stride}"):
            load_config(TINY, [f"data.heatmap_stride={stride}"])
    # A stride the input size (64×64 here) does not allow: 8 × 16 = 128 does not divide 64.
    with pytest.raises(ConfigError, match="data.heatmap_stride"):
        load_config(TINY, ["data.heatmap_stride=16"])


def test_heatmap_stride_zero_from_the_cli(tmp_path, capsys) -> None:
    err = _cli_error(capsys, ["train", str(TINY), "--out", str(tmp_path / "out"), "--set", "data.heatmap_stride=0"])
    assert "data.heatmap_stride" in err and "0" in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# 2. --resume checks the checkpoints' own configs


@pytest.fixture(scope="module")
def finished_stage(tmp_path_factory) -> Path:
    """An output folder whose ``pretrain_alpha`` stage has finished (1 epoch of the tiny config)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    run_experiment(load_config(TINY, ONE_EPOCH), out, stages=["pretrain_alpha"], progress=False)
    assert read_checkpoint(out / "checkpoints" / "pretrain_alpha.ckpt")["completed"]
    return out


def _copy_run(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


@pytest.mark.parametrize(
    "override,key",
    [("model.recognizer=resnet10_w8", "model.recognizer"), ("train.lr=0.01", "train.lr")],
)
def test_resume_checks_the_checkpoints_config(finished_stage, tmp_path, override, key) -> None:
    out = _copy_run(finished_stage, tmp_path)
    (out / "config.yaml").unlink()  # only the checkpoint remembers the config now
    ckpt = out / "checkpoints" / "pretrain_alpha.ckpt"
    before = ckpt.stat().st_mtime_ns
    changed = load_config(TINY, [*ONE_EPOCH, override])
    with pytest.raises(RunError) as info:
        run_experiment(changed, out, resume=True, stages=["pretrain_alpha"], progress=False)
    message = str(info.value)
    assert str(ckpt) in message and key in message
    # Refused before anything is written: no new config.yaml, the checkpoint untouched.
    assert not (out / "config.yaml").exists()
    assert ckpt.stat().st_mtime_ns == before


def test_resume_checkpoint_mismatch_from_the_cli_and_same_config_still_resumes(finished_stage, tmp_path, capsys) -> None:
    out = _copy_run(finished_stage, tmp_path)
    (out / "config.yaml").unlink()
    err = _cli_error(capsys, ["train", str(TINY), "--out", str(out), "--resume", "--stages", "pretrain_alpha",
                              "--no-progress", "--set", *ONE_EPOCH, "train.lr=0.01"])
    assert "pretrain_alpha.ckpt" in err and "train.lr" in err
    # The config the checkpoint was trained with resumes as before: the finished stage is kept.
    ckpt = out / "checkpoints" / "pretrain_alpha.ckpt"
    before = ckpt.stat().st_mtime_ns
    run_experiment(load_config(TINY, ONE_EPOCH), out, resume=True, stages=["pretrain_alpha"], progress=False)
    assert (out / "config.yaml").is_file()
    assert ckpt.stat().st_mtime_ns == before and read_checkpoint(ckpt)["completed"]


# ---------------------------------------------------------------------------------------------
# 3. Tracebacks turned into errors


def test_summary_with_an_unknown_recognizer_lists_the_valid_ones(capsys) -> None:
    err = _cli_error(capsys, ["summary", "--recognizer", "bogus"])
    assert "bogus" in err and "hourglass" in err and "hrnet_w32" in err and "resnet50" in err


@pytest.mark.parametrize("bases", ["[base.yaml, 42]", "42", "[base.yaml, null]", "{a: b}"])
def test_extends_with_a_bad_entry_names_file_and_entry(tmp_path, capsys, bases) -> None:
    (tmp_path / "base.yaml").write_text("train:\n  lr: 0.002\n")
    path = tmp_path / "child.yaml"
    path.write_text(f"extends: {bases}\ndata:\n  annotated_ratio: 0.6\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "child.yaml" in message and "extends" in message
    if "42" in bases:
        assert "42" in message
    _cli_error(capsys, ["train", str(path), "--out", str(tmp_path / "out")])


def _tiny_payload() -> dict:
    config = load_config(TINY)
    torch.manual_seed(0)
    return {"config": config.to_dict(), "stage": "baseline", "epoch": 1, "completed": True,
            "state_dict": build_model(config).state_dict(), "optimizer": None, "history": []}


@pytest.mark.parametrize("missing", ["state_dict", "config"])
def test_checkpoint_without_state_dict_or_config(tmp_path, capsys, missing) -> None:
    payload = _tiny_payload()
    del payload[missing]
    path = tmp_path / "partial.ckpt"
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and repr(missing) in str(info.value)
    err = _cli_error(capsys, ["evaluate", str(path), "--data-format", "synthetic"])
    assert "partial.ckpt" in err and missing in err


# ---------------------------------------------------------------------------------------------
# 4. Clear messages


@pytest.mark.parametrize("content", [b"", os.urandom(333), b"\x80\x02K\x65."])
def test_unreadable_checkpoint_says_so(tmp_path, capsys, content) -> None:
    path = tmp_path / "noise.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "not a readable MirrorNet checkpoint" in message
    # No unpickler noise ("...: 101") and no advice to load with weights_only=False.
    assert "\n" not in message and not message.rstrip().endswith(": 101") and "weights_only" not in message
    err = _cli_error(capsys, ["evaluate", str(path), "--data-format", "synthetic"])
    assert "noise.ckpt" in err


def test_non_utf8_config_names_the_file(tmp_path, capsys) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("data:\n  root: données\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.yaml.*UTF-8"):
        load_config(path)
    err = _cli_error(capsys, ["train", str(path), "--out", str(tmp_path / "out")])
    assert "latin1.yaml" in err


def test_unknown_key_in_a_checkpoints_config_names_the_checkpoint(tmp_path, capsys) -> None:
    payload = _tiny_payload()
    payload["config"]["model"]["mirror_depth"] = 3
    path = tmp_path / "future.ckpt"
    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "model.mirror_depth" in str(info.value)
    err = _cli_error(capsys, ["evaluate", str(path), "--data-format", "synthetic"])
    assert "future.ckpt" in err and "model.mirror_depth" in err


def test_output_path_blocked_by_a_file(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoints").write_text("not a folder")
    err = _cli_error(capsys, ["train", str(TINY), "--out", str(out), "--no-progress"])
    assert "Errno" not in err and str(out / "checkpoints") in err and "--out" in err
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints"]  # nothing half-written
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = _cli_error(capsys, ["train", str(TINY), "--out", str(blocker / "run"), "--no-progress"])
    assert "Errno" not in err and str(blocker) in err and "--out" in err


def test_lsp_flag_error_prints_plain_one_based_numbers(tmp_path) -> None:
    occluded = np.zeros((3, 14))
    occluded[1, 3] = 0.5  # image 2 (im0002.jpg), joint 4 (l_hip)
    write_lsp(tmp_path / "lsp", lsp_joints(3), occluded)
    with pytest.raises(DatasetFormatError) as info:
        read_lsp(tmp_path / "lsp", "all")
    message = str(info.value)
    assert "np." not in message and "array(" not in message
    assert "0.5" in message and "image 2" in message and "im0002" in message and "joint 4" in message
    visible = np.ones((3, 14))
    visible[2, 0] = 2.0
    write_lspet(tmp_path / "lspet", lsp_joints(3), visible)
    with pytest.raises(DatasetFormatError) as info:
        read_lspet(tmp_path / "lspet")
    message = str(info.value)
    assert "np." not in message and "image 3" in message and "im00003" in message and "joint 1" in message


def test_weight_mismatch_is_one_line_naming_the_networks(tmp_path, capsys) -> None:
    payload = _tiny_payload()
    # The saved config names another recognizer than the one the weights were trained as.
    payload["config"]["model"]["recognizer"] = "resnet10_w8"
    path = tmp_path / "mixed.ckpt"
    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600
    assert str(path) in message and "alpha" in message and "missing" in message and "unexpected" in message
    for net in ("beta", "gamma", "delta", "theta", "phi", "psi"):
        assert f"{net}:" not in message  # only the network that differs is named
    err = _cli_error(capsys, ["evaluate", str(path), "--data-format", "synthetic"])
    assert err.count("\n") == 1 and "mixed.ckpt" in err


# ---------------------------------------------------------------------------------------------
# 5. MPII paths outside the dataset, stale checkpoint temporaries


def _mpii_person(image: str) -> dict:
    joints = np.random.default_rng(0).uniform(2, 28, size=(16, 2)).round(1)
    return {"image": image, "center": [15.0, 12.0], "scale": 0.1, "joints": joints.tolist(),
            "joints_vis": [1.0] * 16}


@pytest.mark.parametrize("name", ["../outside.jpg", "sub/../../outside.jpg", "ABSOLUTE"])
def test_mpii_image_outside_the_dataset_is_refused(tmp_path, name) -> None:
    root = tmp_path / "mpii"
    if name == "ABSOLUTE":
        name = str(tmp_path / "elsewhere" / "outside.jpg")
    # The image exists where the path leads, so only the containment check can refuse it.
    write_mpii(root, {"train": [_mpii_person("a.jpg"), _mpii_person(name)]})
    with pytest.raises(DatasetFormatError) as info:
        read_mpii(root, "train")
    message = str(info.value)
    assert "train.json" in message and "record 1" in message and name in message


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_checkpoint_temporaries_are_removed_at_the_next_run(finished_stage, tmp_path) -> None:
    out = _copy_run(finished_stage, tmp_path)
    ckpts = out / "checkpoints"
    real = ckpts / "pretrain_alpha.ckpt"
    before = real.stat().st_mtime_ns
    stale = ckpts / f".pretrain_vaes.ckpt.{_dead_pid()}.tmp"
    stale.write_bytes(b"")  # what a kill during torch.save leaves
    live = ckpts / f".baseline.ckpt.{os.getppid()}.tmp"  # another live process's write
    live.write_bytes(b"")
    unrelated = ckpts / "notes.tmp"
    unrelated.write_text("mine")
    run_experiment(load_config(TINY, ONE_EPOCH), out, resume=True, stages=["pretrain_alpha"], progress=False)
    assert not stale.exists()
    assert live.exists() and unrelated.exists()
    assert real.stat().st_mtime_ns == before and read_checkpoint(real)["completed"]
