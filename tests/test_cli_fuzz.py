"""Bad input to every verb of `mirrornet`, one row each: a clean `error: ...`, the right status,
the culprit named, no traceback, and nothing left behind.

``ROWS`` is the table: (case id, argv, set-up of the bad file, exit status, a fragment of the
message). In argv and fragments, ``{tmp}`` is the test's own folder (also the working directory),
``{tiny}`` the tiny config, ``{ckpt}`` an untrained tiny checkpoint and ``{lsp}`` a small
synthetic LSP folder; the set-up writes the bad file under ``{tmp}``. docs/cli.md shows the
message of every row.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fixtures_formats import write_mpii
from PIL import Image

from mirrornet.cli import main

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"
#: Options whose value is a path the command writes.
OUTPUT_OPTIONS = ("--out", "--onnx", "--draw")

Setup = Callable[[SimpleNamespace], None]


# ---------------------------------------------------------------------------------------------
# Set-ups: each returns a function of the context (tmp, ckpt, lsp, monkeypatch) that writes the
# bad input under ctx.tmp.


def text(name: str, content: str) -> Setup:
    """A text file (UTF-8)."""

    def setup(ctx: SimpleNamespace) -> None:
        path = ctx.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")

    return setup


def raw(name: str, content: bytes) -> Setup:
    """A file of the given bytes."""

    def setup(ctx: SimpleNamespace) -> None:
        path = ctx.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    return setup


def folder(name: str) -> Setup:
    """An empty folder."""
    return lambda ctx: (ctx.tmp / name).mkdir(parents=True)


def png(name: str) -> Setup:
    """A small valid RGB image."""

    def setup(ctx: SimpleNamespace) -> None:
        pixels = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(ctx.tmp / name)

    return setup


def both(*setups: Setup) -> Setup:
    """Several set-ups, in order."""

    def setup(ctx: SimpleNamespace) -> None:
        for s in setups:
            s(ctx)

    return setup


def ckpt_file(name: str, edit: Callable[[dict], object]) -> Setup:
    """A copy of the tiny checkpoint's payload, changed by ``edit``, saved with ``torch.save``."""

    def setup(ctx: SimpleNamespace) -> None:
        from mirrornet.checkpoints import read_checkpoint

        payload = read_checkpoint(ctx.ckpt)
        payload["state_dict"] = dict(payload["state_dict"])
        payload = edit(payload) or payload
        torch.save(payload, ctx.tmp / name)

    return setup


def drop(key: str) -> Callable[[dict], None]:
    """An edit that removes ``key`` from a checkpoint payload."""
    return lambda payload: payload.pop(key) and None


def _poison(payload: dict) -> None:
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][key] = torch.full_like(payload["state_dict"][key], float("nan"))


def lsp_copy(name: str, remove: str | None = None, corrupt: str | None = None) -> Setup:
    """A copy of the synthetic LSP folder with the files matching ``remove`` deleted and the
    file ``corrupt`` overwritten with bytes that are no image."""

    def setup(ctx: SimpleNamespace) -> None:
        root = ctx.tmp / name
        shutil.copytree(ctx.lsp, root)
        for path in root.glob(remove or "-"):
            path.unlink()
        if corrupt:
            (root / corrupt).write_bytes(b"\x00not a jpeg")

    return setup


def mpii_escaping(name: str, image: str) -> Setup:
    """An MPII folder whose train.json names ``image`` (``{tmp}`` filled in), a path outside the
    images folder; the image exists there, so only the containment check can refuse it."""

    def setup(ctx: SimpleNamespace) -> None:
        image_path = image.format(tmp=ctx.tmp)
        joints = np.random.default_rng(0).uniform(2, 28, size=(16, 2)).round(1).tolist()
        person = {"center": [15.0, 12.0], "scale": 0.1, "joints": joints, "joints_vis": [1.0] * 16}
        write_mpii(ctx.tmp / name, {"train": [{"image": "a.jpg", **person}, {"image": image_path, **person}]})

    return setup


def locked(name: str) -> Setup:
    """A folder that reports no write permission (simulated: the tests may run as root)."""

    def setup(ctx: SimpleNamespace) -> None:
        path = ctx.tmp / name
        path.mkdir()
        real_access = os.access
        ctx.monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: False if Path(p) == path else real_access(p, mode, **kw)
        )

    return setup


def boxes(content: str) -> Setup:
    """An image a.png and a boxes file boxes.json with ``content``."""
    return both(png("a.png"), text("boxes.json", content))


# ---------------------------------------------------------------------------------------------
# The table

TRAIN = "train {tiny} --out {tmp}/run --no-progress"
PREDICT = "predict {ckpt} {tmp}/a.png --out {tmp}/p.json --no-progress"

ROWS: list[tuple[str, str, Setup | None, int, str]] = [
    # (case id, argv, set-up, exit status, fragment of the message)
    # --- train: config keys, types and values -------------------------------------------------
    ("unknown_key", TRAIN + " --set train.lrr=1", None, 2, "'train.lrr'"),
    ("misspelt_section", TRAIN + " --set trian.lr=1", None, 2, "'trian'"),
    ("unknown_key_in_file", "train {tmp}/c.yaml --out {tmp}/run", text("c.yaml", "model:\n  recogniser: x\n"), 2,
     "'model.recogniser'"),
    ("override_without_value", TRAIN + " --set train.lr", None, 2, "'train.lr'"),
    ("int_given_a_word", TRAIN + " --set train.batch_size=big", None, 2, "'train.batch_size' expects an int"),
    ("bool_given_a_word", TRAIN + " --set data.flip=maybe", None, 2, "'data.flip' expects a bool"),
    ("list_given_a_number", TRAIN + " --set data.input_size=64", None, 2, "'data.input_size'"),
    ("section_given_a_value", TRAIN + " --set train=3", None, 2, "'train' is a section"),
    ("negative_epochs", TRAIN + " --set train.epochs.baseline=-1", None, 2, "train.epochs.baseline must be >= 0"),
    ("batch_does_not_add_up", TRAIN + " --set train.n_annotated=5", None, 2, "must equal train.batch_size = 8"),
    ("lr_zero", TRAIN + " --set train.lr=0", None, 2, "train.lr must be"),
    ("lr_nan", TRAIN + " --set train.lr=.nan", None, 2, "train.lr must be"),
    ("annotated_ratio_zero", TRAIN + " --set data.annotated_ratio=0", None, 2, "data.annotated_ratio"),
    ("annotated_ratio_1.5", TRAIN + " --set data.annotated_ratio=1.5", None, 2, "data.annotated_ratio"),
    ("val_ratio_one", TRAIN + " --set data.val_ratio=1", None, 2, "data.val_ratio"),
    ("heatmap_stride_zero", TRAIN + " --set data.heatmap_stride=0", None, 2, "'data.heatmap_stride'"),
    ("unknown_codec", TRAIN + " --set data.codec=laplace", None, 2, "'data.codec'"),
    # --- train: value ranges, checked when the config is loaded ------------------------------
    ("rotation_prob_5", TRAIN + " --set data.rotation_prob=5", None, 2,
     "data.rotation_prob must be a finite number in [0, 1], got 5.0"),
    ("scale_factor_negative", TRAIN + " --set data.scale_factor=-0.5", None, 2,
     "data.scale_factor must be a finite number in [0, 0.99], got -0.5"),
    ("lam_nan", TRAIN + " --set model.lam=.nan", None, 2, "model.lam must be a finite number"),
    ("rotation_nan", TRAIN + " --set data.rotation=.nan", None, 2,
     "data.rotation must be a finite number in [0, 180], got nan"),
    ("padding_zero", TRAIN + " --set data.padding=0", None, 2,
     "data.padding must be a finite number in [1, 10], got 0.0"),
    ("num_workers_negative", TRAIN + " --set data.num_workers=-1", None, 2, "data.num_workers must be >= 0"),
    ("sigma_nan", TRAIN + " --set data.sigma=.nan", None, 2,
     "data.sigma must be a finite number in (0, 1000], got nan"),
    ("precision_unknown", TRAIN + " --set train.precision=17-true", None, 2, "'train.precision' must be one of"),
    ("accelerator_unknown", TRAIN + " --set train.accelerator=banana", None, 2, "'train.accelerator' must be one of"),
    ("strategy_unknown", TRAIN + " --set train.strategy=ddpp", None, 2, "'train.strategy' must be one of"),
    ("devices_zero", TRAIN + " --set train.devices=0", None, 2, "train.devices must be a number of devices >= 1"),
    ("devices_negative", TRAIN + " --set train.devices=-5", None, 2, "got -5"),
    ("devices_a_word", TRAIN + " --set train.devices=banana", None, 2, "got 'banana'"),
    ("cpu_devices_as_a_list", TRAIN + " --set train.devices=0,1", None, 2,
     "Lightning cannot run them here: `devices` selected with `CPUAccelerator` should be an int > 0"),
    ("num_nodes_zero", TRAIN + " --set train.num_nodes=0", None, 2, "train.num_nodes must be >= 1, got 0"),
    ("gradient_clip_nan", TRAIN + " --set train.gradient_clip_val=.nan", None, 2,
     "train.gradient_clip_val must be a finite number"),
    ("recognizer_unknown", TRAIN + " --set model.recognizer=hrnet_w99", None, 2, "'model.recognizer' must be one of"),
    ("vae_width_zero", TRAIN + " --set model.vae_widths.encoder_width=0", None, 2,
     "model.vae_widths.encoder_width must be an integer >= 1, got 0"),
    ("vae_width_unknown", TRAIN + " --set model.vae_widths.encoder=8", None, 2,
     "unknown config key 'model.vae_widths.encoder'"),
    ("max_steps_per_epoch_zero", TRAIN + " --set train.max_steps_per_epoch=0", None, 2,
     "train.max_steps_per_epoch must be >= 1 (or null), got 0"),
    ("train_eval_batch_size_zero", TRAIN + " --set train.eval_batch_size=0", None, 2,
     "train.eval_batch_size must be >= 1 (or null), got 0"),
    ("epochs_1e23", TRAIN + " --set train.epochs.alpha_pretrain=100000000000000000000000", None, 2,
     "train.epochs.alpha_pretrain must be >= 0 and at most 100,000"),
    ("synthetic_num_test_1e12", TRAIN + " --set data.synthetic_num_test=1000000000000", None, 2,
     "data.synthetic_num_test must be >= 1 and at most 1,000,000"),
    ("synthetic_num_train_zero", TRAIN + " --set data.synthetic_num_train=0", None, 2,
     "data.synthetic_num_train must be >= 1 and at most 1,000,000, got 0"),
    ("synthetic_size_1e6", TRAIN + " --set data.synthetic_size=1000000", None, 2,
     "data.synthetic_size must be >= 16 and at most 4,096"),
    ("number_of_5000_digits", TRAIN + " --set train.lr=" + "1" * 5000, None, 2,
     "override 'train.lr': its value is a number of 5000 characters"),
    # --- train: config files ----------------------------------------------------------------
    ("config_missing", "train {tmp}/none.yaml --out {tmp}/run", None, 2, "{tmp}/none.yaml"),
    ("config_empty", "train {tmp}/empty.yaml --out {tmp}/run", text("empty.yaml", "# nothing\n"), 2,
     "empty.yaml is empty"),
    ("config_not_utf8", "train {tmp}/latin1.yaml --out {tmp}/run",
     raw("latin1.yaml", "data:\n  root: d\xe9j\xe0\n".encode("latin-1")), 2, "latin1.yaml is not UTF-8"),
    ("config_not_a_mapping", "train {tmp}/list.yaml --out {tmp}/run", text("list.yaml", "- data\n- model\n"), 2,
     "list.yaml must hold a mapping"),
    ("config_not_yaml", "train {tmp}/bad.yaml --out {tmp}/run", text("bad.yaml", "data: [64, 64\n"), 2,
     "cannot parse config file {tmp}/bad.yaml (line 2, column 1)"),
    ("config_is_a_folder", "train {tmp}/cfg --out {tmp}/run", folder("cfg"), 2, "{tmp}/cfg is a folder"),
    ("extends_missing_base", "train {tmp}/child.yaml --out {tmp}/run", text("child.yaml", "extends: gone.yaml\n"), 2,
     "gone.yaml"),
    ("extends_a_number", "train {tmp}/child.yaml --out {tmp}/run", text("child.yaml", "extends: 42\n"), 2,
     "'extends' must be a file name"),
    ("extends_a_cycle", "train {tmp}/a.yaml --out {tmp}/run",
     both(text("a.yaml", "extends: b.yaml\n"), text("b.yaml", "extends: a.yaml\n")), 2, "cycle"),
    ("config_duplicate_key", "train {tmp}/dup.yaml --out {tmp}/run", text("dup.yaml", "train:\n  lr: 0.1\n  lr: 0.5\n"),
     2, "{tmp}/dup.yaml (line 3, column 3): duplicate key 'lr'"),
    ("config_nested_too_deeply", "train {tmp}/deep.yaml --out {tmp}/run",
     text("deep.yaml", "data: " + "[" * 5000 + "]" * 5000 + "\n"), 2, "{tmp}/deep.yaml: it is nested too deeply"),
    # --- train: stages, data, output folder --------------------------------------------------
    ("unknown_stage", TRAIN + " --stages finetune", None, 2, "finetune"),
    ("data_root_missing", TRAIN + " --set data.format=lsp data.root={tmp}/nowhere", None, 2, "{tmp}/nowhere"),
    ("data_root_without_joints_mat", TRAIN + " --set data.format=lsp data.root={tmp}/lsp",
     lsp_copy("lsp", remove="joints.mat"), 2, "joints.mat"),
    ("data_image_missing", TRAIN + " --set data.format=lsp data.root={tmp}/lsp",
     lsp_copy("lsp", remove="images/im0003.jpg"), 2, "im0003.jpg"),
    ("train_out_is_a_file", "train {tiny} --out {tmp}/file", text("file", "x"), 2, "{tmp}/file"),
    ("train_out_under_a_file", "train {tiny} --out {tmp}/file/run", text("file", "x"), 2, "{tmp}/file"),
    ("train_out_unwritable", "train {tiny} --out {tmp}/locked/run", locked("locked"), 2, "permission denied"),
    # --- demo ---------------------------------------------------------------------------------
    ("demo_out_is_a_file", "demo --quick --out {tmp}/file", text("file", "x"), 2, "{tmp}/file"),
    ("demo_out_under_a_file", "demo --quick --out {tmp}/file/demo", text("file", "x"), 2, "{tmp}/file"),
    ("demo_out_unwritable", "demo --quick --out {tmp}/locked/demo", locked("locked"), 2, "permission denied"),
    # --- synth --------------------------------------------------------------------------------
    ("synth_num_zero", "synth --out {tmp}/s --num 0", None, 2, "got 0"),
    ("synth_size_negative", "synth --out {tmp}/s --num 4 --size -5", None, 2, "got -5"),
    ("synth_num_not_a_number", "synth --out {tmp}/s --num many", None, 2, "'many'"),
    ("synth_unknown_format", "synth --out {tmp}/s --format coco", None, 2, "'coco'"),
    ("synth_out_not_empty", "synth --out {tmp}/full --num 4 --size 32", text("full/keep.txt", "x"), 2,
     "{tmp}/full already exists and is not empty"),
    ("synth_out_under_a_file", "synth --out {tmp}/file/s --num 4 --size 32", text("file", "x"), 2, "{tmp}/file"),
    ("synth_out_unwritable", "synth --out {tmp}/locked/s --num 4 --size 32", locked("locked"), 2, "permission denied"),
    # --- evaluate: checkpoints ---------------------------------------------------------------
    ("ckpt_missing", "evaluate {tmp}/none.ckpt --data-format synthetic", None, 2, "{tmp}/none.ckpt"),
    ("ckpt_zero_bytes", "evaluate {tmp}/zero.ckpt --data-format synthetic", raw("zero.ckpt", b""), 2,
     "zero.ckpt is not a readable MirrorNet checkpoint"),
    ("ckpt_random_bytes", "evaluate {tmp}/noise.ckpt --data-format synthetic", raw("noise.ckpt", bytes(range(256)) * 3),
     2, "noise.ckpt is not a readable MirrorNet checkpoint"),
    ("ckpt_foreign", "evaluate {tmp}/other.ckpt --data-format synthetic",
     ckpt_file("other.ckpt", lambda p: {"weights": torch.zeros(3)}), 2, "other.ckpt is not a MirrorNet checkpoint"),
    ("ckpt_without_state_dict", "evaluate {tmp}/part.ckpt --data-format synthetic",
     ckpt_file("part.ckpt", drop("state_dict")), 2, "part.ckpt is a MirrorNet checkpoint but has no 'state_dict'"),
    ("ckpt_without_config", "evaluate {tmp}/part.ckpt --data-format synthetic",
     ckpt_file("part.ckpt", drop("config")), 2, "part.ckpt is a MirrorNet checkpoint but has no 'config'"),
    ("ckpt_non_finite_weights", "evaluate {tmp}/nan.ckpt --data-format synthetic", ckpt_file("nan.ckpt", _poison), 2,
     "holds NaN or infinite values"),
    ("ckpt_config_synthetic_1e12", "evaluate {tmp}/big.ckpt --data-format synthetic",
     ckpt_file("big.ckpt", lambda p: p["config"]["data"].update(synthetic_num_test=10**12)), 2,
     "data.synthetic_num_test must be >= 1 and at most 1,000,000"),
    ("ckpt_is_a_folder", "evaluate {tmp}/run --data-format synthetic", folder("run"), 2, "{tmp}/run is a folder"),
    # --- evaluate: data and options ----------------------------------------------------------
    ("unknown_data_format", "evaluate {ckpt} --data-format coco", None, 2, "--data-format: invalid choice: 'coco'"),
    ("lsp_without_root", "evaluate {ckpt} --data-format lsp", None, 2, "--root is required"),
    ("eval_root_missing", "evaluate {ckpt} --data-format lsp --root {tmp}/nowhere", None, 2, "{tmp}/nowhere"),
    ("eval_root_without_joints_mat", "evaluate {ckpt} --data-format lsp --root {tmp}/empty", folder("empty"), 2,
     "{tmp}/empty/joints.mat"),
    ("eval_corrupt_image", "evaluate {ckpt} --data-format lsp --root {tmp}/lsp --no-progress",
     lsp_copy("lsp", corrupt="images/im0012.jpg"), 2, "im0012.jpg"),
    ("eval_unknown_split", "evaluate {ckpt} --data-format lsp --root {lsp} --split bogus", None, 2, "'bogus'"),
    ("mpii_image_escapes_root", "evaluate {ckpt} --data-format mpii --root {tmp}/mpii --split train",
     mpii_escaping("mpii", "../outside.jpg"), 2, "'../outside.jpg' is not a path inside"),
    ("mpii_image_absolute", "evaluate {ckpt} --data-format mpii --root {tmp}/mpii --split train",
     mpii_escaping("mpii", "{tmp}/elsewhere/b.jpg"), 2, "'{tmp}/elsewhere/b.jpg' is not a path inside"),
    ("eval_batch_size_zero", "evaluate {ckpt} --data-format synthetic --batch-size 0", None, 2, "--batch-size 0"),
    ("eval_threshold_negative", "evaluate {ckpt} --data-format synthetic --threshold -0.2", None, 2,
     "--threshold -0.2"),
    ("eval_threshold_nan", "evaluate {ckpt} --data-format synthetic --threshold nan", None, 2, "--threshold nan"),
    # --- predict: images ---------------------------------------------------------------------
    ("image_missing", PREDICT, None, 2, "{tmp}/a.png"),
    ("image_corrupt", PREDICT, raw("a.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), 2, "{tmp}/a.png"),
    ("image_is_text", "predict {ckpt} {tmp}/notes.md --out {tmp}/p.json", text("notes.md", "hello\n"), 2,
     "{tmp}/notes.md"),
    ("list_names_a_missing_image", "predict {ckpt} {tmp}/list.txt --out {tmp}/p.json", text("list.txt", "# mine\nhello\n"),
     2, "(listed in {tmp}/list.txt, line 2)"),
    ("list_names_nothing", "predict {ckpt} {tmp}/list.txt --out {tmp}/p.json", text("list.txt", "# none\n"), 2,
     "{tmp}/list.txt names no image"),
    ("folder_without_images", "predict {ckpt} {tmp}/empty --out {tmp}/p.json", folder("empty"), 2,
     "folder {tmp}/empty holds no image"),
    ("glob_matches_nothing", "predict {ckpt} {tmp}/*.jpg --out {tmp}/p.json", None, 2, "{tmp}/*.jpg"),
    ("video_unreadable", "predict {ckpt} {tmp}/clip.mp4 --out {tmp}/p.json", raw("clip.mp4", b"not a video" * 9), 2,
     "{tmp}/clip.mp4"),
    ("no_default_model", "predict {tmp}/a.png --out {tmp}/p.json",
     both(png("a.png"), lambda ctx: ctx.monkeypatch.setattr("mirrornet.pretrained.DEFAULT_MODEL", ctx.tmp / "none.ckpt")),
     2, "no default model is packaged in this installation"),
    ("kpt_thr_nan", PREDICT + " --kpt-thr nan", png("a.png"), 2, "--kpt-thr nan"),
    ("line_width_zero", PREDICT + " --line-width 0", png("a.png"), 2, "--line-width 0"),
    ("image_is_an_empty_folder", PREDICT, folder("a.png"), 2, "folder {tmp}/a.png holds no image"),
    ("predict_ckpt_non_finite", "predict {tmp}/nan.ckpt {tmp}/a.png --out {tmp}/p.json",
     both(png("a.png"), ckpt_file("nan.ckpt", _poison)), 2, "nan.ckpt"),
    # --- predict: boxes file -----------------------------------------------------------------
    ("boxes_missing", PREDICT + " --boxes {tmp}/none.json", png("a.png"), 2, "boxes file not found: {tmp}/none.json"),
    ("boxes_not_json", PREDICT + " --boxes {tmp}/boxes.json", boxes("a.png: [0, 0, 10, 10]"), 2, "is not valid JSON"),
    ("boxes_not_a_mapping", PREDICT + " --boxes {tmp}/boxes.json", boxes("[[0, 0, 10, 10]]"), 2,
     "must map image names to boxes"),
    ("detection_bad_bbox", PREDICT + " --boxes {tmp}/det.json", text("det.json", '[{"image_id": 1, "bbox": [0, 0, -5, 9]}]'),
     2, "{tmp}/det.json: detection 0: 'bbox' must be [x, y, w, h]"),
    ("detection_names_no_image", PREDICT + " --boxes {tmp}/det.json", text("det.json", '[{"bbox": [0, 0, 5, 9]}]'),
     2, "detection 0 names no image"),
    ("detection_score_nan", PREDICT + " --boxes {tmp}/det.json",
     text("det.json", '[{"file_name": "a.png", "bbox": [0, 0, 5, 9], "score": NaN}]'), 2, "'score' must be a finite"),
    ("images_list_without_ids", PREDICT + " --boxes {tmp}/det.json --images-list {tmp}/images.json",
     both(text("det.json", '[{"image_id": 1, "bbox": [0, 0, 5, 9]}]'), text("images.json", '{"images": [{"file_name": "a.png"}]}')),
     2, "images list {tmp}/images.json: entry 0 must have 'id' and 'file_name'"),
    ("boxes_three_numbers", PREDICT + " --boxes {tmp}/boxes.json", boxes('{"a.png": [0, 0, 10]}'), 2, "'a.png'"),
    ("boxes_nested_wrong", PREDICT + " --boxes {tmp}/boxes.json", boxes('{"a.png": [[0, 0, 10, 10], [1, 2]]}'), 2,
     "'a.png'"),
    ("boxes_nan", PREDICT + " --boxes {tmp}/boxes.json", boxes('{"a.png": [0, 0, NaN, 10]}'), 2, "'a.png'"),
    ("boxes_zero_size", PREDICT + " --boxes {tmp}/boxes.json", boxes('{"a.png": [0, 0, 0, 10]}'), 2, "'a.png'"),
    ("boxes_1e308", PREDICT + " --boxes {tmp}/boxes.json", boxes('{"a.png": [0, 0, 1e308, 1e308]}'), 2, "a.png"),
    ("boxes_without_the_image", PREDICT + " --boxes {tmp}/boxes.json", boxes('{"b.png": [0, 0, 10, 10]}'), 2,
     "image {tmp}/a.png has no entry in the boxes file"),
    ("boxes_duplicate_image", PREDICT + " --boxes {tmp}/boxes.json",
     boxes('{"a.png": [0, 0, 10, 10],\n "a.png": [1, 1, 5, 5]}'), 2, "(line 2): image 'a.png' has two entries"),
    ("boxes_nested_too_deeply", PREDICT + " --boxes {tmp}/boxes.json", boxes("[" * 200000 + "]" * 200000), 2,
     "boxes.json is nested too deeply"),
    # --- predict: output paths ---------------------------------------------------------------
    ("predict_out_is_a_folder", "predict {ckpt} {tmp}/a.png --out {tmp}/sub", both(png("a.png"), folder("sub")), 2,
     "--out {tmp}/sub is a folder"),
    ("predict_out_under_a_file", "predict {ckpt} {tmp}/a.png --out {tmp}/file/p.json",
     both(png("a.png"), text("file", "x")), 2, "{tmp}/file is a file"),
    ("predict_out_unwritable", "predict {ckpt} {tmp}/a.png --out {tmp}/locked/p.json",
     both(png("a.png"), locked("locked")), 2, "--out {tmp}/locked/p.json: cannot write"),
    ("predict_out_is_the_image", "predict {ckpt} {tmp}/a.png --out {tmp}/a.png", png("a.png"), 2,
     "would overwrite the input file"),
    ("predict_draw_is_a_file", PREDICT + " --draw {tmp}/file", both(png("a.png"), text("file", "x")), 2,
     "--draw {tmp}/file is a file"),
    # --- summary ------------------------------------------------------------------------------
    ("unknown_recognizer", "summary --recognizer bogus", None, 2, "unknown recognizer 'bogus'"),
    ("summary_unknown_dataset", "summary --dataset coco", None, 2, "'coco'"),
    ("summary_unknown_vae", "summary --vae huge", None, 2, "'huge'"),
    # --- export -------------------------------------------------------------------------------
    ("opset_zero", "export {ckpt} --onnx {tmp}/a.onnx --opset 0", None, 2, "--opset 0"),
    ("opset_99", "export {ckpt} --onnx {tmp}/a.onnx --opset 99", None, 2, "--opset 99"),
    ("export_ckpt_missing", "export {tmp}/none.ckpt --onnx {tmp}/a.onnx", None, 2, "{tmp}/none.ckpt"),
    ("export_ckpt_foreign", "export {tmp}/other.ckpt --onnx {tmp}/a.onnx",
     ckpt_file("other.ckpt", lambda p: {"weights": torch.zeros(3)}), 2, "other.ckpt is not a MirrorNet checkpoint"),
    ("onnx_is_a_folder", "export {ckpt} --onnx {tmp}/sub", folder("sub"), 2, "--onnx {tmp}/sub is a folder"),
    ("onnx_under_a_file", "export {ckpt} --onnx {tmp}/file/a.onnx", text("file", "x"), 2, "{tmp}/file is a file"),
    ("onnx_unwritable", "export {ckpt} --onnx {tmp}/locked/a.onnx", locked("locked"), 2, "permission denied"),
    ("export_unknown_exporter", "export {ckpt} --onnx {tmp}/a.onnx --exporter jit", None, 2, "'jit'"),
]


# ---------------------------------------------------------------------------------------------
# Fixtures and the test


@pytest.fixture(scope="module")
def lsp_folder(tmp_path_factory) -> Path:
    """A small LSP-format folder of synthetic people (8 training, 8 test images, silhouettes)."""
    from mirrornet.data.synthetic import export_synthetic

    root = tmp_path_factory.mktemp("fuzz_data") / "lsp"
    export_synthetic(root, format="lsp", num=16, size=64, seed=3, difficulty=0.3, progress=False)
    return root


def _files(root: Path) -> set[str]:
    """Every file and folder under ``root``, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("argv,setup,status,fragment", [pytest.param(*row[1:], id=row[0]) for row in ROWS])
def test_bad_input(argv, setup, status, fragment, tmp_path, checkpoint, lsp_folder, capsys, monkeypatch) -> None:
    """One bad input: its status, ``error: ...`` naming the culprit, no traceback, and no file or
    folder added under the test's folder (the named outputs first of all)."""
    monkeypatch.chdir(tmp_path)  # a default output folder (runs/...) would land here and be seen
    ctx = SimpleNamespace(tmp=tmp_path, ckpt=checkpoint, lsp=lsp_folder, monkeypatch=monkeypatch)
    if setup is not None:
        setup(ctx)
    names = {"tmp": str(tmp_path), "tiny": str(TINY), "ckpt": str(checkpoint), "lsp": str(lsp_folder)}
    args = [token.format(**names) for token in argv.split()]
    outputs = [Path(args[i + 1]) for i, a in enumerate(args[:-1]) if a in OUTPUT_OPTIONS]
    new_outputs = [p for p in outputs if not p.exists()]
    before = _files(tmp_path)
    capsys.readouterr()

    code = main(args)

    err = capsys.readouterr().err
    assert code == status, err
    assert err.startswith("error: ") or "\nerror: " in err, err
    assert "Traceback" not in err, err
    assert fragment.format(**names) in err, err
    for path in new_outputs:
        assert not path.exists(), f"{path} was left behind"
    assert _files(tmp_path) == before, "the command left files behind"


def test_the_table_covers_every_verb() -> None:
    """Every verb has rows, and every case id is unique."""
    verbs = {argv.split()[0] for _, argv, *_ in ROWS}
    assert verbs == {"demo", "synth", "train", "evaluate", "predict", "summary", "export"}
    assert len(ROWS) >= 45 and len({row[0] for row in ROWS}) == len(ROWS)


# ---------------------------------------------------------------------------------------------
# Data that cannot serve a stage is refused before any work


def test_a_stage_without_data_fails_at_once_leaving_nothing(tmp_path, lsp_folder, capsys, monkeypatch) -> None:
    """LSP files without silhouettes and no data.mask_*: ψ's stage has no data, so the run stops
    before a trainer is built, and --out is never created."""
    import mirrornet.training.run as run

    def no_training(*args, **kwargs):
        raise AssertionError("a trainer was built before the data of every stage was checked")

    monkeypatch.setattr(run, "_make_trainer", no_training)
    root = tmp_path / "lsp"
    shutil.copytree(lsp_folder, root)
    for mask in root.glob("images/*_segmentation.png"):
        mask.unlink()  # LSP itself has no silhouettes: ψ's stage has no data
    out = tmp_path / "run"
    code = main(["train", str(TINY), "--out", str(out), "--no-progress",
                 "--set", "data.format=lsp", f"data.root={root}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert "silhouette" in err and "data.mask_root" in err
    assert not out.exists()  # no config.yaml, checkpoints or logs
