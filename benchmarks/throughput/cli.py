"""Throughput of MirrorNet training and inference, measured side by side in one run.

One command measures, on one device and in one process, so that ratios between the figures hold
even on a machine that other jobs share:

* ``training`` — one optimiser step of every stage kind of the curriculum (α alone by Eq. 30,
  ψ, the two VAEs by Eqs. 31 + 34, the labelled bound Eq. 27, the semi-supervised bound Eq. 29)
  in images/s, on synthetic tensors (the data pipeline is left out; on a CPU with
  ``--train-threads`` threads, 1 by default as the CPU presets train). The stage kinds are
  measured in interleaved rounds, so that the MirrorNet ÷ baseline step-time ratio compares
  steps taken under the same load; it is printed beside the ratio of their FLOPs (counted by
  ``torch.utils.flop_counter.FlopCounterMode``, forward + backward) and Table 8's ratio of
  forward MACs. On a GPU: model FLOP utilisation (MFU) against the device's dense peak.
* ``options`` — fp32, bf16 autocast, channels_last, torch.compile (α) and fused Adam, alone and
  combined, for α alone and the labelled bound. Options a device cannot run, or that take too
  long for ``--quick`` (torch.compile on a CPU, or alone on a GPU), are skipped with the reason.
* ``data`` — the data pipeline on real LSPET images (JPEG decode, affine crop and augmentation,
  x*, target encoding, normalisation), images/s of one worker process (one thread) at 256×256
  and 64×64, with the time of each part.
* ``inference`` — α images/s at batch 1 and 64: PyTorch eager against ONNX Runtime on the CPU
  (``--threads`` intra-op threads each), PyTorch fp32 and bf16 on a GPU.
* ``predict`` — ``mirrornet predict`` on real photos (hrnet_w32 at 256×256, drawing off),
  images/s per backend with the time of each part, and the command's wall clock.

The figures are printed, appended to ``benchmarks/RESULTS.md`` as a dated section (machine,
torch version, command, one markdown table per section, and each target of the speed issue
marked met or missed by how much, with what bounds it), and written as JSON to
``benchmarks/results/throughput-<device>.json``.

Usage:
    python -m benchmarks.throughput --device cpu --quick   # CPU presets' networks; < 5 min on 2 cores
    python -m benchmarks.throughput --device cpu           # + every recognizer, batch 64, torch.compile
    python -m benchmarks.throughput --device cuda --quick  # the paper's three α at 256×256, options on HRNet
    python -m benchmarks.throughput --device cuda          # + the options grid for every recognizer
    python -m benchmarks.throughput --sections inference predict --recognizers hrnet_w32
    python -m benchmarks.throughput --smoke --sections training   # seconds, writes nothing

The real images come from ``--data-root`` (default ``../shared/data`` beside the repository,
holding ``lspet/``); without them the ``data`` and ``predict`` sections are skipped, saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import machine_description
from benchmarks.throughput.pipeline import best_data_row, run_data, run_inference, run_predict
from benchmarks.throughput.plan import DEFAULT_DATA_ROOT, MIRRORNET_KIND, REPO, SECTIONS, make_plan
from benchmarks.throughput.report import evaluate_targets, render_markdown
from benchmarks.throughput.training import run_training
from mirrornet.fileio import json_safe, write_text_atomic

def _onnxruntime_version() -> str:
    try:
        import onnxruntime

        return onnxruntime.__version__
    except ImportError:
        return "not installed"


def build_parser() -> argparse.ArgumentParser:
    """The command line of the benchmark."""
    doc = __doc__ or ""
    p = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=doc.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.splitlines()[1:]))
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available, else cpu")
    p.add_argument("--quick", action="store_true", help="few steps and the smallest useful set (< 5 min on 2 CPU cores)")
    p.add_argument("--smoke", action="store_true", help="tiny networks, one step: the tests' setting; writes nothing")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="folder holding lspet/ (default: ../shared/data)")
    p.add_argument("--threads", type=int, default=2,
                   help="CPU intra-op threads of PyTorch and ONNX Runtime for inference and predict (default 2)")
    p.add_argument("--train-threads", type=int, default=1,
                   help="CPU intra-op threads of the training steps (default 1, as the CPU presets train: with two, "
                        "small networks on a shared 2-core machine run up to 20× slower, their threads spinning "
                        "against each other)")
    p.add_argument("--recognizers", nargs="+", help="measure these recognizers instead of the plan's")
    p.add_argument("--batch-size", type=int, help="training batch size instead of the plan's")
    p.add_argument("--predict-model", metavar="CKPT", help="the predict section runs this checkpoint (`default`: the "
                   "packaged default model) instead of random weights of the plan's recognizer")
    p.add_argument("--results-md", type=Path, help="append the section here (default: benchmarks/RESULTS.md; --smoke: nowhere)")
    p.add_argument("--json-out", type=Path, help="raw figures (default: benchmarks/results/throughput-<device>.json; --smoke: nowhere)")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p


def run(argv: Sequence[str] | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark with ``argv``; returns the results dict (also written unless told not to).

    Raises:
        SystemExit: ``--device cuda`` without a CUDA device (status 2, saying so).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    log = log or (lambda message: print(message, flush=True))
    device_type = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device_type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda: no CUDA device is visible (torch.cuda.is_available() is False); "
                         "the GPU rows need a GPU")
    device = torch.device(device_type)
    if device.type == "cpu":
        torch.set_num_threads(max(1, args.threads))
    else:
        torch.backends.cudnn.benchmark = True  # the fastest convolution algorithms for fixed shapes
    plan = make_plan(device_type, quick=args.quick, smoke=args.smoke, threads=args.threads,
                     recognizers=args.recognizers, batch_size=args.batch_size)
    if args.predict_model:
        plan = replace(plan, predict_checkpoint=args.predict_model)
    command = "python -m benchmarks.throughput " + " ".join(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "load_average": " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "–",
        "torch": torch.__version__, "onnxruntime": _onnxruntime_version(), "python": platform.python_version(),
        "command": command.strip(), "device": device_type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "cores": os.cpu_count(), "threads": args.threads,
        "train_threads": args.train_threads if device_type == "cpu" else None,
        "quick": args.quick, "smoke": args.smoke, "sections": args.sections,
        "plan": asdict(plan),
    }}
    log(f"MirrorNet throughput on {results['meta']['device_name']} ({device_type}), torch {torch.__version__}")
    with tempfile.TemporaryDirectory(prefix="mirrornet-onnx-cache-") as cache_root:
        cache = Path(cache_root) / "onnx"
        if "training" in args.sections or "options" in args.sections:
            log("training steps")
            with _cpu_threads(device, args.train_threads):
                results["training"] = run_training(plan, device, args.sections, log)
        if "data" in args.sections:
            log("data pipeline")
            results["data"] = run_data(plan, args.data_root, log)
            if results["data"].get("skipped"):
                log(f"  skipped: {results['data']['skipped']}")
        if "inference" in args.sections:
            log("inference")
            results["inference"] = run_inference(plan, device, cache, log)
        if "predict" in args.sections:
            log("mirrornet predict")
            results["predict"] = run_predict(plan, device, args.data_root, cache, log)
            if results["predict"].get("skipped"):
                log(f"  skipped: {results['predict']['skipped']}")
    workers_needed(results)
    results["meta"]["wall_s"] = time.perf_counter() - started
    results["targets"] = evaluate_targets(results)
    markdown = render_markdown(results)
    log("")
    log(markdown)
    write = not args.no_write
    md_path = args.results_md or (None if args.smoke else REPO / "benchmarks" / "RESULTS.md")
    json_path = args.json_out or (None if args.smoke else REPO / "benchmarks" / "results" / f"throughput-{device_type}.json")
    if write and md_path is not None:
        previous = md_path.read_text(encoding="utf-8") if md_path.is_file() else ""
        write_text_atomic(md_path, previous + "\n" + markdown + "\n")  # a kill leaves the old file whole
        log(f"appended to {md_path}")
    if write and json_path is not None:
        write_text_atomic(json_path, json.dumps(json_safe(results), indent=1, ensure_ascii=False) + "\n")
        log(f"wrote {json_path}")
    return results


@contextlib.contextmanager
def _cpu_threads(device: torch.device, threads: int) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` inside the block (CPU runs only)."""
    previous = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def workers_needed(results: dict[str, Any]) -> None:
    """Data-loading workers that feed the fastest measured HRNet labelled step (GPU runs)."""
    rows = (results.get("training") or {}).get("rows", [])
    data = results.get("data") or {}
    row256 = best_data_row(data)
    steps = [r for r in rows if r["recognizer"] == "hrnet_w32" and r["kind"] == MIRRORNET_KIND]
    if results["meta"]["device"] != "cuda" or not row256 or not steps:
        return
    rate = max(r["images_per_s"] for r in steps)
    data["workers_needed"] = {"workers": math.ceil(rate / row256["images_per_s"]), "images_per_s": rate,
                              "per_worker": row256["images_per_s"], "cores": os.cpu_count()}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, print, write; returns the exit status."""
    run(argv)
    return 0
