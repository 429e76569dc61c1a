"""Writing output files so that a reader never sees half of one.

Every output file (results.json, metrics.csv, predictions, drawings, curves, checkpoints, ONNX
exports, saved configs) is written through :func:`atomic_path`: to a temporary name in the same
folder, then renamed over the target. A rename within a file system is atomic, so an interrupted
run leaves either the old file or the new one, never half of one.

Special targets: a symbolic link is kept, and the file it points to is replaced (the link is
followed); a character device (``/dev/null``, a terminal) or a FIFO is never replaced, the
finished file is written through to it instead. Other special files (sockets, block devices)
are refused by :func:`check_output_file`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import stat
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
    # A symlink stays a symlink: the file it points to is the one written.
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path, suffix)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno == errno.ENOSPC:  # named after the file being written, not its temporary
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
            raise
        if _is_stream(path):
            # A device or a FIFO is written through: renaming over it would replace the device
            # node by a plain file, and a reader waiting on the FIFO would never get the data.
            with open(tmp, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _is_stream(path: Path) -> bool:
    """Whether ``path`` is a character device or a FIFO (written through, never replaced)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


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
    if not shown.strip():
        raise OutputPathError(f"{option} is empty; give the file to write")
    path = Path(path)
    if shown.endswith(("/", os.sep)) or path.is_dir():
        raise OutputPathError(f"{option} {shown} is a folder, where a file is to be written")
    if path.exists() and not (path.is_file() or _is_stream(path)):
        raise OutputPathError(f"{option} {shown} is a special file (a socket or a block device); give a file")
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
    if not shown.strip():  # Path("") is the working directory: never a choice made on purpose
        raise OutputPathError(f"{option} is empty; give the folder to write to")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{option} {shown} is a file, not a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"{option} {shown}: cannot write in folder {shown} (permission denied)")
        return path
    _check_ancestors(path, option, shown)
    return path


class FolderInUseError(RuntimeError):
    """Another live MirrorNet process holds the lock of an output folder."""


#: The lock files this process holds: a command that locks its folder and then calls a function
#: that locks it again (``demo`` runs ``run_experiment`` in its own folder) holds it once.
_HELD_LOCKS: set[str] = set()


@contextlib.contextmanager
def folder_lock(lock_file: str | Path, what: str) -> Iterator[None]:
    """Hold an advisory lock (``fcntl.flock``) on ``lock_file`` for the body, or refuse at once.

    The lock belongs to the open file: the OS releases it when the process ends, however it
    ends, so a killed run never leaves its folder blocked. The file holds the holder's process
    id (for the message) and is removed when the body ends. Where ``fcntl`` does not exist
    (Windows) nothing is locked.

    Args:
        lock_file: the lock file (its folder is created).
        what: the folder it guards, as the message names it (e.g. ``--out runs/x``).

    Raises:
        FolderInUseError: another process holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock_file = Path(lock_file)
    key = os.path.abspath(lock_file)
    if key in _HELD_LOCKS:
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise FolderInUseError(
                f"{what} is in use by another MirrorNet process (process {holder}); "
                "wait for it to end or choose another folder"
            ) from None
        # The holder before us may have removed the file after we opened it: our lock is then
        # on a file nobody else sees, so start again on the file that is there now.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_file))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD_LOCKS.add(key)
        yield
    finally:
        _HELD_LOCKS.discard(key)
        with contextlib.suppress(OSError):
            lock_file.unlink()
        os.close(fd)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's live process (or an unknowable pid): leave its file alone
    return True


def remove_dead_temporaries(folder: str | Path, name: str = r".+", suffix: str = "") -> list[Path]:
    """Delete the temporaries (:func:`temporary_path`) that killed writers left in ``folder``.

    A process killed inside :func:`atomic_path` (SIGKILL) leaves ``.<name>.<pid>.tmp<suffix>``
    behind. Only files of that form whose process is gone (or is this one, which has no write in
    progress while it cleans) are deleted.

    Args:
        folder: the folder of the written files (a missing folder is fine).
        name: a regular expression for the written file's stem (with ``suffix``) or name.
        suffix: the suffix given to :func:`temporary_path`.

    Returns:
        The files deleted.
    """
    import re

    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^\.(?:{name})\.(\d+)\.tmp{re.escape(suffix)}$")
    removed = []
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if match is None or not path.is_file() or path.is_symlink():
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _process_alive(pid):
            continue  # a write in progress
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
