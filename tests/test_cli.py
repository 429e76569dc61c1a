"""The `mirrornet` command line: every verb's --help, train/evaluate on the tiny preset, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrornet.cli import build_parser, main

TINY = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "tiny.yaml"
VERBS = ("demo", "synth", "train", "evaluate", "predict", "summary", "export")


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([verb, "--help"])
    assert info.value.code == 0
    assert "usage: mirrornet " + verb in capsys.readouterr().out


def test_train_then_evaluate(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["train", str(TINY), "--out", str(out), "--stages", "baseline", "--no-progress",
                 "--set", "train.epochs.baseline=1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Baseline" in printed and "PCK@0.2" in printed and "Total" in printed
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["baseline"]
    assert main(["evaluate", str(out / "checkpoints" / "baseline.ckpt"), "--data-format", "synthetic", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metric"] == "PCK@0.2" and set(report["groups"]) >= {"Head", "Total"}
    assert report["num_people"] == 8  # tiny.yaml's synthetic test people
    # A second train into the same folder without --resume is refused; with it, nothing to redo.
    assert main(["train", str(TINY), "--out", str(out), "--stages", "baseline", "--set", "train.epochs.baseline=1"]) == 1
    assert "--resume" in capsys.readouterr().err
    assert main(["train", str(TINY), "--out", str(out), "--stages", "baseline", "--resume", "--no-progress",
                 "--set", "train.epochs.baseline=1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["baseline"]["groups"] == results["baseline"]["groups"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--set", "train.lrr=1"], "train.lr"),
        (["--set", "train.batch_size=big"], "'big'"),
        (["--set", "data.format=lsp", "data.root=/nonexistent/lsp"], "/nonexistent/lsp"),
        (["--set", "data.synthetic_num_train=4", "data.annotated_ratio=0.1"], "no annotated image"),
        (["--stages", "finetune"], "finetune"),
    ],
)
def test_user_errors_exit_cleanly(tmp_path, capsys, args, needle) -> None:
    code = main(["train", str(TINY), "--out", str(tmp_path / "x"), "--no-progress", *args])
    assert code in (1, 2)
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and "Traceback" not in err


def test_missing_config_and_checkpoint(tmp_path, capsys) -> None:
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "none.ckpt"), "--data-format", "synthetic"]) == 2
    assert "none.ckpt" in capsys.readouterr().err
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    assert main(["export", str(tmp_path / "junk.ckpt"), "--onnx", str(tmp_path / "a.onnx")]) == 2
    assert "junk.ckpt" in capsys.readouterr().err


def test_summary_json(capsys) -> None:
    assert main(["summary", "--recognizer", "hourglass_1x32", "--vae", "small", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["network"] for r in rows) and all("params" in r for r in rows)


def test_synth_writes_a_dataset(tmp_path, capsys) -> None:
    out = tmp_path / "lsp"
    assert main(["synth", "--out", str(out), "--format", "lsp", "--num", "4", "--size", "64", "--no-progress"]) == 0
    assert (out / "joints.mat").is_file()


def test_parser_lists_all_verbs() -> None:
    help_text = build_parser().format_help()
    for verb in VERBS:
        assert verb in help_text


@pytest.fixture(scope="module")
def lsp_folder(tmp_path_factory) -> Path:
    from mirrornet.data.synthetic import export_synthetic

    out = tmp_path_factory.mktemp("data") / "lsp"
    export_synthetic(out, format="lsp", num=24, size=64, seed=1, difficulty=0.3, progress=False)
    return out


def test_train_and_evaluate_on_lsp_files(tmp_path, capsys, lsp_folder) -> None:
    out = tmp_path / "run"
    sets = ["data.format=lsp", f"data.root={lsp_folder}", "train.epochs.alpha_pretrain=1", "train.epochs.baseline=1"]
    assert main(["train", str(TINY), "--out", str(out), "--stages", "baseline", "--no-progress", "--set", *sets]) == 0
    capsys.readouterr()
    ckpt = out / "checkpoints" / "baseline.ckpt"
    assert main(["evaluate", str(ckpt), "--data-format", "lsp", "--root", str(lsp_folder), "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_people"] == 12 and report["metric"] == "PCK@0.2"
    assert main(["evaluate", str(ckpt), "--data-format", "lsp", "--root", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_image_is_named(tmp_path, capsys, lsp_folder, workers) -> None:
    import shutil

    data = tmp_path / "lsp"
    shutil.copytree(lsp_folder, data)
    victim = sorted((data / "images").glob("im*.jpg"))[0]
    victim.write_bytes(b"\x00garbage")
    sets = ["data.format=lsp", f"data.root={data}", "data.annotated_ratio=1.0", f"data.num_workers={workers}",
            "train.epochs.alpha_pretrain=1"]
    code = main(["train", str(TINY), "--out", str(tmp_path / "run"), "--stages", "pretrain_alpha", "--no-progress",
                 "--set", *sets])
    err = capsys.readouterr().err
    assert code == 2 and victim.name in err and err.startswith("error: ") and "Traceback" not in err
