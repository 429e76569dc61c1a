"""Faults that used to give a wrong result or lose data without a word: special output files,
two runs on one folder, a stale or foreign ONNX cache, benchmark runs keyed by their config,
duplicate YAML keys, float TIFFs, a resume from another working directory and impossible
annotations. Each one is now refused with a message naming the culprit, or handled correctly.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from mirrornet.cli import main

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"


def _png(path: Path, h: int = 40, w: int = 30) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _error(capsys, argv: list[str], status: int = 2) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == status, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------------------------------
# 1. --out naming a device, a FIFO or a symlink


def test_out_symlinked_to_a_device_writes_through_and_keeps_the_link(tmp_path, checkpoint, capsys) -> None:
    """A symlink to /dev/null: the JSON goes to the device, the link and the device stay."""
    image = _png(tmp_path / "a.png")
    link = tmp_path / "n"
    link.symlink_to(os.devnull)
    assert main(["predict", str(checkpoint), str(image), "--out", str(link), "--backend", "torch"]) == 0, \
        capsys.readouterr().err
    assert link.is_symlink() and os.readlink(link) == os.devnull
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert not list(tmp_path.glob(".*tmp*")), "a temporary was left behind"


def test_out_symlinked_to_a_file_replaces_the_target_and_keeps_the_link(tmp_path, checkpoint) -> None:
    image = _png(tmp_path / "a.png")
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "p.json"
    link.symlink_to(target)
    assert main(["predict", str(checkpoint), str(image), "--out", str(link), "--backend", "torch"]) == 0
    assert link.is_symlink()
    assert json.loads(target.read_text())[0]["image"] == str(image)


def test_out_naming_a_fifo_writes_through_to_its_reader(tmp_path, checkpoint) -> None:
    """The JSON reaches a reader waiting on the FIFO; the FIFO stays a FIFO."""
    image = _png(tmp_path / "a.png")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            received.append(fh.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    code = main(["predict", str(checkpoint), str(image), "--out", str(fifo), "--backend", "torch"])
    thread.join(timeout=20)
    assert code == 0
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a plain file"
    assert received and json.loads(received[0])[0]["image"] == str(image)


def test_out_naming_a_socket_is_refused(tmp_path, checkpoint, capsys) -> None:
    import socket

    image = _png(tmp_path / "a.png")
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        err = _error(capsys, ["predict", str(checkpoint), str(image), "--out", str(path)])
    finally:
        sock.close()
    assert f"--out {path} is a special file" in err
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


# ---------------------------------------------------------------------------------------------
# 2. One run per output folder


def _hold_lock(path: Path) -> subprocess.Popen:
    """A separate process holding an flock on ``path`` until it is killed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode())\n"
        "print('locked', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("verb", ["train", "demo", "synth"])
def test_a_folder_held_by_a_live_run_is_refused(tmp_path, capsys, monkeypatch, verb) -> None:
    """While another process holds the folder, a second command is refused (status 1) and writes
    nothing; once that process is dead (SIGKILL), its lock does not block the folder."""
    import mirrornet.training.run as run

    monkeypatch.setattr(run, "_prepare_run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran")))
    out = tmp_path / "out"
    lock = tmp_path / ".out.lock" if verb == "synth" else out / ".lock"
    argv = {
        "train": ["train", str(TINY), "--out", str(out)],
        "demo": ["demo", "--quick", "--out", str(out)],
        "synth": ["synth", "--out", str(out), "--num", "2", "--size", "32"],
    }[verb]
    holder = _hold_lock(lock)
    try:
        err = _error(capsys, [*argv, "--no-progress"], status=1)
        assert f"--out {out} is in use by another MirrorNet process (process {holder.pid})" in err
        assert not (out / "config.yaml").exists() and not (out / "images").exists()
    finally:
        holder.kill()
        holder.wait()
    from mirrornet.fileio import folder_lock

    with folder_lock(lock, "x"):  # the dead holder's lock is gone
        pass
    assert not lock.exists()


# ---------------------------------------------------------------------------------------------
# 3. The ONNX cache is verified before use


@pytest.fixture()
def two_alphas(checkpoint):
    """Two recognizers of the tiny config with different weights, and their input size."""
    import torch

    from mirrornet.checkpoints import load_checkpoint

    pytest.importorskip("onnxruntime", reason="the onnx backend needs onnxruntime")
    a, config = load_checkpoint(checkpoint)
    b, _ = load_checkpoint(checkpoint)
    with torch.no_grad():
        for p in b.alpha.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return a.alpha.eval(), b.alpha.eval(), tuple(config.data.input_size)


def _last_stack(alpha, x):
    import torch

    with torch.no_grad():
        out = alpha(x)
    return out[-1] if isinstance(out, (list, tuple)) else out


def test_another_models_export_at_the_cache_key_is_rebuilt(two_alphas, tmp_path) -> None:
    import shutil

    import torch

    from mirrornet.onnx_runtime import OnnxRecognizer, _cache_path

    a, b, size = two_alphas
    cache = tmp_path / "cache"
    OnnxRecognizer(a, size, threads=1, cache=cache)
    from mirrornet import choices

    path_a = next(cache.glob("alpha-*.onnx"))
    path_b = _cache_path(b, size, choices.DEFAULT_ONNX_OPSET, cache)
    shutil.copy(path_a, path_b)  # another model's export, under b's name, with a matching hash file
    for sidecar in cache.glob("*.sha256"):
        shutil.copy(sidecar, path_b.with_name(path_b.name + ".sha256"))
    runner = OnnxRecognizer(b, size, threads=1, cache=cache)
    assert not runner.cached
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(5))
    assert float((runner(x) - _last_stack(b, x)).abs().max()) < 1e-4


@pytest.mark.parametrize("damage", ["truncated", "empty"])
@pytest.mark.parametrize("backend", ["onnx", "auto"])
def test_a_damaged_cached_export_is_rebuilt(two_alphas, tmp_path, damage, backend) -> None:
    import torch

    from mirrornet.onnx_runtime import OnnxRecognizer, select_backend

    a, _, size = two_alphas
    cache = tmp_path / "cache"
    OnnxRecognizer(a, size, threads=1, cache=cache)
    (path,) = cache.glob("alpha-*.onnx")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.alpha = a

        def recognize(self, x):
            out = self.alpha(x)
            return out if isinstance(out, list) else [out]

    choice = select_backend(Model(), backend, "cpu", size, probe_batch=1, expected_crops=1000, threads=1, cache=cache)
    # Never "ONNX Runtime's heatmaps differ" or "could not be exported": the entry was rebuilt.
    assert choice.backend == "onnx" or ("differ" not in choice.reason and "could not" not in choice.reason), choice.reason
    assert path.read_bytes() != data[: len(data) // 2] and path.stat().st_size > 0  # exported again
    if backend == "onnx":
        assert not choice.runner.cached
    again = OnnxRecognizer(a, size, threads=1, cache=cache)
    assert again.cached  # the rebuilt file is trusted from now on


def test_temporaries_of_killed_exports_are_pruned(two_alphas, tmp_path) -> None:
    from mirrornet.onnx_runtime import OnnxRecognizer

    a, _, size = two_alphas
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = cache / f".alpha-0123abcd.{dead.pid}.tmp.onnx"
    stale.write_bytes(b"\0" * 1000)
    live = cache / f".alpha-0123abcd.{os.getppid()}.tmp.onnx"  # a live process: an export in progress
    live.write_bytes(b"\0")
    OnnxRecognizer(a, size, threads=1, cache=cache)
    assert not stale.exists() and live.exists()


def test_a_read_only_cache_exports_to_a_temporary_file(two_alphas, tmp_path, monkeypatch) -> None:
    import torch

    from mirrornet.onnx_runtime import OnnxRecognizer

    a, _, size = two_alphas
    cache = tmp_path / "cache"
    cache.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == cache else real_access(p, mode, **kw))
    runner = OnnxRecognizer(a, size, threads=1, cache=cache)
    assert list(cache.iterdir()) == []
    x = torch.randn(1, 3, *size)
    assert float((runner(x) - _last_stack(a, x)).abs().max()) < 1e-4


# ---------------------------------------------------------------------------------------------
# 4. Resumable benchmarks: runs keyed by their config, truncated files redone, SIGTERM reported



@pytest.fixture()
def lsp_table(monkeypatch, tmp_path):
    """benchmarks/lsp_table.py with training replaced by a stand-in that records its calls and
    returns figures made of the run's λ (so that old and new numbers can be told apart)."""
    from benchmarks import lsp_table as module

    import mirrornet.training as training
    from mirrornet.data.synthetic import export_synthetic

    export_synthetic(tmp_path / "data" / "lsp", format="lsp", num=4, size=32, progress=False)
    calls: list[float] = []

    def fake_run(config, run_dir, resume=True, progress=False):
        calls.append(config.model.lam)
        groups = {g: 100 * config.model.lam for g in module.GROUPS}
        final = {"test": {"groups": groups, "people": 2}, "test_flip": {"groups": groups, "people": 2}}
        return {m: {"groups": groups, "final": final} for m in module.METHODS}

    monkeypatch.setattr(training, "run_experiment", fake_run)
    monkeypatch.setattr(module, "bone_violations", lambda *a: {m: 0.0 for m in module.METHODS})

    def run(*extra: str) -> int:
        argv = ["--root", str(tmp_path / "data"), "--ratios", "20", "--seeds", "0", "--label", "x",
                "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "R.md"),
                "--json-dir", str(tmp_path / "json"), *extra]
        return _runs().run_script(lambda: module.main(argv), "lsp")

    return SimpleNamespace(run=run, calls=calls, json=tmp_path / "json" / "x" / "r20_s0.json",
                           results=tmp_path / "R.md")


def _runs():
    from benchmarks import _runs

    return _runs


def test_a_rerun_with_another_override_is_refused_not_read_back(lsp_table, capsys) -> None:
    assert lsp_table.run("--override", "model.lam=0.5") == 0
    assert lsp_table.calls == [0.5]
    assert json.loads(lsp_table.json.read_text())["config"]["model"]["lam"] == 0.5
    table = lsp_table.results.read_text()
    capsys.readouterr()
    assert lsp_table.run("--override", "model.lam=1") == 2
    err = capsys.readouterr().err
    assert f"{lsp_table.json} holds a run of another config" in err and "model.lam (0.5 -> 1.0)" in err
    assert lsp_table.results.read_text() == table  # the old numbers were not printed under new settings
    assert lsp_table.run("--override", "model.lam=0.5") == 0 and lsp_table.calls == [0.5]  # same config: read back


@pytest.mark.parametrize("content", ["", "{}", '{"violations_pct": {"baseline": 1'])
def test_a_truncated_or_empty_run_file_is_redone(lsp_table, content, capsys) -> None:
    lsp_table.json.parent.mkdir(parents=True)
    lsp_table.json.write_text(content)
    assert lsp_table.run() == 0, capsys.readouterr().err
    assert lsp_table.calls == [0.01]
    assert "is truncated or empty; the run is done again" in capsys.readouterr().err
    assert json.loads(lsp_table.json.read_text())["baseline"]["test"]["Total"] == pytest.approx(1.0)


def test_sigterm_stops_a_benchmark_with_a_status_and_a_message(tmp_path) -> None:
    """A benchmark killed with SIGTERM in the middle of a run exits 143 and says so."""
    from mirrornet.data.synthetic import export_synthetic

    export_synthetic(tmp_path / "data" / "lsp", format="lsp", num=4, size=32, progress=False)
    code = (
        "import os, runpy, signal, sys, time\n"
        "import mirrornet.training as t\n"
        "def fake(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)\n"
        "t.run_experiment = fake\n"
        f"sys.argv = ['lsp_table.py', '--root', {str(tmp_path / 'data')!r}, '--ratios', '20', '--seeds', '0',"
        f" '--out', {str(tmp_path / 'runs')!r}, '--results', {str(tmp_path / 'R.md')!r},"
        f" '--json-dir', {str(tmp_path / 'json')!r}]\n"
        "runpy.run_module('benchmarks.lsp_table', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 143, proc.stderr
    assert "stopped by SIGTERM" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# 5. Duplicate keys (the fault table has the command-line rows)


@pytest.mark.parametrize("text,line,key", [
    ("train:\n  lr: 0.1\n  batch_size: 8\n  lr: 0.5\n", 4, "lr"),
    ("data:\n  format: synthetic\nmodel:\n  lam: 1\ndata:\n  flip: false\n", 5, "data"),
    ("train: {epochs: {baseline: 1, baseline: 2}}\n", 1, "baseline"),
])
def test_a_key_twice_in_a_config_is_refused_naming_file_line_and_key(tmp_path, text, line, key) -> None:
    from mirrornet.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"{path} \(line {line}, column \d+\): duplicate key '{key}'"):
        load_config(path)


def test_yaml_merge_keys_may_be_overridden(tmp_path) -> None:
    from mirrornet.config import parse_yaml

    assert parse_yaml("b: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n", "x")["c"] == {"x": 3, "y": 2}


def test_an_image_twice_in_a_boxes_file_is_refused_naming_the_line(tmp_path) -> None:
    from mirrornet.predict import PredictError, read_boxes

    path = tmp_path / "b.json"
    path.write_text('{\n  "a.png": [0, 0, 10, 10],\n  "b.png": [0, 0, 5, 5],\n  "a.png": [1, 1, 4, 4]\n}\n')
    with pytest.raises(PredictError, match=rf"boxes file {path} \(line 4\): image 'a.png' has two entries"):
        read_boxes(path)


# ---------------------------------------------------------------------------------------------
# 6. Float TIFFs


def test_a_float_tiff_in_0_to_1_is_scaled_not_black(tmp_path) -> None:
    from mirrornet.data.images import load_image

    values = np.linspace(0.0, 1.0, 40 * 30, dtype=np.float32).reshape(40, 30)
    path = tmp_path / "f.tif"
    Image.fromarray(values, mode="F").save(path)
    rgb = load_image(path)
    assert rgb.shape == (40, 30, 3)
    assert np.abs(rgb[..., 0].astype(float) - values * 255).max() <= 1.0
    assert rgb.max() == 255


def test_a_float_tiff_with_nan_pixels_is_refused(tmp_path) -> None:
    from mirrornet.data.images import DatasetFormatError, load_image

    values = np.ones((8, 8), dtype=np.float32)
    values[2, 3] = np.nan
    path = tmp_path / "nan.tif"
    Image.fromarray(values, mode="F").save(path)
    with pytest.raises(DatasetFormatError, match=f"image {path} has NaN or infinite pixel values"):
        load_image(path)


# ---------------------------------------------------------------------------------------------
# 7. --resume from another working directory


def test_resume_elsewhere_with_a_relative_data_root_is_refused(tmp_path, capsys, monkeypatch) -> None:
    from mirrornet.data.synthetic import export_synthetic

    for place in ("a", "b"):  # two different datasets under the same relative name
        export_synthetic(tmp_path / place / "data" / "lsp", format="lsp", num=8, size=32, seed=ord(place),
                         progress=False)
    out = tmp_path / "run"
    argv = ["train", str(TINY), "--out", str(out), "--stages", "pretrain_alpha", "--no-progress",
            "--set", "data.format=lsp", "data.root=data/lsp", "train.epochs.alpha_pretrain=0"]
    monkeypatch.chdir(tmp_path / "a")
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads((out / "data_paths.json").read_text()) == {"data.root": str(tmp_path / "a" / "data" / "lsp")}
    assert main([*argv, "--resume"]) == 0  # the same folder: resumes
    monkeypatch.chdir(tmp_path / "b")
    err = _error(capsys, [*argv, "--resume"])
    assert f"data.root names {tmp_path / 'b' / 'data' / 'lsp'} here, but the run was trained on " \
           f"{tmp_path / 'a' / 'data' / 'lsp'}" in err


# ---------------------------------------------------------------------------------------------
# 8. Impossible annotations (the config's augmentation ranges are rows of the fault table)


def _lsp_with(tmp_path: Path, edit) -> Path:
    """A small synthetic LSP folder whose joints.mat is changed by ``edit(joints (3, 14, N))``."""
    import scipy.io

    from mirrornet.data.synthetic import export_synthetic

    root = tmp_path / "lsp"
    export_synthetic(root, format="lsp", num=4, size=64, progress=False)
    joints = scipy.io.loadmat(root / "joints.mat")["joints"]
    joints = edit(joints.astype(np.float64)) if edit else joints
    scipy.io.savemat(root / "joints.mat", {"joints": joints})
    return root


def _set(value, joint=2, image=1, axis=0):
    def edit(j):
        j = j.astype(np.result_type(j, np.asarray(value)))
        j[axis, joint, image] = value
        return j

    return edit


@pytest.mark.parametrize("edit,message", [
    (_set(1e30), r"image im0002.jpg \(number 2\): joint 3 at \(1e\+30, [\d.]+\) lies more than the image size away "
                 r"from the 64×64 image"),
    (_set(1064.0), r"joint 3 at \(1064, [\d.]+\) lies more than the image size away"),
    (_set(-100.0, axis=1), r"joint 3 at \([\d.]+, -100\) lies more than"),
    (_set(np.inf), r"image im0002.jpg \(number 2\): joint 3 \(r_hip\) has an infinite coordinate"),
    (_set(3 + 4j), r"LSP 'joints' must be a real numeric array, got complex numbers"),
    (lambda j: j[:, :, :0], r"LSP 'joints' holds no people \(N = 0\)"),
])
def test_impossible_lsp_annotations_are_refused_naming_the_record(tmp_path, edit, message) -> None:
    import warnings

    from mirrornet.data import DatasetFormatError, read_lsp

    root = _lsp_with(tmp_path, edit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complex value used to pass with a ComplexWarning only
        with pytest.raises(DatasetFormatError, match=message):
            read_lsp(root, "all")


def test_a_joints_mat_holding_a_cell_array_is_named(tmp_path) -> None:
    import scipy.io

    from mirrornet.data import DatasetFormatError, read_lsp

    root = _lsp_with(tmp_path, None)
    cells = np.empty((3, 14, 4), dtype=object)
    for index in np.ndindex(cells.shape):
        cells[index] = np.zeros((1, 2))
    scipy.io.savemat(root / "joints.mat", {"joints": cells})
    with pytest.raises(DatasetFormatError, match=r"joints.mat: LSP 'joints' must be a real numeric array, got a cell"):
        read_lsp(root, "all")


def test_nan_still_marks_an_unannotated_lsp_joint(tmp_path) -> None:
    from mirrornet.data import read_lsp

    from mirrornet.skeleton import JOINT_INDEX

    records = read_lsp(_lsp_with(tmp_path, _set(np.nan)), "all")
    assert records[1].labelled[JOINT_INDEX["r_hip"]] == 0 and records[0].labelled[JOINT_INDEX["r_hip"]] == 1


@pytest.mark.parametrize("field,value,message", [
    ("scale", "0.3", r"record 0 field 'scale' must hold numbers, got '0.3'"),
    ("center", [15.0, "12"], r"record 0 field 'center' must hold numbers"),
    ("joints", "strings", r"record 0 field 'joints' must hold numbers"),
    ("scale", 1e300, r"record 0 has scale 1e\+300 \(must be > 0 and at most 100"),
    ("joints", [[1000.0, 12.0]] * 16, r"record 0 \(image a.jpg\): joint 1 at \(999, 11\) lies more than the image size"),
])
def test_impossible_mpii_records_are_refused_naming_the_record(tmp_path, field, value, message) -> None:
    from fixtures_formats import write_mpii

    from mirrornet.data import DatasetFormatError, read_mpii

    joints = np.random.default_rng(0).uniform(2, 28, size=(16, 2)).round(1).tolist()
    person = {"image": "a.jpg", "center": [15.0, 12.0], "scale": 0.1, "joints": joints, "joints_vis": [1.0] * 16}
    person[field] = value
    write_mpii(tmp_path / "mpii", {"train": [person]})
    with pytest.raises(DatasetFormatError, match=message):
        read_mpii(tmp_path / "mpii", "train")


def test_the_config_knows_every_vae_width() -> None:
    """The widths the config checks (mirrornet.choices) are those the networks implement; the
    recognizers are checked against their registry (mirrornet.nets.registry)."""
    import dataclasses

    from mirrornet import choices
    from mirrornet.nets import VAENetsConfig

    assert list(choices.VAE_WIDTH_MINIMUMS) == [f.name for f in dataclasses.fields(VAENetsConfig)]
