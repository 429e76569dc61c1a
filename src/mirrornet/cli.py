"""``mirrornet <verb>``: the command line of MirrorNet.

Verbs: ``demo`` (the embedded end-to-end demo), ``synth`` (write synthetic people in the LSP /
LSPET / MPII file formats), ``train`` (the curriculum of Sections 4 and 5.2), ``evaluate``
(PCK@0.2 / PCKh@0.5 of a checkpoint, Tables 2–7), ``predict`` (keypoints of images, COCO
layout), ``summary`` (network sizes beside Table 8) and ``export`` (α to ONNX).

Every verb has ``--help``; verbs whose output is data take ``--json``. User errors (a bad config
key, a missing dataset folder or image, a NaN loss, ...) print ``error: ...`` to stderr and
exit with status 2 (bad input) or 1 (a failure while running), without a traceback.
Progress bars can be switched off with ``--no-progress`` or ``MIRRORNET_NO_PROGRESS=1``.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from mirrornet.cli_errors import Terminated, debug, error_status, on_sigterm
from mirrornet.cli_errors import UserError as _UserError, message as _message  # the names the verbs use
from mirrornet.choices import (
    BACKENDS, DATASET_FORMATS, DEFAULT_ONNX_OPSET, DEFAULT_VAE_PRESET, FILE_FORMATS, METRICS, VAE_PRESETS,
)
from mirrornet.cli_common import backend as _backend
from mirrornet.cli_common import print_json as _print_json
from mirrornet.cli_common import progress as _progress
from mirrornet.cli_predict import add_predict_options, cmd_predict, load_model

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose refusals read like every other error of the command line."""

    def error(self, message: str) -> NoReturn:
        # argparse's own "usage: ... prog: error: ..." would not start with "error: "; the
        # status stays argparse's 2 (bad input).
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------------------------------
# Verbs


def _cmd_demo(args: argparse.Namespace) -> int:
    from mirrornet.demo import run_demo
    from mirrornet.fileio import check_output_dir, folder_lock

    check_output_dir(args.out, "--out")  # before the data is written and the curriculum runs
    with folder_lock(Path(args.out) / ".lock", f"--out {args.out}"):
        result = run_demo(args.out, quick=args.quick, progress=_progress(args),
                          tables_to=sys.stderr if args.json else sys.stdout)
    if args.json:
        _print_json(result)
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from mirrornet.data.synthetic import export_synthetic
    from mirrornet.fileio import check_output_dir

    check_output_dir(args.out, "--out")
    path = export_synthetic(args.out, format=args.format, num=args.num, size=args.size, seed=args.seed,
                            difficulty=args.difficulty, progress=_progress(args))
    if args.json:
        _print_json({"path": str(path), "format": args.format, "num": args.num, "size": args.size})
    else:
        print(f"wrote {args.num} synthetic people in the {args.format} format to {path}")
    return 0


def _train_out(args: argparse.Namespace) -> str:
    """``train``'s output folder: ``--out``, or ``runs/<config name>`` (an empty ``--out`` is
    refused by the run, not replaced by the default)."""
    return str(Path("runs") / Path(args.config).stem) if args.out is None else args.out


def _cmd_train(args: argparse.Namespace) -> int:
    from mirrornet.config import load_config
    from mirrornet.curriculum import resolve_stages
    from mirrornet.metrics import format_table
    from mirrornet.training import run_experiment
    from mirrornet.curriculum import METHOD_LABELS
    from mirrornet.training.results import format_final_table

    config = load_config(args.config, args.set or [])
    if args.stages:
        try:
            resolve_stages(args.stages)
        except KeyError as exc:  # a misspelt stage is bad input, refused before the data is read
            raise _UserError(f"--stages: {exc.args[0]}") from None
    out = _train_out(args)
    results = run_experiment(config, out, resume=args.resume, stages=args.stages, progress=_progress(args))
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if getattr(rank_zero_only, "rank", 0):
        return 0  # the other DDP processes stay quiet
    if args.json:
        _print_json(results)
    elif results:
        metric = next(iter(results.values()))["metric"]
        rows = {METHOD_LABELS.get(m, m): r["groups"] for m, r in results.items()}
        print(format_table(rows, metric))
        for split in ("test", "test_jitter"):
            table = format_final_table({METHOD_LABELS.get(m, m): r for m, r in results.items()}, split)
            if table:
                print(f"\n{table}")
        print(f"results: {Path(out) / 'results.json'}")
    else:
        print(f"no method completed yet; checkpoints in {Path(out) / 'checkpoints'}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from mirrornet.data.builders import build_codec_for, build_eval_dataset, eval_loader
    from mirrornet.inference import evaluate_model, metric_for
    from mirrornet.metrics import format_table

    if args.batch_size is not None and args.batch_size < 1:
        raise _UserError(f"--batch-size {args.batch_size}: give a positive number of images per batch")
    if args.threshold is not None and not (math.isfinite(args.threshold) and args.threshold > 0):
        raise _UserError(f"--threshold {args.threshold:g}: give a positive number (0.2 for PCK, 0.5 for PCKh)")
    if args.threads is not None and args.threads < 1:
        raise _UserError(f"--threads {args.threads}: give a positive number")
    model, config, checkpoint = load_model(args.checkpoint, args.threads)
    if args.data_format != "synthetic" and not args.root:
        raise _UserError(f"--root is required for --data-format {args.data_format}")
    dataset = build_eval_dataset(config, args.data_format, args.root, args.split)
    kind, threshold = metric_for(config, args.data_format, metric=args.metric, threshold=args.threshold)
    # The whole split: the run's evaluation cap does not apply here.
    config.train.max_eval_batches = None
    if args.batch_size:
        config.train.eval_batch_size = args.batch_size
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    loader = eval_loader(config, dataset)
    backend = _backend(args, model, config, device, probe_batch=loader.batch_size or 1, crops=len(dataset))
    result = evaluate_model(
        model, loader, build_codec_for(config), kind=kind, threshold=threshold, flip_test=args.flip_test,
        device=device, progress=_progress(args), backend=backend,
    )
    if args.json:
        _print_json({**result, "checkpoint": checkpoint, "num_people": len(dataset)})
    else:
        print(format_table({Path(checkpoint).stem: result["groups"]}, result["metric"]))
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from mirrornet.nets import RECOGNIZERS, VAENetsConfig
    from mirrornet.nets.summary import format_summary, network_summary

    if args.recognizer not in RECOGNIZERS:
        raise _UserError(
            f"--recognizer: unknown recognizer {args.recognizer!r}; valid: {', '.join(sorted(RECOGNIZERS))}"
        )
    vae = VAENetsConfig.preset(args.vae)
    rows = []
    for dataset in args.dataset:
        rows.extend(network_summary(args.recognizer, dataset, vae_config=vae))
    if args.json:
        _print_json(rows)
    else:
        print(format_summary(rows))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from mirrornet.checkpoints import load_checkpoint
    from mirrornet.export import check_opset, export_onnx
    from mirrornet.fileio import check_output_file

    # Refused before the checkpoint is read: an unwritable --onnx or an opset out of range.
    check_output_file(args.onnx, "--onnx", [args.checkpoint])
    check_opset(args.opset)
    model, config = load_checkpoint(args.checkpoint)
    dynamo = {"auto": None, "dynamo": True, "torchscript": False}[args.exporter]
    path = export_onnx(model.alpha, args.onnx, tuple(config.data.input_size), opset=args.opset, dynamo=dynamo)
    if args.json:
        _print_json({"onnx": str(path), "input": ["batch", 3, *config.data.input_size], "recognizer": config.model.recognizer})
    else:
        print(f"wrote {path} (α = {config.model.recognizer}, input batch×3×{config.data.input_size[0]}×{config.data.input_size[1]})")
    return 0


# ---------------------------------------------------------------------------------------------
# Parser


def _backend_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="where α runs: auto (ONNX Runtime on the CPU when it is installed and faster, for 16 crops "
                   "or more or a cached export; PyTorch otherwise), torch, or onnx (default: auto)")


def _demo_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="a shorter demo")


def _synth_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="dataset folder to create")
    p.add_argument("--format", choices=FILE_FORMATS, default="lsp")
    p.add_argument("--num", type=int, default=200, help="number of images")
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--difficulty", type=float, default=0.5, help="0 (easy) ... 1 (hard)")


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config (e.g. configs/paper/lsp/hrnet_w32_60.yaml)")
    p.add_argument("--set", nargs="+", metavar="KEY=VALUE", action="extend", help="override config keys, e.g. train.lr=5e-4")
    p.add_argument("--out", help="output folder (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--stages", nargs="+", metavar="STAGE", help="run only these stages (and those they start from)")


def _evaluate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="?", help="a checkpoint (default: the packaged model)")
    p.add_argument("--data-format", choices=DATASET_FORMATS, required=True)
    p.add_argument("--root", help="dataset folder (not needed for synthetic)")
    p.add_argument("--split", help="split (default: test for LSP, valid for MPII)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored image's heatmaps")
    p.add_argument("--metric", choices=METRICS, help="default: PCKh for MPII, PCK otherwise")
    p.add_argument("--threshold", type=float, help="τ (default 0.2 for PCK, 0.5 for PCKh)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    p.add_argument("--threads", type=int, help="PyTorch threads (default: the model's train.threads, else automatic)")
    _backend_option(p)


def _summary_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recognizer", default="hrnet_w32")
    p.add_argument("--dataset", nargs="+", choices=("lsp", "mpii"), default=["lsp"])
    p.add_argument("--vae", choices=VAE_PRESETS, default=DEFAULT_VAE_PRESET)


def _export_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=DEFAULT_ONNX_OPSET)
    p.add_argument("--exporter", choices=("auto", "dynamo", "torchscript"), default="auto")


#: Every verb, in the order of ``--help``: its help line, its own options, the command it runs.
_VERBS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "demo": ("run the embedded demo end to end (synthetic people, three methods)", _demo_options, _cmd_demo),
    "synth": ("write synthetic people in the LSP, LSPET or MPII file format", _synth_options, _cmd_synth),
    "train": ("train the curriculum: baseline, supervised and semi-supervised MirrorNet", _train_options, _cmd_train),
    "evaluate": ("PCK@0.2 / PCKh@0.5 of a checkpoint on a dataset split", _evaluate_options, _cmd_evaluate),
    "predict": ("keypoints of the people in images, folders, lists and videos (JSON)", add_predict_options, cmd_predict),
    "summary": ("parameters and MACs of the networks beside Table 8", _summary_options, _cmd_summary),
    "export": ("export the recognizer α (last stack) to ONNX", _export_options, _cmd_export),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mirrornet`` (one sub-command per verb)."""
    parser = _Parser(
        prog="mirrornet",
        description="MirrorNet: semi-supervised 2D pose estimation with a pose VAE and a pose-conditioned image VAE.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, (help_line, add_options, command) in _VERBS.items():
        p = sub.add_parser(verb, help=help_line)
        add_options(p)
        p.add_argument("--no-progress", action="store_true", help="no progress bars (or set MIRRORNET_NO_PROGRESS=1)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--debug", action="store_true", help="show the traceback of an error (or set MIRRORNET_DEBUG=1)")
        p.set_defaults(func=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mirrornet`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise  # --help: printed in full, nothing else to do
        return exc.code if isinstance(exc.code, int) else 2  # the refusal is printed already
    previous = signal.signal(signal.SIGTERM, on_sigterm) if _main_thread() else None
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        # Checkpoints are written atomically after every epoch: the last finished epoch is kept.
        hint = ""
        if getattr(args, "func", None) is _cmd_train:
            hint = f"; resume with: mirrornet train {args.config} --out {_train_out(args)} --resume"
        terminated = isinstance(exc, Terminated)
        print(f"error: {'terminated (SIGTERM)' if terminated else 'interrupted'}{hint}", file=sys.stderr)
        return 143 if terminated else 130
    except Exception as exc:
        status = error_status(exc)
        if status is None and debug(args):
            raise
        if status is None:
            # Not an error MirrorNet knows: a bug, reported in one line unless --debug.
            print(f"error: internal error: {type(exc).__name__}: {_message(exc)} (a bug in MirrorNet; run again "
                  "with --debug or MIRRORNET_DEBUG=1 for the traceback)", file=sys.stderr)
            return 1
        print(f"error: {_message(exc)}", file=sys.stderr)
        if debug(args):
            traceback.print_exc()
        return status
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    """Signal handlers can only be set from the main thread (``main`` may run in another)."""
    import threading

    return threading.current_thread() is threading.main_thread()

if __name__ == "__main__":
    sys.exit(main())
