"""How ``mirrornet`` reports an error: which errors are bad input (status 2), a failed run (1) or
a bug (1, with the traceback on ``--debug``), and the one line each is reported in.

Only MirrorNet's own error types (and the OS's errors about the files named on the command line)
count as bad input: a ``ValueError`` from anywhere else is a bug and is said to be one.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Any

__all__ = ["UserError", "Terminated", "error_status", "message", "on_sigterm", "debug"]


class UserError(Exception):
    """An error to report as ``error: ...`` with an exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is (the last finished epoch is kept), with status 143."""


def on_sigterm(signum: int, frame: Any) -> None:
    """The SIGTERM handler of the command line: raise :class:`Terminated`."""
    raise Terminated()


def debug(args: argparse.Namespace | None) -> bool:
    """Whether ``--debug`` or ``MIRRORNET_DEBUG=1`` asks for tracebacks."""
    if args is not None and getattr(args, "debug", False):
        return True
    return os.environ.get("MIRRORNET_DEBUG", "").strip() not in ("", "0", "false", "no")


def message(exc: BaseException) -> str:
    """The error's own message; a DataLoader worker's re-raised error carries the worker's
    traceback in its text, of which only the last line (the original message) is kept."""
    if isinstance(exc, FileExistsError) and exc.filename:
        # The OS's "[Errno 17] File exists: 'x'": every folder here is made with exist_ok, so a
        # plain file stands where an output folder goes.
        return f"{exc.filename} exists and is not a folder; choose another --out (or move {exc.filename} away)"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = exc.filename or "the output folder"
        return f"no space left on the device while writing {where}; nothing half-written was kept " \
               "(free some space, then run again)"
    text = str(exc)
    if "Original Traceback" in text:
        lines = [line for line in text.splitlines() if line.strip()]
        last = lines[-1] if lines else text
        return last.split(": ", 1)[1] if last.split(": ", 1)[0].endswith(("Error", "Exception")) else last
    return text


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean bad input (exit status 2): MirrorNet's own input errors, and the
    OS's errors about the files named on the command line."""
    from mirrornet.checkpoints import CheckpointError
    from mirrornet.config import ConfigError
    from mirrornet.data.builders import DataError
    from mirrornet.data.images import DataSettingError, DatasetFileNotFoundError, DatasetFormatError
    from mirrornet.fileio import OutputPathError
    from mirrornet.predict import PredictError

    return (ConfigError, CheckpointError, DataError, DataSettingError, PredictError, DatasetFileNotFoundError,
            DatasetFormatError, OutputPathError, FileNotFoundError, FileExistsError,
            *_loaded((("mirrornet.export", "ExportError"), ("mirrornet.onnx_runtime", "BackendError"))))


def _loaded(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The error classes ``(module, name)`` of the modules already imported (only code that has
    imported its module can raise one, and reporting an error is not to import more)."""
    found = (getattr(sys.modules.get(module), name, None) for module, name in names)
    return tuple(cls for cls in found if cls is not None)


def _run_failures() -> tuple[type[BaseException], ...]:
    """The errors of a training run that fails (exit status 1), from the training modules already
    imported: only a command that trains can raise them, and the other commands (evaluate,
    predict, export) are not to load the training code and Lightning to report an error."""
    return _loaded((("mirrornet.training.lightning_module", "NonFiniteLossError"), ("mirrornet.training.run", "RunError")))


def error_status(exc: Exception) -> int | None:
    """The exit status of an error reported in one line; None: a bug (any other error)."""
    if isinstance(exc, UserError):
        return exc.status
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return 1  # a full disk: the run can be resumed once there is room
    if isinstance(exc, _bad_input_errors()):
        return 2  # before the run failures: a ResumeConfigError is both, and bad input
    from mirrornet.fileio import FolderInUseError

    if isinstance(exc, (*_run_failures(), FolderInUseError)):
        return 1
    return None
