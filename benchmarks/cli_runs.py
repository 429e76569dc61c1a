"""One resumable ``mirrornet train`` run of a benchmark, and its per-run JSON.

A benchmark names each run by a folder under its ``--out`` and by a JSON file beside its table;
:func:`train_run` trains the run (resuming it when its folder holds one) in a subprocess, so that
a benchmark killed at any point continues where it stopped, and :func:`load_record` reads a
finished run's JSON back only when it was made with the same settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

__all__ = ["REPO", "train_run", "load_record", "save_record"]


def train_run(config: Path, out: Path, overrides: Sequence[str], stages: Sequence[str] = ("baseline",)) -> tuple[dict[str, Any], float]:
    """``mirrornet train CONFIG --stages ... --out OUT --set OVERRIDES`` (with ``--resume`` when
    ``out`` holds a run); the run's results.json and the seconds this call took.

    Raises:
        subprocess.CalledProcessError: the run failed (its messages went to stderr).
    """
    command = [sys.executable, "-m", "mirrornet.cli", "train", str(config), "--stages", *stages,
               "--out", str(out), "--no-progress", "--set", *overrides]
    if (out / "config.yaml").is_file():
        command.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    start = time.time()
    subprocess.run(command, check=True, env=env, cwd=REPO)
    return json.loads((out / "results.json").read_text()), time.time() - start


def load_record(path: Path, overrides: Sequence[str]) -> dict[str, Any] | None:
    """A finished run's JSON, or None when it is missing, unreadable, empty or was made with
    other settings (it is then redone)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not record.get("results") or record.get("overrides") != list(overrides):
        return None
    return record


def save_record(path: Path, record: dict[str, Any]) -> None:
    """Write a run's JSON atomically."""
    from mirrornet.fileio import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
