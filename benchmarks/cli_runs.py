"""One resumable ``mirrornet train`` run of a benchmark, and its per-run JSON.

A benchmark names each run by a folder under its ``--out`` and by a JSON file beside its table;
:func:`train_run` trains the run (resuming it when its folder holds one) in a subprocess, so that
a benchmark killed at any point continues where it stopped, and :func:`load_record` reads a
finished run's JSON back only when it was made with the same resolved config (the shared rules of
:mod:`benchmarks._runs`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._runs import read_run, write_run

REPO = Path(__file__).resolve().parents[1]

__all__ = ["REPO", "train_run", "resolved_config", "load_record", "save_record", "finished_run"]


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


def resolved_config(config: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """The resolved config of a run of ``config`` with ``overrides`` (what its JSON is keyed by)."""
    from mirrornet.config import load_config

    return load_config(config, list(overrides)).to_dict()


def load_record(path: Path, config: dict[str, Any] | None, run_dir: Path | None = None) -> dict[str, Any] | None:
    """A finished run's JSON read back (:func:`benchmarks._runs.read_run`): None when it is
    missing, truncated or empty (it is then redone).

    Raises:
        benchmarks._runs.RunMismatch: the file holds a run of another resolved config.
    """
    record = read_run(path, config, run_dir)
    return record if record and record.get("results") else None


def save_record(path: Path, config: dict[str, Any] | None, record: dict[str, Any]) -> None:
    """Write a run's JSON with its resolved config, atomically (:func:`benchmarks._runs.write_run`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if config is None:
        from mirrornet.fileio import write_json_atomic

        write_json_atomic(path, record)
    else:
        write_run(path, config, record)


def finished_run(path: Path, config_file: Path, out: Path, overrides: Sequence[str], stages: Sequence[str] = ("baseline",),
                 read_from: Path | None = None, **fields: Any) -> dict[str, Any]:
    """A run's record: read back when its JSON holds a finished run of the same resolved config,
    else trained (:func:`train_run` in ``out``) and written to ``path``.

    Args:
        path: the run's JSON.
        config_file / overrides / stages: what the run trains.
        out: the run's folder.
        read_from: another benchmark's JSON of the same settings, read back while ``path`` is missing
            (a run two tables share is trained once).
        fields: what the record says of the run beside its overrides, results, seconds and date.
    """
    config = resolved_config(config_file, overrides)
    source = read_from if read_from is not None and not path.is_file() else path
    record = load_record(source, config, out)
    if record is None:
        results, seconds = train_run(config_file, out, overrides, stages)
        record = {**fields, "overrides": list(overrides), "results": results, "seconds": seconds,
                  "date": _dt.date.today().isoformat()}
        save_record(path, config, record)
    return record
