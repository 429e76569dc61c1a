"""What the resumable benchmarks share: per-run JSON keyed by the run's resolved config, and a
stop by SIGTERM or Ctrl-C that says so and exits non-zero.

A benchmark trains a grid of runs and writes each finished run's figures to a JSON file; a rerun
reads the finished ones back instead of training them again. :func:`write_run` stores the run's
resolved config (``Config.to_dict()``) in that file and :func:`read_run` gives the figures back
only for the same config: a file of another config is refused with the keys that differ (a
rerun with another ``--override`` under the same label would otherwise print the old numbers
under the new settings), and a truncated, empty or ``{}`` file is redone.

:func:`run_script` is every script's entry point: SIGTERM stops the run like Ctrl-C (the
finished runs and the last finished epoch of the current one are kept) and the script exits with
128 + the signal's number and a line saying how to continue.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mirrornet.fileio import write_text_atomic

__all__ = ["RunMismatch", "Stopped", "read_run", "write_run", "finished_results", "run_script"]


class RunMismatch(SystemExit):
    """A finished run's file was written for another config (the script stops with status 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Stopped(KeyboardInterrupt):
    """The script received SIGTERM."""


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out.extend(_differences(old.get(key), new.get(key), f"{prefix}{key}."))
        return out
    return [] if old == new else [f"{prefix[:-1]} ({old!r} -> {new!r})"]


def _resolved(saved: Mapping[str, Any]) -> dict[str, Any]:
    """A saved config with today's defaults for the keys it predates (so that a run saved before a
    key existed reads as that key's default); as saved when it no longer loads."""
    from mirrornet.config import ConfigError, config_from_dict

    try:
        return config_from_dict(dict(saved)).to_dict()
    except (ConfigError, TypeError, ValueError):
        return dict(saved)


def _check_config(path: Path, saved: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    diffs = _differences(_resolved(saved), dict(config))
    if diffs:
        raise RunMismatch(
            f"error: {path} holds a run of another config (it differs in {', '.join(diffs[:5])}); "
            "choose another --label, or remove the file (and its run folder) to train it again"
        )


def read_run(path: str | Path, config: Mapping[str, Any] | None, run_dir: str | Path | None = None) -> dict | None:
    """The figures of a finished run, or None when it is to be (re)done.

    Args:
        path: the per-run JSON file.
        config: the resolved config of the run about to be read back (``Config.to_dict()``);
            None reads the file without the check (reports of finished grids).
        run_dir: the run's folder; a file written before runs were keyed by their config is
            checked against the folder's ``config.yaml`` when there is one.

    Returns:
        The figures (without the stored config), or None: no file, or a truncated, empty or
        ``{}`` one (said on stderr).

    Raises:
        RunMismatch: the file (or, for an older file, the run folder) holds another config.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or not (set(data) - {"config"}):
        print(f"[runs] {path} is truncated or empty; the run is done again", file=sys.stderr, flush=True)
        return None
    saved = data.pop("config", None)
    if config is not None:
        if saved is None and run_dir is not None and (Path(run_dir) / "config.yaml").is_file():
            import yaml

            saved = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
        if saved is None:
            print(f"[runs] {path} does not record its config (an older file); it is read back as it is "
                  "- remove it to train the run again", file=sys.stderr, flush=True)
        else:
            _check_config(path, saved, config)
    return data


def write_run(path: str | Path, config: Mapping[str, Any], figures: Mapping[str, Any]) -> None:
    """Write a finished run's figures with its resolved config, atomically."""
    write_text_atomic(path, json.dumps({"config": dict(config), **figures}, indent=2) + "\n")


def finished_results(run_dir: str | Path, config: Mapping[str, Any]) -> dict | None:
    """A run folder's ``results.json`` when the folder's ``config.yaml`` is ``config``'s; None
    when the run has not finished (or its file is truncated).

    Raises:
        RunMismatch: the folder holds a run of another config.
    """
    run_dir = Path(run_dir)
    results = read_run(run_dir / "results.json", None)
    if results is None:
        return None
    saved_path = run_dir / "config.yaml"
    if saved_path.is_file():
        import yaml

        _check_config(run_dir / "results.json", yaml.safe_load(saved_path.read_text(encoding="utf-8")), config)
    return results


def run_script(main: Callable[[], int], name: str) -> int:
    """Run a benchmark's ``main``: SIGTERM stops it as Ctrl-C does, and either exits non-zero
    with a message (130 for Ctrl-C, 143 for SIGTERM); a :class:`RunMismatch` exits 2 with its
    message. The previous SIGTERM handler is restored afterwards."""

    def on_sigterm(signum: int, frame: Any) -> None:
        raise Stopped()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return int(main() or 0)
    except RunMismatch as exc:
        print(exc.message, file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt as exc:
        how, status = ("SIGTERM", 143) if isinstance(exc, Stopped) else ("Ctrl-C", 130)
        print(f"[{name}] stopped by {how}: finished runs are kept; run the same command again to continue",
              file=sys.stderr, flush=True)
        return status
    finally:
        signal.signal(signal.SIGTERM, previous)
