"""What the verbs of :mod:`mirrornet.cli` share: progress switch, messages, JSON output, α's backend."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["progress", "message", "print_json", "backend"]


def progress(args: argparse.Namespace) -> bool:
    """Whether progress is shown: not with ``--no-progress`` or ``MIRRORNET_NO_PROGRESS=1``."""
    if getattr(args, "no_progress", False):
        return False
    return os.environ.get("MIRRORNET_NO_PROGRESS", "").strip() in ("", "0", "false", "no")


def message(exc: BaseException) -> str:
    """The error's own message; a DataLoader worker's re-raised error carries the worker's
    traceback in its text, of which only the last line (the original message) is kept."""
    if isinstance(exc, FileExistsError) and exc.filename:
        # The OS's "[Errno 17] File exists: 'x'": every folder here is made with exist_ok, so a
        # plain file stands where an output folder goes.
        return f"{exc.filename} exists and is not a folder; choose another --out (or move {exc.filename} away)"
    text = str(exc)
    if "Original Traceback" in text:
        lines = [line for line in text.splitlines() if line.strip()]
        last = lines[-1] if lines else text
        return last.split(": ", 1)[1] if last.split(": ", 1)[0].endswith(("Error", "Exception")) else last
    return text


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (NaN and tensors made JSON-safe)."""
    from mirrornet.fileio import json_safe

    print(json.dumps(json_safe(data), indent=2))


def backend(args: argparse.Namespace, model: Any, config: Any, device: str, probe_batch: int, crops: int) -> Any:
    """Where α runs for ``--backend`` (:func:`mirrornet.onnx_runtime.select_backend`); says so on
    stderr when it is ONNX Runtime."""
    from mirrornet.onnx_runtime import select_backend

    model.eval().to(device)
    choice = select_backend(
        model, args.backend, device, tuple(config.data.input_size), probe_batch=probe_batch, expected_crops=crops
    )
    if choice.backend == "onnx" and progress(args):
        print(f"[mirrornet] α runs on {choice.reason}", file=sys.stderr)
    return choice
