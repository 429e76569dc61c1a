"""Inference without the training code: the one evaluation loop, the metric choice, and the
import isolation of ``predict`` / ``export`` / ``evaluate``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mirrornet import metrics
from mirrornet.checkpoints import load_checkpoint
from mirrornet.config import load_config
from mirrornet.data.builders import build_codec_for, build_eval_dataset, eval_loader
from mirrornet.inference import Evaluation, collect_predictions, evaluate_model, metric_for, predict_batch
from mirrornet.skeleton import TOTAL_JOINTS

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"

# Prints the training and Lightning modules that the code before it has imported.
_LOADED = (
    "import sys, json\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'lightning'"
    " or m.startswith(('mirrornet.training', 'lightning_fabric', 'pytorch_lightning')))))\n"
)


def _loaded_after(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code + _LOADED], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_inference_modules_import_no_training_code() -> None:
    code = "import mirrornet.predict, mirrornet.export, mirrornet.inference, mirrornet.checkpoints\n" \
           "import mirrornet.data.builders, mirrornet.onnx_runtime, mirrornet.cli\n" \
           "import mirrornet.api, mirrornet.boxes, mirrornet.coco, mirrornet.inputs, mirrornet.drawing\n" \
           "import mirrornet.pretrained, mirrornet.threads, mirrornet.cli_predict\n"
    assert _loaded_after(code) == []


def test_evaluate_predict_and_export_commands_run_without_the_training_code(tmp_path, checkpoint) -> None:
    image = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 40, 3), dtype=np.uint8)).save(image)
    ckpt = str(checkpoint)
    commands = [
        ["evaluate", ckpt, "--data-format", "synthetic", "--backend", "torch", "--json"],
        ["predict", ckpt, str(image), "--out", str(tmp_path / "p.json"), "--backend", "torch"],
        ["export", ckpt, "--onnx", str(tmp_path / "a.onnx"), "--exporter", "torchscript"],
    ]
    code = "from mirrornet.cli import main\n" + "".join(
        f"assert main({c!r}) == 0, {c[0]!r}\n" for c in commands
    )
    assert _loaded_after(code) == []
    assert (tmp_path / "p.json").is_file() and (tmp_path / "a.onnx").is_file()


def test_the_loop_fed_batch_by_batch_equals_collect_predictions(checkpoint) -> None:
    model, config = load_checkpoint(checkpoint)
    config.train.max_eval_batches, config.train.eval_batch_size = None, 4
    dataset = build_eval_dataset(config, "synthetic", None, "test")
    codec = build_codec_for(config)
    collected = collect_predictions(model, eval_loader(config, dataset), codec)
    evaluation = Evaluation(model, codec)  # as the training's validation step feeds it
    for batch in eval_loader(config, dataset):
        evaluation.add(batch)
    fed = evaluation.predictions()
    assert len(fed) == len(collected) == len(dataset)
    for name in ("pred_image", "pred_crop", "gt_image", "gt_crop", "mask", "bbox_size", "head_size"):
        np.testing.assert_array_equal(getattr(fed, name), getattr(collected, name), err_msg=name)
    # Written out without the evaluation loop: α's last stack in eval mode, the codec's decode,
    # the inverse affine, and the annotation of each item in dataset order.
    model.eval()
    parts: dict[str, list[np.ndarray]] = {"crop": [], "image": [], "gt": [], "mask": [], "bbox": []}
    with torch.no_grad():
        for batch in eval_loader(config, dataset):
            crop, _ = codec.decode(model.recognize(batch["image"])[-1])
            parts["crop"].append(crop.numpy())
            parts["image"].append(codec.to_image_coords(crop, batch["affine"]).numpy())
            parts["gt"].append(batch["joints"].numpy())
            parts["mask"].append(batch["labelled"].numpy())
            parts["bbox"].append(batch["bbox_size"].numpy())
    by_hand = {k: np.concatenate(v) for k, v in parts.items()}
    np.testing.assert_allclose(collected.pred_crop, by_hand["crop"], atol=1e-4)
    np.testing.assert_allclose(collected.pred_image, by_hand["image"], atol=1e-3)
    np.testing.assert_array_equal(collected.gt_image, by_hand["gt"])
    np.testing.assert_array_equal(collected.mask, by_hand["mask"])
    np.testing.assert_array_equal(collected.bbox_size, by_hand["bbox"])
    # The flip test averages with the mirrored crop's heatmaps, flipped back.
    flipped = collect_predictions(model, eval_loader(config, dataset), codec, flip_test=True)
    batch = next(iter(eval_loader(config, dataset)))
    with torch.no_grad():
        image = batch["image"]
        crop, _ = codec.decode(model.recognize(image)[-1], flipped_heatmaps=model.recognize(image.flip(-1))[-1])
    np.testing.assert_allclose(flipped.pred_crop[: len(crop)], crop.numpy(), atol=1e-4)
    assert not np.allclose(flipped.pred_crop, collected.pred_crop)  # the flip test changes something
    kind, threshold = metric_for(config)
    assert evaluate_model(model, eval_loader(config, dataset), codec, kind, threshold) == collected.score(kind, threshold)
    # The image-pixel predictions are predict_batch's, which `mirrornet predict` runs.
    batch = next(iter(eval_loader(config, dataset)))
    coords, _ = predict_batch(model, codec, batch["image"], batch["affine"])
    np.testing.assert_array_equal(coords.numpy(), collected.pred_image[: len(coords)])
    # The crop-pixel ground truth maps back onto the image annotation.
    back = codec.to_image_coords(torch.from_numpy(collected.gt_crop[:4]), batch["affine"])
    np.testing.assert_allclose(back.numpy(), collected.gt_image[:4], atol=1e-3)


def test_person_scores_are_judged_as_the_table_judges_them(checkpoint) -> None:
    model, config = load_checkpoint(checkpoint)
    config.train.max_eval_batches = None
    dataset = build_eval_dataset(config, "synthetic", None, "test")
    predictions = collect_predictions(model, eval_loader(config, dataset), build_codec_for(config))
    kind, threshold = metric_for(config)
    per_person = predictions.person_scores(kind, threshold)
    assert per_person.shape == (len(predictions),) and ((0 <= per_person) & (per_person <= 1)).all()
    correct, counted = metrics.correct_keypoints(
        predictions.pred_image, predictions.gt_image, predictions.mask, predictions.bbox_size, threshold
    )
    total = list(TOTAL_JOINTS)
    hits = (per_person * counted[:, total].sum(axis=1)).sum()
    assert hits == pytest.approx(correct[:, total].sum())
    table = predictions.score(kind, threshold)["groups"]["Total"]
    assert table == pytest.approx(100.0 * hits / counted[:, total].sum())


def test_metric_for_follows_the_config_unless_told_otherwise() -> None:
    config = load_config(TINY)
    assert metric_for(config, "lsp") == ("pck", 0.2)
    assert metric_for(config, "mpii") == ("pckh", 0.5)
    config.eval.threshold = 0.1
    assert metric_for(config, "lsp") == ("pck", 0.1)
    assert metric_for(config, "lsp", threshold=0.3) == ("pck", 0.3)
    # Another metric takes its own threshold, not the config's threshold for the config's metric.
    assert metric_for(config, "lsp", metric="pckh") == ("pckh", 0.5)
    assert metric_for(config, "lsp", metric="pckh", threshold=0.25) == ("pckh", 0.25)
