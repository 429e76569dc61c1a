"""What the verbs of :mod:`mirrornet.cli` share: progress switch, messages, JSON output, α's backend."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from mirrornet.cli_errors import message  # one copy of the error-message rules

__all__ = ["progress", "message", "print_json", "backend"]


def progress(args: argparse.Namespace) -> bool:
    """Whether progress is shown: not with ``--no-progress`` or ``MIRRORNET_NO_PROGRESS=1``."""
    if getattr(args, "no_progress", False):
        return False
    return os.environ.get("MIRRORNET_NO_PROGRESS", "").strip() in ("", "0", "false", "no")


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
