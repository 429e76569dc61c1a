"""ONNX export of the recognizer α (last stack) agrees with PyTorch to 1e-4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from mirrornet.cli import main
from mirrornet.export import LastStack, export_onnx



def _compare(onnx_path: Path, alpha: torch.nn.Module, batch: int) -> float:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(batch))
    expected = LastStack(alpha).eval()(x).detach().numpy()
    (got,) = session.run(None, {"image": x.numpy()})
    assert got.shape == (batch, 16, 16, 16)
    return float(np.abs(got - expected).max())


def test_cli_export_matches_pytorch_with_dynamic_batch(tmp_path, checkpoint) -> None:
    out = tmp_path / "alpha.onnx"
    assert main(["export", str(checkpoint), "--onnx", str(out)]) == 0
    from mirrornet.checkpoints import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    for batch in (1, 3):
        assert _compare(out, model.alpha, batch) < 1e-4


def test_torchscript_exporter_also_matches(tmp_path, checkpoint) -> None:
    from mirrornet.checkpoints import load_checkpoint

    model, config = load_checkpoint(checkpoint)
    out = export_onnx(model.alpha, tmp_path / "ts.onnx", tuple(config.data.input_size), dynamo=False)
    assert _compare(out, model.alpha, 2) < 1e-4


def test_last_stack_of_a_stacked_recognizer() -> None:
    class TwoStacks(torch.nn.Module):
        def forward(self, x):
            return [x[:, :1] * 0, x[:, :1] + 1]

    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(LastStack(TwoStacks())(x), x[:, :1] + 1)
