"""Writing output files so that a reader never sees half of one.

Every output file (results.json, metrics.csv, predictions, drawings, curves, checkpoints, ONNX
exports, saved configs) is written through :func:`atomic_path`: to a temporary name in the same
folder, then renamed over the target. A rename within a file system is atomic, so an interrupted
run leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def temporary_path(path: str | Path, suffix: str = "") -> Path:
    """The temporary name that :func:`atomic_path` writes ``path`` under, in the same folder.

    Args:
        path: the file to be written.
        suffix: a suffix to end the name with (e.g. ``".png"``), for writers that choose the file
            type by it (matplotlib, PIL, the ONNX exporter).

    Returns:
        ``.<name>.<pid>.tmp`` beside ``path`` (``.<stem>.<pid>.tmp<suffix>`` with a ``suffix``):
        hidden, and named after the writing process so that a leftover of a killed process can
        be told from a write in progress.
    """
    path = Path(path)
    if suffix:
        return path.with_name(f".{path.stem}.{os.getpid()}.tmp{suffix}")
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Write a file atomically: the body writes the temporary path yielded, which then replaces
    ``path``.

    ``path``'s folder is created. When the body returns, the temporary is renamed over ``path``;
    when it raises (or is interrupted), the temporary is removed and ``path`` is left as it was.

    Args:
        path: the file to write.
        suffix: see :func:`temporary_path`.

    Yields:
        The temporary path (:func:`temporary_path`) to write the whole file to.

    Example:
        >>> with atomic_path("out/table.csv") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("a,b\\n")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through :func:`atomic_path`; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def save_figure(fig: Any, path: str | Path, dpi: float | None = None, layout: bool = True) -> Path:
    """Lay out a matplotlib figure and write it as a PNG through :func:`atomic_path`, then close it.

    The one figure saver of MirrorNet: an interrupted write leaves the previous figure (or none),
    never a truncated PNG.

    Args:
        fig: the figure.
        path: the PNG to write (its folder is made).
        dpi: dots per inch (None: matplotlib's default).
        layout: apply ``tight_layout`` first (off for a figure that places its own legend or note).

    Returns:
        ``path``.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout:
        fig.tight_layout()
    try:
        with atomic_path(path, suffix=".png") as tmp:  # savefig picks the format by the suffix
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
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
