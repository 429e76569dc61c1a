"""The sections that read real photos or run α alone: ``data`` (the data pipeline), ``inference``
(α per backend) and ``predict`` (``mirrornet predict`` end to end)."""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.throughput.plan import REPO, Plan
from benchmarks.throughput.timing import _error_text, _free, _sync, profile_top, timed_calls

def lspet_root(data_root: Path) -> Path | None:
    """``data_root/lspet`` when it holds LSPET (joints.mat and images/), else None."""
    root = Path(data_root) / "lspet"
    return root if (root / "joints.mat").is_file() and (root / "images").is_dir() else None


def _no_lspet(data_root: Path) -> dict[str, str]:
    """The result of a section that reads LSPET photos when ``data_root`` holds none."""
    return {"skipped": f"no LSPET images under {data_root} (give --data-root, the folder holding lspet/)"}


def run_data(plan: Plan, data_root: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Images/s of one worker process (one thread) turning LSPET photos into training items, and
    the time of each part: decode, crop (+ augmentation), x* (area-averaged shrink), target
    encoding, normalisation; "other" is the rest of ``PoseDataset.__getitem__``. The files are
    read once first, so that the figures are CPU work, not disk reads."""
    from mirrornet.config import config_from_dict
    from mirrornet.data import PoseDataset, load_image
    from mirrornet.data.dataset import item_seed
    from mirrornet.data.lsp import read_lspet
    from mirrornet.data.images import IMAGE_BACKENDS, opencv_module
    from mirrornet.data.transforms import apply_affine, get_affine, normalize_image, warp_affine, warp_affine_area
    from mirrornet.data.builders import build_codec_for, build_transform

    root = lspet_root(data_root)
    if root is None:
        return _no_lspet(data_root)
    records = read_lspet(root)[: plan.data_images]
    for record in records:
        # The files in the page cache, as after a training run's first epoch: the figures are
        # CPU work, not disk reads.
        Path(record.image).read_bytes()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a DataLoader worker
    rows = []
    backends = [b for b in IMAGE_BACKENDS if b != "opencv" or opencv_module() is not None]
    try:
        for size, backend in itertools.product(plan.data_sizes, backends):
            config = config_from_dict({"data": {"format": "synthetic", "input_size": [size, size], "codec": "onehot",
                                                "image_backend": backend}})
            transform = build_transform(config, augment=True)
            codec = build_codec_for(config)
            dataset = PoseDataset(records, transform, codec, seed=0)
            dataset[0]  # warm-up: imports, first allocations
            start = time.perf_counter()
            for i in range(len(dataset)):
                dataset[i]
            total = time.perf_counter() - start
            parts = dict.fromkeys(("decode", "crop", "x_star", "encode", "normalise"), 0.0)
            for i, record in enumerate(records):
                t0 = time.perf_counter()
                image = load_image(record.image, exif_orientation=False, backend=backend)
                t1 = time.perf_counter()
                mult, rot, flipped = transform.sample(np.random.default_rng(item_seed(0, 0, i)))
                affine = get_affine(record.center, record.scale * mult, transform.input_size, rot, flipped, transform.padding)
                crop = warp_affine(image, affine, transform.input_size, backend)
                t2 = time.perf_counter()
                x_star = warp_affine_area(image, transform.heatmap_affine(affine), transform.heatmap_size, backend)
                t3 = time.perf_counter()
                codec.encode(apply_affine(record.joints, affine), record.labelled)
                t4 = time.perf_counter()
                normalize_image(crop)
                normalize_image(x_star)
                t5 = time.perf_counter()
                for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    parts[key] += dt
            n = len(records)
            per_item = {k: 1e3 * v / n for k, v in parts.items()}
            per_item["other"] = max(0.0, 1e3 * total / n - sum(per_item.values()))
            rows.append({"input": size, "image_backend": backend, "images": n, "images_per_s": n / total,
                         "ms_per_image": per_item})
            log(f"  {size}×{size}, {backend}: {n / total:.0f} images/s per worker "
                + ", ".join(f"{k} {v:.2f} ms" for k, v in per_item.items()))
    finally:
        torch.set_num_threads(threads)
    return {"rows": rows, "root": str(root)}


def best_data_row(data: dict[str, Any]) -> dict[str, Any] | None:
    """The fastest measured data-pipeline row at 256×256 (over the warp backends), or None."""
    rows = [r for r in data.get("rows", []) if r["input"] == 256]
    return max(rows, key=lambda r: r["images_per_s"], default=None)


# ------------------------------------------------------------------------------------------------
# Inference


def alpha_gflops(recognizer: str, size: int) -> float:
    """GFLOPs of one forward pass of α for one image (2 × its true MACs, counted on the meta
    device: no memory, no arithmetic)."""
    from mirrornet.nets import build_recognizer
    from mirrornet.nets.summary import count_macs

    with torch.device("meta"):
        alpha = build_recognizer(recognizer).eval()
    return 2 * count_macs(alpha, torch.empty(1, 3, size, size, device="meta"), transposed_at_output=False) / 1e9


def run_inference(plan: Plan, device: torch.device, cache: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """α images/s at each batch: PyTorch eager and ONNX Runtime on the CPU (``plan.threads``
    threads each), PyTorch fp32 / bf16 (channels_last) / bf16 compiled on a GPU."""
    from mirrornet.export import LastStack
    from mirrornet.nets import build_recognizer
    from mirrornet.onnx_runtime import onnxruntime_available

    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for recognizer, size, batches in plan.inference:
        torch.manual_seed(0)  # the same α as the predict section's checkpoint: one export serves both
        alpha = build_recognizer(recognizer).eval()
        for backend in plan.inference_backends:
            if backend == "onnx" and not onnxruntime_available():
                skipped.append({"section": "inference", "what": f"{recognizer} onnx", "reason": "onnxruntime is not installed"})
                continue
            row: dict[str, Any] = {"recognizer": recognizer, "input": size, "backend": backend, "batches": {},
                                   "gflops_per_image": alpha_gflops(recognizer, size)}
            try:
                fn_for = _inference_fn(backend, alpha, size, device, plan, cache, row)
            except Exception as exc:  # noqa: BLE001 - an export or compile failure is reported
                skipped.append({"section": "inference", "what": f"{recognizer} {backend}", "reason": _error_text(exc)})
                continue
            for batch in batches:
                x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
                error = None
                try:
                    fn = fn_for(x)
                    times = timed_calls(fn, device, plan.inference_repeats, plan.inference_budget_s,
                                        warmup=2 if "compile" in backend else 1)
                except Exception as exc:  # noqa: BLE001 - e.g. a batch that does not fit: reported
                    error = _error_text(exc)
                if error is not None:
                    fn = None
                    _free(device)
                    skipped.append({"section": "inference", "what": f"{recognizer} {backend} batch {batch}", "reason": error})
                    continue
                median = statistics.median(times)
                row["batches"][str(batch)] = {"latency_ms": 1e3 * median, "images_per_s": batch / median, "runs": len(times)}
                log(f"  {recognizer} {size}×{size} {backend:18s} batch {batch:3d}: {1e3 * median:9.2f} ms, "
                    f"{batch / median:8.1f} images/s")
            if backend == "torch" and plan.profile and device.type == "cpu" and "1" in row["batches"]:
                model = LastStack(alpha).eval()
                x = torch.randn(1, 3, size, size)
                with torch.inference_mode():
                    row["profile"] = profile_top(lambda: model(x), device, steps=1)
            rows.append(row)
        del alpha
    return {"rows": rows, "skipped": skipped}


def _inference_fn(
    backend: str, alpha: torch.nn.Module, size: int, device: torch.device, plan: Plan, cache: Path, row: dict[str, Any],
) -> Callable[[torch.Tensor], Callable[[], Any]]:
    """A function of the input batch returning the zero-argument call that runs α on it."""
    from mirrornet.export import LastStack
    from mirrornet.onnx_runtime import OnnxRecognizer

    if backend == "onnx":
        runner = OnnxRecognizer(alpha, (size, size), threads=plan.threads, cache=cache)
        row["export_s"] = runner.export_seconds
        row["threads"] = runner.threads
        return lambda x: (lambda: runner(x))
    model = LastStack(alpha).eval().to(device)
    bf16 = "bf16" in backend
    if bf16:
        model.to(memory_format=torch.channels_last)
    if "compile" in backend:
        model = torch.compile(model)
    row["threads"] = torch.get_num_threads() if device.type == "cpu" else None

    def call_for(x: torch.Tensor) -> Callable[[], Any]:
        x = x.to(device)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)

        def call() -> Any:
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                return model(x)

        return call

    return call_for


# ------------------------------------------------------------------------------------------------
# mirrornet predict


def run_predict(plan: Plan, device: torch.device, data_root: Path, cache: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """``mirrornet predict`` on real LSPET photos: images/s of ``predict_images`` per backend
    (model loaded, export cached), the time of each part of an image (decode, crop and item,
    α, the rest), and the wall clock of the whole command with the faster backend."""
    from mirrornet.checkpoints import build_model, load_checkpoint
    from mirrornet.config import config_from_dict
    from mirrornet.onnx_runtime import onnxruntime_available, select_backend
    from mirrornet.predict import predict_images
    from mirrornet.training.checkpoint import save_checkpoint

    root = lspet_root(data_root)
    if root is None:
        return _no_lspet(data_root)
    images = sorted((root / "images").iterdir())[: plan.predict_images]
    with tempfile.TemporaryDirectory(prefix="mirrornet-throughput-") as tmp:
        if plan.predict_checkpoint:
            ckpt = _predict_checkpoint(plan.predict_checkpoint)
        else:
            ckpt = Path(tmp) / "model.ckpt"
            # Only α runs at prediction time; the small VAEs keep the checkpoint light.
            config = config_from_dict({
                "data": {"format": "synthetic", "input_size": [plan.predict_size] * 2, "codec": "onehot"},
                "model": {"recognizer": plan.predict_recognizer, "vae_preset": "small"},
            })
            torch.manual_seed(0)
            save_checkpoint(ckpt, {"config": config.to_dict(), "stage": "baseline", "epoch": 0, "completed": True,
                                   "state_dict": build_model(config).state_dict(), "optimizer": None, "history": []})
        start = time.perf_counter()
        model, config = load_checkpoint(ckpt)
        load_s = time.perf_counter() - start
        size, recognizer = int(config.data.input_size[0]), config.model.recognizer
        out: dict[str, Any] = {"recognizer": recognizer, "input": size, "images": len(images), "backends": {},
                               "gflops_per_image": alpha_gflops(recognizer, size), "load_s": load_s,
                               "checkpoint": plan.predict_checkpoint or "random weights"}
        model.eval().to(device)
        backends = ["torch"] + (["onnx"] if device.type == "cpu" and onnxruntime_available() else [])
        for backend in backends:
            start = time.perf_counter()
            choice = select_backend(model, backend, device, (size, size), cache=cache)
            setup_s = time.perf_counter() - start
            predict_images(model, config, images[:1], device=device, backend=choice)  # warm-up
            start = time.perf_counter()
            predict_images(model, config, images, device=device, backend=choice)
            total = time.perf_counter() - start
            n = len(images)
            per_image = {k: 1e3 * v / n for k, v in _predict_parts(images, config, choice, device).items()}
            per_image["rest"] = max(0.0, 1e3 * total / n - sum(per_image.values()))
            out["backends"][backend] = {"images_per_s": n / total, "setup_s": setup_s, "ms_per_image": per_image,
                                        "export_s": getattr(choice.runner, "export_seconds", 0.0),
                                        "cached": getattr(choice.runner, "cached", None)}
            log(f"  predict {recognizer} {size}×{size} {backend:5s}: {n / total:6.2f} images/s; "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in per_image.items()))
        best = max(out["backends"], key=lambda b: out["backends"][b]["images_per_s"])
        argv = ["predict", str(ckpt), *map(str, images), "--out", str(Path(tmp) / "preds.json"), "--no-progress",
                "--backend", best] + (["--cpu"] if device.type == "cpu" else [])
        # A fresh process, as a user runs it: Python's start, the imports and the checkpoint load
        # count; the export made above is found in the cache.
        env = dict(os.environ, MIRRORNET_CACHE_DIR=str(cache.parent), OMP_NUM_THREADS=str(plan.threads),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "mirrornet.cli", *argv], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        out["command"] = {"backend": best, "status": proc.returncode, "wall_s": wall, "images_per_s": len(images) / wall}
        if proc.returncode:
            out["command"]["stderr"] = proc.stderr[-2000:]
        log(f"  mirrornet predict --backend {best} on {len(images)} photos: {wall:.1f} s "
            f"(process start, imports and checkpoint load included), status {proc.returncode}")
    return out


def _predict_checkpoint(name: str) -> Path:
    """The checkpoint ``--predict-model`` names: ``default`` is the packaged default model."""
    if name == "default":
        from mirrornet.pretrained import default_model_path

        return default_model_path()
    return Path(name)


def _predict_parts(images: list[Path], config: Any, choice: Any, device: torch.device) -> dict[str, float]:
    """Seconds spent, over ``images``, in each part of a prediction: decode, crop and item, α."""
    from mirrornet.data import PoseDataset, load_image
    from mirrornet.data.builders import build_codec_for, build_transform
    from mirrornet.data.records import PoseRecord
    from mirrornet.predict import box_to_center_scale
    from mirrornet.skeleton import NUM_JOINTS

    transform, codec = build_transform(config, augment=False), build_codec_for(config)
    size = tuple(config.data.input_size)
    parts = dict.fromkeys(("decode", "crop_and_item", "alpha"), 0.0)
    with torch.no_grad():
        for path in images:
            t0 = time.perf_counter()
            image = load_image(path)
            t1 = time.perf_counter()
            h, w = image.shape[:2]
            center, scale = box_to_center_scale([0, 0, w, h], size, config.data.padding)
            record = PoseRecord(image=image, joints=np.zeros((NUM_JOINTS, 2)), visible=np.zeros(NUM_JOINTS),
                                center=center, scale=scale, image_id=str(path))
            item = PoseDataset([record], transform, codec)[0]
            t2 = time.perf_counter()
            choice.runner.recognize(item["image"][None].to(device))
            _sync(device)
            t3 = time.perf_counter()
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                parts[key] += dt
    return parts
