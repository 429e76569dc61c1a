"""Export the recognizer α to ONNX: the only network MirrorNet needs at run time (Sec. 5.3).

The exported graph maps normalised crops (B, 3, H, W) to the heatmaps of α's last stack
(B, 16, H/4, W/4), with a dynamic batch axis. The other networks (β … ψ) only regularise
training and are left out.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from mirrornet import choices
from mirrornet.fileio import atomic_path, remove_dead_temporaries, temporary_path

__all__ = ["ExportError", "LastStack", "check_opset", "export_onnx"]


class ExportError(ValueError):
    """An export that cannot be done as asked (an ONNX opset that no exporter writes)."""


def _opset_range() -> tuple[int, int]:
    """The opsets that this PyTorch's exporters target (its own bounds, or ONNX's)."""
    try:
        from torch.onnx import _constants  # bounds kept by torch.onnx; no public name for them

        return int(_constants.ONNX_MIN_OPSET), int(_constants.ONNX_MAX_OPSET)
    except (ImportError, AttributeError):
        import onnx

        return 7, int(onnx.defs.onnx_opset_version())


def check_opset(opset: int) -> None:
    """Refuse an ONNX opset outside the range that the exporters write.

    Raises:
        ExportError: naming the opset and the range.
    """
    low, high = _opset_range()
    if not low <= opset <= high:
        raise ExportError(f"--opset {opset}: the ONNX exporters of this PyTorch write opsets {low} to {high}")


def _written_opset(path: Path) -> int | None:
    """The default-domain opset of an ONNX file; None without the onnx package to read it."""
    try:
        import onnx
    except ImportError:  # only the TorchScript exporter runs without onnx, and it writes the opset asked
        return None
    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


class LastStack(nn.Module):
    """α with a single output: the last stack's heatmaps (the prediction).

    Args:
        alpha: a recognizer returning a Tensor or a list of Tensors (stacked hourglass).
    """

    def __init__(self, alpha: nn.Module) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised crops → (B, K, H/4, W/4) heatmaps."""
        out = self.alpha(image)
        return out[-1] if isinstance(out, (list, tuple)) else out


def export_onnx(
    alpha: nn.Module,
    out_path: str | Path,
    input_size: tuple[int, int],
    opset: int = choices.DEFAULT_ONNX_OPSET,
    dynamo: bool | None = None,
) -> Path:
    """Write α (last stack) as an ONNX model with a dynamic batch axis, atomically.

    The TorchDynamo exporter (``torch.onnx.export(..., dynamo=True)``) is tried first; when it
    fails the TorchScript exporter is used. Below opset 18 the order is reversed: the dynamo
    exporter writes opset 18 and converts it down, which fails for most models. A file whose
    opset is not ``opset`` counts as a failure and is not kept.

    Args:
        alpha: the recognizer (e.g. ``load_checkpoint(path)[0].alpha``).
        out_path: the ``.onnx`` file to write.
        input_size: (H, W) of the network input.
        opset: ONNX opset version (see :func:`check_opset`).
        dynamo: force one exporter (True / False); None tries both.

    Returns:
        The path written.

    Raises:
        ExportError: ``opset`` is out of range, or no exporter wrote it (naming the opset).
        RuntimeError: every exporter failed for another reason.
    """
    check_opset(opset)
    out_path = Path(out_path)
    # A killed export (SIGKILL) left its hidden temporary beside the target: removed now.
    remove_dead_temporaries(out_path.parent, re.escape(out_path.stem), ".onnx")
    module = LastStack(alpha).eval().float().cpu()
    h, w = input_size
    example = torch.zeros(2, 3, h, w)
    errors: list[str] = []
    attempts = ([True, False] if opset >= 18 else [False, True]) if dynamo is None else [dynamo]
    wrong_opset = False
    for use_dynamo in attempts:
        try:
            # A failed attempt leaves the target as it was; other files it left are removed below.
            with atomic_path(out_path, suffix=".onnx") as tmp:
                # The opset converter logs its own traceback when it fails; the error below says why.
                with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                    warnings.simplefilter("ignore")
                    # The two exporters name the dynamic batch axis differently.
                    if use_dynamo:
                        batch = torch.export.Dim("batch", min=1, max=4096)
                        exporter_args = {"dynamic_shapes": {"image": {0: batch}}, "external_data": False, "verbose": False}
                    else:
                        exporter_args = {"dynamic_axes": {"image": {0: "batch"}, "heatmaps": {0: "batch"}}}
                    torch.onnx.export(
                        module,
                        (example,),
                        str(tmp),
                        input_names=["image"],
                        output_names=["heatmaps"],
                        opset_version=opset,
                        dynamo=use_dynamo,
                        **exporter_args,
                    )
                written = _written_opset(tmp)
                if written is not None and written != opset:
                    # The dynamo exporter keeps opset 18 when it cannot convert to the one asked.
                    wrong_opset = True
                    raise ExportError(f"wrote opset {written}, not {opset}")
            return out_path
        except Exception as exc:  # the next exporter may cope; report all if none does
            errors.append(f"{'dynamo' if use_dynamo else 'torchscript'}: {type(exc).__name__}: {exc}")
            for leftover in out_path.parent.glob(f"{temporary_path(out_path, suffix='.onnx').stem}*"):
                leftover.unlink()
    if wrong_opset:
        raise ExportError(f"cannot export {out_path} at ONNX opset {opset}:\n" + "\n".join(errors))
    raise RuntimeError(f"ONNX export of {out_path} at opset {opset} failed:\n" + "\n".join(errors))
