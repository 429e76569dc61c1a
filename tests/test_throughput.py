"""benchmarks.throughput in its tiny setting (``--smoke``), its GPU logic on a CPU, and the
speed options of the config (train.channels_last, train.compile)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "cpu" / "tiny.yaml"


@pytest.fixture(scope="module")
def tp():
    """The benchmark package (``python -m benchmarks.throughput``)."""
    import benchmarks.throughput

    return benchmarks.throughput


@pytest.fixture(scope="module")
def lspet_root(tmp_path_factory) -> Path:
    """A folder holding ``lspet/``: four synthetic people in the LSPET file format."""
    from mirrornet.data.synthetic_export import export_synthetic

    root = tmp_path_factory.mktemp("data")
    export_synthetic(root / "lspet", format="lspet", num=4, size=96, progress=False)
    return root


def test_smoke_training_measures_every_stage_kind_and_the_options(tp, tmp_path) -> None:
    md, out = tmp_path / "RESULTS.md", tmp_path / "throughput.json"
    lines: list[str] = []
    argv = ["--smoke", "--device", "cpu", "--sections", "training", "options", "--results-md", str(md), "--json-out", str(out)]
    results = tp.run(argv, log=lines.append)
    rows = results["training"]["rows"]
    fp32 = {r["kind"]: r for r in rows if r["variant"] == "fp32"}
    assert set(fp32) == {k for k, _ in tp.STAGE_KINDS}
    for row in fp32.values():
        assert row["images_per_s"] > 0 and row["flops_per_image"] > 0
        assert row["mfu"] is None  # no peak for a CPU
    options = {(r["variant"], r["kind"]) for r in rows}
    assert ("channels_last", tp.MIRRORNET_KIND) in options and ("fused_adam", tp.BASELINE_KIND) in options
    skipped = {s["what"].split(", ")[-1]: s["reason"] for s in results["training"]["skipped"]}
    assert "GPU option" in skipped["bf16"] and "--quick" in skipped["compile"]
    ratio = next(r for r in results["training"]["ratios"] if r["variant"] == "fp32")
    assert ratio["flop_ratio"] > 1 and ratio["time_ratio"] > 0
    # Written: one appended section and the raw figures; a second run appends another section.
    text = md.read_text()
    assert "## Throughput" in text and "### Training steps" in text and "labelled bound (Eq. 27)" in text
    assert json.loads(out.read_text())["meta"]["device"] == "cpu"
    tp.run(argv, log=lines.append)
    assert md.read_text().count("## Throughput") == 2


def test_smoke_data_inference_and_predict_on_lspet_files(tp, lspet_root) -> None:
    results = tp.run(["--smoke", "--sections", "data", "inference", "predict", "--data-root", str(lspet_root),
                      "--threads", "1", "--no-write"], log=lambda _: None)
    data = results["data"]["rows"][0]
    assert data["images"] == 3 and data["images_per_s"] > 0
    assert set(data["ms_per_image"]) == {"decode", "crop", "x_star", "encode", "normalise", "other"}
    backends = {r["backend"]: r for r in results["inference"]["rows"]}
    assert set(backends) == {"torch", "onnx"}
    assert set(backends["onnx"]["batches"]) == {"1", "2"} and backends["onnx"]["export_s"] >= 0
    predict = results["predict"]
    assert set(predict["backends"]) == {"torch", "onnx"}
    assert predict["command"]["status"] == 0, predict["command"].get("stderr")
    names = [t["target"] for t in results["targets"]]
    assert any("ONNX Runtime" in n for n in names) and any("mirrornet predict" in n for n in names)
    markdown = tp.render_markdown(results)
    assert "### Data pipeline" in markdown and "### Inference" in markdown and "mirrornet predict" in markdown


def test_predict_model_runs_the_given_checkpoint_and_its_target(tp, lspet_root, tmp_path, monkeypatch) -> None:
    from mirrornet import pretrained
    from mirrornet.checkpoints import build_model
    from mirrornet.config import config_from_dict
    from mirrornet.training.checkpoint import save_checkpoint

    config = config_from_dict({"data": {"format": "synthetic", "input_size": [32, 32], "codec": "onehot"},
                               "model": {"recognizer": "hourglass_1x32", "vae_preset": "small"}})
    ckpt = tmp_path / "model.ckpt"
    save_checkpoint(ckpt, {"config": config.to_dict(), "stage": "baseline", "epoch": 0, "completed": True,
                           "state_dict": build_model(config).state_dict(), "optimizer": None, "history": []})
    argv = ["--smoke", "--sections", "predict", "--data-root", str(lspet_root), "--threads", "1", "--no-write"]
    results = tp.run([*argv, "--predict-model", str(ckpt)], log=lambda _: None)
    # The checkpoint's own input size, not the smoke plan's 64.
    assert results["predict"]["input"] == 32 and results["predict"]["checkpoint"] == str(ckpt)
    monkeypatch.setattr(pretrained, "DEFAULT_MODEL", ckpt)
    results = tp.run([*argv, "--predict-model", "default"], log=lambda _: None)
    target = next(t for t in results["targets"] if "mirrornet predict" in t["target"])
    assert "≥ 20 images/s (the default model" in target["target"]


def test_sections_without_real_images_are_skipped_with_the_reason(tp, tmp_path) -> None:
    results = tp.run(["--smoke", "--sections", "data", "predict", "--data-root", str(tmp_path / "none"), "--no-write"],
                     log=lambda _: None)
    assert "no LSPET images" in results["data"]["skipped"]
    assert "no LSPET images" in results["predict"]["skipped"]
    assert "Not measured: no LSPET images" in tp.render_markdown(results)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_device_cuda_without_a_gpu_is_refused(tp) -> None:
    with pytest.raises(SystemExit, match="no CUDA device"):
        tp.run(["--device", "cuda", "--smoke", "--no-write"], log=lambda _: None)


def test_skip_logic_of_the_gpu_options(tp) -> None:
    v = tp.VARIANTS
    assert "GPU option" in tp.variant_skip_reason(v["bf16"], "cpu", quick=False)
    assert "--quick" in tp.variant_skip_reason(v["compile"], "cpu", quick=True)
    assert tp.variant_skip_reason(v["compile"], "cpu", quick=False) is None
    assert tp.variant_skip_reason(v["channels_last"], "cpu", quick=True) is None
    assert tp.variant_skip_reason(v["fused_adam"], "cpu", quick=True) is None
    # On a GPU every option runs; --quick compiles only combined with the others.
    for name in ("fp32", "bf16", "channels_last", "fused_adam", "bf16+cl+fused", "bf16+cl+fused+compile"):
        assert tp.variant_skip_reason(v[name], "cuda", quick=True) is None, name
    assert "combined" in tp.variant_skip_reason(v["compile"], "cuda", quick=True)
    assert tp.variant_skip_reason(v["compile"], "cuda", quick=False) is None


def test_gpu_plan_is_the_papers_sizes(tp) -> None:
    plan = tp.make_plan("cuda", quick=True)
    assert [s.recognizer for s in plan.train_setups] == ["hrnet_w32", "resnet50", "hourglass"]
    assert {(s.vae_preset, s.input_size, s.batch_size) for s in plan.train_setups} == {("paper", 256, 128)}
    assert plan.option_setups == [plan.train_setups[0].label] and "bf16+cl+fused" in plan.train_variants
    assert all(batches == (1, 64, 256) for _, _, batches in plan.inference)
    assert plan.predict_recognizer == "hrnet_w32" and plan.predict_size == 256
    full = tp.make_plan("cuda")
    assert len(full.option_setups) == 3 and "bf16+cl+fused+compile" in full.train_variants
    cpu = tp.make_plan("cpu", quick=True)
    assert [s.recognizer for s in cpu.train_setups] == ["hourglass_1x32"]
    assert ("hrnet_w32", 256, (1,)) in cpu.inference
    custom = tp.make_plan("cuda", quick=True, recognizers=["resnet50"], batch_size=64)
    assert [(s.recognizer, s.input_size, s.batch_size) for s in custom.train_setups] == [("resnet50", 256, 64)]


def test_device_peaks_and_verdicts(tp) -> None:
    assert tp.device_peak_tflops("NVIDIA H100 80GB HBM3", bf16=True) == 989.0
    assert tp.device_peak_tflops("NVIDIA H100 PCIe", bf16=True) == 756.0
    assert tp.device_peak_tflops("NVIDIA H200", bf16=False) == 494.7
    assert tp.device_peak_tflops("NVIDIA A100-SXM4-80GB", bf16=True) == 312.0
    assert tp.device_peak_tflops("Tesla T4", bf16=True) is None
    assert tp.verdict(1600, 1500) == (True, "met")
    assert tp.verdict(1200, 1500) == (False, "missed by 20 %")
    assert tp.verdict(0.6, 0.5, higher_is_better=False) == (False, "missed by 20 %")
    assert tp.verdict(None, 1.0) == (None, "not measured")
    assert tp.paper_flop_ratio("hrnet_w32") == pytest.approx(18.64 / 9.49)


def test_bf16_autocast_channels_last_and_fused_adam_steps_run(tp) -> None:
    """The GPU variant's code path (autocast, channels_last inputs, fused Adam), here on a CPU."""
    from dataclasses import replace

    plan = replace(tp.make_plan("cpu", smoke=True), warmup=0)  # bfloat16 on a CPU is slow: one step each
    setup = replace(plan.train_setups[0], batch_size=2)
    result = tp.measure_training(setup, tp.VARIANTS["bf16+cl+fused"], [tp.BASELINE_KIND, tp.MIRRORNET_KIND], plan,
                                 torch.device("cpu"), log=lambda _: None)
    assert "skipped" not in result, result
    assert result["batch"] == 2 and set(result["kinds"]) == {tp.BASELINE_KIND, tp.MIRRORNET_KIND}
    assert all(k["images_per_s"] > 0 for k in result["kinds"].values())


def test_gpu_report_marks_targets_met_and_missed(tp) -> None:
    label = "hrnet_w32 (paper VAEs)"

    def row(variant: str, kind: str, rate: float, mfu: float | None) -> dict:
        return {"setup": label, "recognizer": "hrnet_w32", "input": 256, "batch": 128, "variant": variant, "kind": kind,
                "images_per_s": rate, "images_per_s_range": [rate, rate], "step_ms": 128e3 / rate,
                "flops_per_image": 1e11, "mfu": mfu, "peak_tflops": 989.0,
                "profile": {"top": [{"op": "conv", "share": 0.6}], "wall_s": 1.0, "gpu_busy": 0.9}}

    rows = [row("fp32", tp.BASELINE_KIND, 1000.0, 0.2), row("fp32", tp.MIRRORNET_KIND, 400.0, 0.1),
            row("bf16+cl+fused", tp.BASELINE_KIND, 4000.0, 0.4), row("bf16+cl+fused", tp.MIRRORNET_KIND, 1600.0, 0.2)]
    flops = {label: {tp.BASELINE_KIND: 5.7e10, tp.MIRRORNET_KIND: 1.0e11}}
    results = {
        "meta": {"device": "cuda", "date": "d", "machine": "m", "load_average": "0", "torch": "t", "onnxruntime": "o",
                 "python": "p", "command": "c", "wall_s": 60.0, "device_name": "NVIDIA H100 80GB HBM3", "threads": 2},
        "training": {"rows": rows, "flops": flops, "ratios": tp.training_ratios(rows, flops), "skipped": []},
        "data": {"rows": [{"input": 256, "images": 10, "images_per_s": 400.0,
                           "ms_per_image": {"decode": 1.0, "crop": 1.0, "x_star": 0.3, "encode": 0.1, "normalise": 0.1, "other": 0.0}}]},
        "inference": {"rows": [{"recognizer": "hrnet_w32", "input": 256, "backend": "torch-bf16", "threads": None,
                                "batches": {"256": {"latency_ms": 64.0, "images_per_s": 4000.0, "runs": 3}}}], "skipped": []},
    }
    tp.workers_needed(results)
    results["targets"] = tp.evaluate_targets(results)
    step = next(t for t in results["targets"] if "labelled step" in t["target"])
    assert step["verdict"] == "met" and "MFU 20.0 %" in step["note"]
    ratio = next(t for t in results["targets"] if "step-time ratio" in t["target"])
    assert ratio["value"] == pytest.approx((4000 / 1600) / (1.0e11 / 5.7e10))
    assert ratio["verdict"] == "missed by 30 %" and ratio["bound"]  # 2.5 / 1.75 = 1.43 > 1.1
    inference = next(t for t in results["targets"] if "inference" in t["target"])
    assert inference["verdict"] == "missed by 20 %"
    data = next(t for t in results["targets"] if "data pipeline" in t["target"])
    assert data["verdict"] == "missed by 20 %" and "decode" in data["bound"]
    assert results["data"]["workers_needed"]["workers"] == 4  # 1,600 / 400
    markdown = tp.render_markdown(results)
    assert "(20.0 %)" in markdown and "missed by 20 %" in markdown and "Workers needed" in markdown


# ---------------------------------------------------------------------------------------------
# train.channels_last and train.compile


def test_speed_options_are_typed_config_keys(tmp_path) -> None:
    from mirrornet.config import ConfigError, load_config

    config = load_config(TINY)
    assert config.train.channels_last is False and config.train.compile is False
    assert load_config(TINY, ["train.channels_last=true", "train.compile=true"]).train.compile is True
    with pytest.raises(ConfigError, match="train.compile"):
        load_config(TINY, ["train.compile=fast"])


def test_apply_speed_options_keeps_the_state_dict(tmp_path) -> None:
    from mirrornet.checkpoints import build_model
    from mirrornet.config import load_config
    from mirrornet.training.run import apply_speed_options

    config = load_config(TINY, ["train.channels_last=true", "train.compile=true"])
    model = build_model(config)
    keys = list(model.state_dict())
    apply_speed_options(model, config)
    conv = next(m for m in model.alpha.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert list(model.state_dict()) == keys  # compiled in place: the checkpoints do not change


def test_a_channels_last_stage_trains_and_its_checkpoint_loads(tmp_path) -> None:
    from mirrornet.checkpoints import build_model, read_checkpoint
    from mirrornet.config import load_config
    from mirrornet.training import run_experiment

    config = load_config(TINY, ["train.channels_last=true", "eval.final=false"])
    run_experiment(config, tmp_path / "run", stages=["pretrain_alpha"], progress=False)
    payload = read_checkpoint(tmp_path / "run" / "checkpoints" / "pretrain_alpha.ckpt")
    assert payload["completed"]
    build_model(config).load_state_dict(payload["state_dict"])
