"""Test-wide settings.

The tests run tiny networks, for which one intra-op thread is fastest: with more, OpenMP's
worker threads spin against each other, and on a 2-core machine that shares its cores a tiny
training run becomes ten times slower. Subprocesses (CLI, DDP) inherit OMP_NUM_THREADS.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MIRRORNET_NO_PROGRESS", "1")
# ONNX exports that `predict` / `evaluate --backend auto` cache go to a private folder, not the
# user's ~/.cache.
import tempfile  # noqa: E402

os.environ.setdefault("MIRRORNET_CACHE_DIR", tempfile.mkdtemp(prefix="mirrornet-test-cache-"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

TINY_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of an untrained MirrorNet built from the tiny config (for predict / export)."""
    from mirrornet.config import load_config
    from mirrornet.checkpoints import build_model
    from mirrornet.training.checkpoint import save_checkpoint

    config = load_config(TINY_CONFIG)
    torch.manual_seed(0)
    model = build_model(config)
    path = tmp_path_factory.mktemp("ckpt") / "model.ckpt"
    save_checkpoint(path, {"config": config.to_dict(), "stage": "baseline", "epoch": 0, "completed": True,
                           "state_dict": model.state_dict(), "optimizer": None, "history": []})
    return path
