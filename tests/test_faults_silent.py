"""Faults that used to give a wrong result or lose data without a word: special output files,
two runs on one folder, a stale or foreign ONNX cache, benchmark runs keyed by their config,
duplicate YAML keys, float TIFFs, a resume from another working directory and impossible
annotations. Each one is now refused with a message naming the culprit, or handled correctly.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

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
