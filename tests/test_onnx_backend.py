"""α on ONNX Runtime (``--backend``): the same heatmaps as PyTorch to 1e-4, the same keypoints,
the same scores, the export cached, and ``auto`` choosing with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime", reason="the onnx backend needs onnxruntime (pip install 'mirrornet[export]')")

from mirrornet.cli import main  # noqa: E402
from mirrornet.onnx_runtime import (  # noqa: E402
    BackendChoice,
    BackendError,
    OnnxRecognizer,
    select_backend,
)
from mirrornet.checkpoints import load_checkpoint  # noqa: E402


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    """A private export cache (the CLI finds it through MIRRORNET_CACHE_DIR)."""
    monkeypatch.setenv("MIRRORNET_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


@pytest.fixture()
def photos(tmp_path) -> list[Path]:
    rng = np.random.default_rng(1)
    paths = []
    for i, (h, w) in enumerate(((90, 60), (120, 200), (64, 64))):
        path = tmp_path / f"photo{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_onnx_heatmaps_equal_pytorch_and_the_export_is_cached(checkpoint, cache) -> None:
    model, config = load_checkpoint(checkpoint)
    size = tuple(config.data.input_size)
    first = OnnxRecognizer(model.alpha, size, threads=1, cache=cache)
    assert not first.cached and first.export_seconds > 0
    assert list(cache.glob("alpha-*.onnx"))
    for batch in (1, 3):
        x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model.recognize(x)[-1]
        got = first.recognize(x)[0]
        assert got.shape == expected.shape and got.dtype == torch.float32
        assert float((got - expected).abs().max()) < 1e-4
    again = OnnxRecognizer(model.alpha, size, threads=1, cache=cache)
    assert again.cached and again.export_seconds == 0.0
    # Other weights are another export.
    with torch.no_grad():
        next(model.alpha.parameters()).add_(0.01)
    assert not OnnxRecognizer(model.alpha, size, threads=1, cache=cache).cached


def test_export_leaves_the_callers_alpha_untouched(checkpoint, tmp_path) -> None:
    model, config = load_checkpoint(checkpoint)
    model.alpha.double()  # export_onnx works on a float32 copy; the caller's module keeps its dtype
    OnnxRecognizer(model.alpha, tuple(config.data.input_size), threads=1, cache=False)
    assert next(model.alpha.parameters()).dtype == torch.float64


def test_predict_gives_the_same_keypoints_with_both_backends(checkpoint, cache, photos) -> None:
    from mirrornet.predict import predict_images

    model, config = load_checkpoint(checkpoint)
    torch_results = predict_images(model, config, photos, backend="torch")
    onnx_results = predict_images(model, config, photos, backend=select_backend(model, "onnx", cache=cache,
                                                                                  input_size=tuple(config.data.input_size)))
    assert len(torch_results) == len(onnx_results) == len(photos)
    for a, b in zip(torch_results, onnx_results):
        assert a["image"] == b["image"] and a["bbox"] == b["bbox"]
        np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=1e-4)
        assert abs(a["score"] - b["score"]) < 1e-4


def test_cli_predict_backends_agree(tmp_path, checkpoint, cache, photos) -> None:
    outs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"{backend}.json"
        argv = ["predict", str(checkpoint), *map(str, photos), "--out", str(out), "--backend", backend, "--no-progress"]
        assert main(argv) == 0
        outs[backend] = json.loads(out.read_text())
    assert len(outs["torch"]) == len(outs["onnx"]) == len(photos)
    for a, b in zip(outs["torch"], outs["onnx"]):
        assert a["image"] == b["image"] and a["bbox"] == b["bbox"]
        np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=1e-4)


def test_evaluate_scores_the_same_with_both_backends(checkpoint, cache) -> None:
    from mirrornet.data.builders import build_codec_for, build_eval_dataset, eval_loader
    from mirrornet.inference import evaluate_model

    model, config = load_checkpoint(checkpoint)
    config.train.max_eval_batches = None
    config.train.eval_batch_size = 4
    dataset = build_eval_dataset(config, "synthetic", None, "test")
    codec = build_codec_for(config)
    scores = {b: evaluate_model(model, eval_loader(config, dataset), codec, backend=b) for b in ("torch", "onnx")}
    assert scores["torch"]["groups"] == scores["onnx"]["groups"]


def test_cli_evaluate_accepts_the_backend_option(checkpoint, cache, capsys) -> None:
    argv = ["evaluate", str(checkpoint), "--data-format", "synthetic", "--json", "--no-progress"]
    assert main([*argv, "--backend", "onnx"]) == 0
    onnx = json.loads(capsys.readouterr().out)
    assert main([*argv, "--backend", "torch"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"] == onnx["groups"]


def test_auto_chooses_with_a_reason(checkpoint, cache) -> None:
    model, config = load_checkpoint(checkpoint)
    size = tuple(config.data.input_size)
    # Too few crops to repay an export that is not cached: PyTorch, without exporting.
    few = select_backend(model, "auto", input_size=size, expected_crops=2, cache=cache)
    assert few.backend == "torch" and "too few" in few.reason and not cache.exists()
    # Enough crops: both backends timed on a probe batch that they agree on.
    many = select_backend(model, "auto", input_size=size, probe_batch=2, expected_crops=500, cache=cache, repeats=1)
    assert many.backend in ("torch", "onnx") and set(many.seconds) == {"torch", "onnx"}
    assert many.max_difference is not None and many.max_difference < 1e-4
    # Now cached: auto considers ONNX Runtime even for one crop.
    cached = select_backend(model, "auto", input_size=size, expected_crops=1, cache=cache, repeats=1)
    assert set(cached.seconds) == {"torch", "onnx"}
    # Off the CPU, PyTorch.
    off = select_backend(model, "auto", device="cuda", input_size=size)
    assert off.backend == "torch" and "cuda" in off.reason
    asked = select_backend(model, "torch")
    assert isinstance(asked, BackendChoice) and asked.backend == "torch" and "as asked" in asked.reason


def test_backend_errors(checkpoint, monkeypatch) -> None:
    import mirrornet.onnx_runtime as onnx_runtime

    model, config = load_checkpoint(checkpoint)
    with pytest.raises(BackendError, match="unknown backend"):
        select_backend(model, "tensorrt")
    monkeypatch.setattr(onnx_runtime, "onnxruntime_available", lambda: False)
    with pytest.raises(BackendError, match="onnxruntime"):
        select_backend(model, "onnx", input_size=tuple(config.data.input_size))
    auto = select_backend(model, "auto", input_size=tuple(config.data.input_size))
    assert auto.backend == "torch" and "not installed" in auto.reason


def test_the_cache_keeps_the_most_recently_used_exports(tmp_path) -> None:
    import os

    from mirrornet.onnx_runtime import _prune

    for i in range(10):
        path = tmp_path / f"alpha-{i}.onnx"
        path.write_bytes(b"x")
        os.utime(path, (1000 + i, 1000 + i))
    _prune(tmp_path, keep=8)
    assert sorted(p.name for p in tmp_path.glob("alpha-*.onnx")) == [f"alpha-{i}.onnx" for i in range(2, 10)]
