"""Writing output files so that a reader never sees half of one.

Every result file (results.json, predictions, metrics) is written to a temporary name in the
same folder and renamed over the target: a rename within a file system is atomic, so an
interrupted run leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, in nested dicts, lists
    and tuples, so that ``json.dumps`` writes strict JSON (``null``) instead of bare ``NaN``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json_atomic(path: str | Path, data: Any, indent: int = 2) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (see :func:`write_text_atomic`)."""
    return write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


class OutputPathError(ValueError):
    """An output path that cannot be written: a folder where a file goes, a file where a folder
    goes, a folder without write permission, or one of the command's own input files."""


def _nearest_existing(path: Path) -> Path:
    """``path`` or the closest of its ancestors that exists (the folder that a write creates in)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_ancestors(path: Path, option: str, shown: str) -> None:
    """The folders above ``path``: the existing one must be a writable folder, not a file."""
    base = _nearest_existing(path.absolute().parent)
    if not base.is_dir():
        raise OutputPathError(f"{option} {shown}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputPathError(f"{option} {shown}: cannot write in folder {base} (permission denied)")


def check_output_file(path: str | Path, option: str, inputs: Sequence[str | Path] = ()) -> Path:
    """Check, before any work, that a file can be written at ``path``.

    Args:
        path: the file to be written (created, or replaced when it exists).
        option: the command-line option that gave it (e.g. ``--out``), for the message.
        inputs: files the command reads; writing over one of them is refused.

    Returns:
        ``path`` as a Path.

    Raises:
        OutputPathError: ``path`` is (or is spelled as) a folder, a file stands where one of its
            folders goes, the folder or the file is not writable, or ``path`` is one of ``inputs``.
    """
    shown = str(path)
    path = Path(path)
    if shown.endswith(("/", os.sep)) or path.is_dir():
        raise OutputPathError(f"{option} {shown} is a folder, where a file is to be written")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{option} {shown}: cannot write the file (permission denied)")
    _check_ancestors(path, option, shown)
    if path.exists():
        for item in inputs:
            if Path(item).exists() and os.path.samefile(path, item):
                raise OutputPathError(f"{option} {shown} would overwrite the input file {item}")
    return path


def check_output_dir(path: str | Path, option: str) -> Path:
    """Check, before any work, that ``path`` is a writable folder or can be made as one.

    Args:
        path: the folder that output files go into.
        option: the command-line option that gave it (e.g. ``--draw``), for the message.

    Returns:
        ``path`` as a Path.

    Raises:
        OutputPathError: ``path`` or one of its ancestors is a file, or it is not writable.
    """
    shown = str(path)
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{option} {shown} is a file, not a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"{option} {shown}: cannot write in folder {shown} (permission denied)")
        return path
    _check_ancestors(path, option, shown)
    return path
