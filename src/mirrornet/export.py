"""Export the recognizer α to ONNX: the only network MirrorNet needs at run time (Sec. 5.3).

The exported graph maps normalised crops (B, 3, H, W) to the heatmaps of α's last stack
(B, 16, H/4, W/4), with a dynamic batch axis. The other networks (β … ψ) only regularise
training and are left out.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = ["LastStack", "export_onnx"]


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
    opset: int = 18,
    dynamo: bool | None = None,
) -> Path:
    """Write α (last stack) as an ONNX model with a dynamic batch axis, atomically.

    The TorchDynamo exporter (``torch.onnx.export(..., dynamo=True)``) is tried first; when it
    fails the TorchScript exporter is used.

    Args:
        alpha: the recognizer (e.g. ``load_checkpoint(path)[0].alpha``).
        out_path: the ``.onnx`` file to write.
        input_size: (H, W) of the network input.
        opset: ONNX opset version.
        dynamo: force one exporter (True / False); None tries dynamo, then TorchScript.

    Returns:
        The path written.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    module = LastStack(alpha).eval().float().cpu()
    h, w = input_size
    example = torch.zeros(2, 3, h, w)
    tmp = out_path.with_name(f".{out_path.stem}.{os.getpid()}.tmp.onnx")
    errors: list[str] = []
    attempts = [True, False] if dynamo is None else [dynamo]
    for use_dynamo in attempts:
        try:
            with warnings.catch_warnings():
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
            os.replace(tmp, out_path)
            return out_path
        except Exception as exc:  # the next exporter may cope; report all if none does
            errors.append(f"{'dynamo' if use_dynamo else 'torchscript'}: {type(exc).__name__}: {exc}")
            for leftover in out_path.parent.glob(f".{out_path.stem}.{os.getpid()}.tmp*"):
                leftover.unlink()
    raise RuntimeError("ONNX export failed:\n" + "\n".join(errors))
