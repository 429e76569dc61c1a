"""PoseEstimator, the packaged default model and recognizer files, and train.threads."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mirrornet.pretrained as pretrained
from mirrornet import PoseEstimator
from mirrornet.checkpoints import RECOGNIZER_FORMAT, CheckpointError, RecognizerOnly, load_checkpoint, read_checkpoint
from mirrornet.cli import main


@pytest.fixture(scope="module")
def packed(checkpoint, tmp_path_factory) -> Path:
    """A recognizer file packed from the tiny checkpoint."""
    return pretrained.pack_default_model(checkpoint, tmp_path_factory.mktemp("packed") / "default.ckpt")


@pytest.fixture()
def default_model(packed, monkeypatch) -> Path:
    monkeypatch.setattr(pretrained, "DEFAULT_MODEL", packed)
    return packed


@pytest.fixture()
def photo(tmp_path) -> Path:
    path = tmp_path / "person.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (90, 70, 3), dtype=np.uint8)).save(path)
    return path


def test_pack_writes_alpha_alone_readable_with_weights_only(checkpoint, packed) -> None:
    payload = torch.load(packed, weights_only=True)
    assert set(payload) == {"format", "config", "state_dict"} and payload["format"] == RECOGNIZER_FORMAT
    assert payload["state_dict"] and all(k.startswith("alpha.") for k in payload["state_dict"])
    full = read_checkpoint(checkpoint)["state_dict"]
    for key, tensor in payload["state_dict"].items():
        assert torch.equal(tensor, full[key])
    assert packed.stat().st_size < Path(checkpoint).stat().st_size
    assert not list(packed.parent.glob(".*.tmp"))  # written atomically
    model, _ = load_checkpoint(packed)
    assert isinstance(model, RecognizerOnly)
    with pytest.raises(CheckpointError, match="recognizer α alone"):
        read_checkpoint(packed)  # what training reads: a full checkpoint


def test_default_model_path_says_when_none_is_packaged(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pretrained, "DEFAULT_MODEL", tmp_path / "absent.ckpt")
    with pytest.raises(pretrained.NoDefaultModelError, match="no default model is packaged in this installation; "
                                                            "give a checkpoint"):
        pretrained.default_model_path()


def test_predict_without_a_checkpoint_uses_the_default_model(tmp_path, checkpoint, default_model, photo) -> None:
    outs = {}
    for name, argv in {"default": [str(photo)], "packed": [str(default_model), str(photo)],
                       "full": [str(checkpoint), str(photo)]}.items():
        outs[name] = tmp_path / f"{name}.json"
        assert main(["predict", *argv, "--out", str(outs[name]), "--no-progress"]) == 0
    default, packed_, full = (json.loads(outs[k].read_text()) for k in ("default", "packed", "full"))
    np.testing.assert_allclose(default[0]["keypoints"], full[0]["keypoints"], atol=1e-5)
    np.testing.assert_allclose(packed_[0]["keypoints"], full[0]["keypoints"], atol=1e-5)


def test_a_checkpoint_without_its_suffix_is_recognised_by_its_contents(tmp_path, checkpoint, photo) -> None:
    from mirrornet.cli_predict import split_checkpoint

    renamed = tmp_path / "model.bin"
    renamed.write_bytes(Path(checkpoint).read_bytes())
    assert zipfile.is_zipfile(renamed)
    assert split_checkpoint([str(renamed), str(photo)]) == (str(renamed), [str(photo)])
    assert split_checkpoint([str(photo)]) == (None, [str(photo)])


def test_evaluate_takes_a_recognizer_file_or_the_default_model(default_model, checkpoint, capsys) -> None:
    scores = []
    for argv in ([str(default_model)], [], [str(checkpoint)]):
        assert main(["evaluate", *argv, "--data-format", "synthetic", "--json", "--no-progress", "--backend",
                     "torch"]) == 0
        scores.append(json.loads(capsys.readouterr().out)["groups"]["Total"])
    assert scores[0] == scores[1] == scores[2]


def test_pose_estimator_takes_paths_arrays_pil_images_and_lists(default_model, checkpoint, photo) -> None:
    estimator = PoseEstimator()  # the (monkeypatched) packaged model
    assert estimator.checkpoint == str(default_model)
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    from_path = estimator(photo)
    from_array = estimator(rgb)
    from_bgr = estimator(np.ascontiguousarray(rgb[..., ::-1]), color="BGR")
    from_pil = estimator(Image.open(photo))
    assert from_path.keypoints.shape == (1, 16, 2) and from_path.scores.shape == (1, 16)
    for other in (from_array, from_bgr, from_pil):
        np.testing.assert_allclose(other.keypoints, from_path.keypoints, atol=1e-5)
    np.testing.assert_allclose(from_path.boxes, [[0, 0, 70, 90]])
    # The same numbers as `mirrornet predict` with the full checkpoint.
    full = PoseEstimator(checkpoint)(photo)
    np.testing.assert_allclose(full.keypoints, from_path.keypoints, atol=1e-5)
    both = estimator([photo, rgb], boxes=[[[5, 5, 30, 60], [30, 20, 35, 60]], []])
    assert [len(p) for p in both] == [2, 0]
    assert both[0].entries[1]["bbox"] == [30.0, 20.0, 35.0, 60.0]


def test_pose_estimator_refuses_bad_images_clearly(default_model) -> None:
    estimator = PoseEstimator()
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        estimator(np.zeros((4, 5, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        estimator(np.zeros((20, 20, 3), np.float32))
    with pytest.raises(ValueError, match="lies outside the image"):
        estimator(np.zeros((20, 20, 3), np.uint8), boxes=[[50, 50, 10, 10]])


def test_predict_images_names_the_api_for_arrays(checkpoint) -> None:
    from mirrornet.predict import PredictError, predict_images

    model, config = load_checkpoint(checkpoint)
    with pytest.raises(PredictError, match="PoseEstimator"):
        predict_images(model, config, [np.zeros((20, 20, 3), np.uint8)])


def test_threads_default_from_cores_workers_and_the_environment(monkeypatch) -> None:
    from mirrornet.config import ConfigError, load_config
    from mirrornet.threads import apply_threads, default_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_threads(0, cores=2) == 1
    assert default_threads(0, cores=8) == 4
    assert default_threads(2, cores=8) == 3
    assert default_threads(4, cores=4) == 1
    assert default_threads(0, cores=64) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads(0, cores=64) == 3
    before = torch.get_num_threads()
    try:
        assert apply_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    tiny = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"
    assert load_config(tiny, ["train.threads=2"]).train.threads == 2
    with pytest.raises(ConfigError, match="train.threads"):
        load_config(tiny, ["train.threads=0"])
