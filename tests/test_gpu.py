"""The GPU smoke test: the tiny curriculum's last method trained on CUDA, its α evaluated there and
on the CPU alike, and heatmaps carried between views on the device (``-m gpu``; skipped where no
CUDA device is visible)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"


def test_the_tiny_curriculum_trains_and_evaluates_on_the_gpu(tmp_path) -> None:
    from mirrornet.checkpoints import load_checkpoint
    from mirrornet.config import load_config
    from mirrornet.data.builders import build_codec_for, build_eval_dataset, eval_loader
    from mirrornet.inference import collect_predictions
    from mirrornet.training import run_experiment

    config = load_config(TINY, ["train.accelerator=gpu", "train.devices=1"])
    results = run_experiment(config, tmp_path, stages=["semi_supervised"], progress=False)
    assert set(results) == {"semi_supervised"}
    assert all(math.isfinite(v) for v in results["semi_supervised"]["groups"].values())
    model, config = load_checkpoint(tmp_path / "checkpoints" / "semi_supervised.ckpt")
    config.train.max_eval_batches = None
    dataset = build_eval_dataset(config, "synthetic", None, "test")
    codec = build_codec_for(config)
    on_gpu = collect_predictions(model, eval_loader(config, dataset), codec, device="cuda")
    on_cpu = collect_predictions(model.cpu(), eval_loader(config, dataset), codec, device="cpu")
    assert np.abs(on_gpu.pred_crop - on_cpu.pred_crop).max() <= 4.0  # at most one heatmap pixel apart
    assert np.mean(np.all(on_gpu.pred_crop == on_cpu.pred_crop, axis=-1)) >= 0.9


def test_heatmaps_warp_alike_on_the_gpu() -> None:
    from mirrornet.codecs import warp_heatmaps

    g = torch.Generator().manual_seed(0)
    maps = torch.rand(2, 16, 32, 32, generator=g)
    affine = torch.tensor([[[0.9, 0.2, 1.5], [-0.2, 0.9, -0.5]]] * 2, dtype=torch.float64)
    torch.testing.assert_close(warp_heatmaps(maps.cuda(), affine.cuda()).cpu(), warp_heatmaps(maps, affine),
                               atol=1e-5, rtol=0)
