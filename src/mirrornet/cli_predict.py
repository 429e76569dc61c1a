"""``mirrornet predict``: keypoints of the people in images, folders, lists, globs and videos.

``mirrornet predict [CHECKPOINT] INPUT... --out FILE``. The first argument is the checkpoint
when it ends in ``.ckpt``, ``.pt`` or ``.pth`` or is a PyTorch file (a zip archive); otherwise
every argument is an input and the packaged default model (:mod:`mirrornet.pretrained`) runs.
Inputs are expanded by :func:`mirrornet.inputs.expand_inputs`; boxes come from
:func:`mirrornet.boxes.read_boxes`, results are written in MirrorNet's layout or COCO's
(:mod:`mirrornet.coco`) and drawn by :mod:`mirrornet.drawing`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from mirrornet.choices import BACKENDS

__all__ = ["CHECKPOINT_SUFFIXES", "add_predict_options", "cmd_predict", "load_model", "split_checkpoint"]

#: Suffixes by which the first argument of ``predict`` is taken for a checkpoint.
CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")
#: ``--bbox-thr``'s default: detectors write boxes down to scores of 0.001 for COCO's evaluation.
DEFAULT_BBOX_THR = 0.3


def split_checkpoint(arguments: list[str]) -> tuple[str | None, list[str]]:
    """(checkpoint or None for the default model, inputs) of ``predict``'s arguments."""
    first = arguments[0]
    if Path(first).suffix.lower() in CHECKPOINT_SUFFIXES:
        return first, arguments[1:]
    try:
        with open(first, "rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"  # torch.save's archive; no image format starts so
    except OSError:
        is_zip = False
    return (first, arguments[1:]) if is_zip else (None, arguments)


def load_model(checkpoint: str | None, threads: int | None = None, set_threads: bool = True,
               workers: int | None = None) -> tuple[Any, Any, str]:
    """(model, config, the file it came from) of a checkpoint, or of the default model when None.

    With ``set_threads``, PyTorch's threads are set from ``threads``, else the model's
    ``train.threads`` (:mod:`mirrornet.threads`), leaving a core to each of ``workers`` data
    workers (None: the config's ``data.num_workers``, as evaluate's loader uses them).
    """
    from mirrornet.checkpoints import load_checkpoint
    from mirrornet.pretrained import default_model_path
    from mirrornet.threads import apply_threads

    path = str(default_model_path()) if checkpoint is None else checkpoint
    model, config = load_checkpoint(path)
    if set_threads:
        workers = config.data.num_workers if workers is None else workers
        apply_threads(threads if threads is not None else config.train.threads, workers)
    return model, config, path


def _drawing_targets(args: argparse.Namespace, inputs: list[Any], protected: list[str]) -> dict[str, Path]:
    """Input (path as given) → its drawing under ``--draw`` (a video's as ``.mp4``), each checked."""
    from mirrornet.drawing import drawing_names
    from mirrornet.fileio import OutputPathError, check_output_dir, check_output_file

    if not args.draw:
        return {}
    check_output_dir(args.draw, "--draw")
    names = drawing_names([str(Path(i.path).with_suffix(".mp4")) if i.video else i.path for i in inputs])
    targets = {i.path: Path(args.draw) / name for i, name in zip(inputs, names)}
    for path in targets.values():
        check_output_file(path, "--draw", protected)
        if os.path.abspath(path) == os.path.abspath(args.out):
            raise OutputPathError(f"--out {args.out} is also the drawing {path}; choose another --out or --draw")
    return targets


def _predict_video(predictor: Any, path: str, boxes: Any, target: Path | None, style: Any, progress: bool) -> list[dict]:
    """One video's results; its drawn video is written only if every frame was predicted."""
    from mirrornet.drawing import draw_people
    from mirrornet.inputs import VideoWriter, predict_video

    writer: list[VideoWriter] = []

    def draw(rgb: Any, people: list[dict], fps: float) -> None:
        if not writer:
            writer.append(VideoWriter(target, fps, (rgb.shape[1], rgb.shape[0])))
        writer[0].write(draw_people(rgb, people, style))

    try:
        results = predict_video(predictor, path, boxes, progress, on_frame=draw if target is not None else None)
    except BaseException:
        if writer:
            writer[0].close(keep=False)
        raise
    if writer:
        writer[0].close(keep=True)
    return results


def _results_to_write(args: argparse.Namespace, results: list[dict], inputs: list[Any]) -> list[dict]:
    if args.format == "mirrornet":
        return results
    from mirrornet.coco import fallback_image_ids, to_coco_results

    return to_coco_results(results, fallback_image_ids([i.path for i in inputs]))


def _checked_arguments(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """(the checkpoint or None, the inputs) of ``predict``, its numeric options checked first."""
    from mirrornet.predict import PredictError

    checkpoint, arguments = split_checkpoint(args.inputs)
    if not arguments:
        raise PredictError(f"no input after the checkpoint {checkpoint}: give images, folders, lists or videos")
    for option, value in (("--kpt-thr", args.kpt_thr), ("--bbox-thr", args.bbox_thr)):
        if not (value == value and abs(value) != float("inf")):  # NaN or infinite
            raise PredictError(f"{option} {value}: give a finite number")
    for option, value in (("--radius", args.radius), ("--line-width", args.line_width), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise PredictError(f"{option} {value}: give a positive number")
    return checkpoint, arguments


def _predict_inputs(args, predictor, inputs, boxes, targets, style) -> tuple[list[dict], list[str]]:
    """Every input's people (images and videos) and the inputs that failed, each named on stderr."""
    from mirrornet.cli_common import message, progress
    from mirrornet.console import progress_bar
    from mirrornet.data.images import DatasetFileNotFoundError, DatasetFormatError
    from mirrornet.predict import PredictError, predict_file

    failed: list[str] = []
    results: list[dict] = []
    images = [i for i in inputs if not i.video]
    for item in progress_bar(inputs, progress(args) and len(images) > 1, desc="predict", unit="input"):
        try:
            if item.video:
                results.extend(_predict_video(predictor, item.path, boxes, targets.get(item.path), style,
                                              progress(args)))
            else:
                results.extend(predict_file(predictor, item.path, boxes))
        except (PredictError, DatasetFormatError, DatasetFileNotFoundError, FileNotFoundError) as exc:
            # One bad input does not cost the others' results: it is named now, and the exit
            # status says that something failed.
            failed.append(item.path)
            origin = f" (listed in {item.listed_in})" if item.listed_in else ""
            print(f"error: {message(exc)}{origin}", file=sys.stderr)
    return results, failed


def cmd_predict(args: argparse.Namespace) -> int:
    """Run ``mirrornet predict`` (see the module's documentation)."""
    from mirrornet.boxes import read_boxes
    from mirrornet.cli_common import backend as _backend
    from mirrornet.cli_common import print_json as _print_json
    from mirrornet.drawing import DrawStyle, draw_predictions
    from mirrornet.fileio import check_output_file, write_json_atomic
    from mirrornet.inputs import expand_inputs
    from mirrornet.predict import PredictError, Predictor, group_by_image

    checkpoint, arguments = _checked_arguments(args)
    # Output paths and the boxes file are checked before the model and the images are read, so
    # that a mistyped option costs nothing and leaves nothing behind.
    inputs = expand_inputs(arguments)
    protected = [*([checkpoint] if checkpoint else []), *(i.path for i in inputs),
                 *(p for p in (args.boxes, args.images_list) if p)]
    check_output_file(args.out, "--out", protected)
    targets = _drawing_targets(args, inputs, protected)
    boxes = read_boxes(args.boxes, args.bbox_thr, args.images_list) if args.boxes else None
    model, config, _ = load_model(checkpoint, args.threads, workers=0)  # predict reads images in this process
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    if boxes is None:
        print("note: no --boxes given: each whole image is taken as one person's box; for photos with several "
              "or small people, give a detector's boxes (--boxes, e.g. COCO detection results)", file=sys.stderr)
    crops = len(boxes) if boxes is not None else len(inputs)
    predictor = Predictor(model, config, args.flip_test, device,
                          _backend(args, model, config, device, probe_batch=1, crops=crops))
    style = DrawStyle(kpt_thr=args.kpt_thr, radius=args.radius, line_width=args.line_width)
    images = [i for i in inputs if not i.video]
    results, failed = _predict_inputs(args, predictor, inputs, boxes, targets, style)
    if len(failed) == len(inputs):
        raise PredictError(f"no image could be predicted; {args.out} was not written")
    if boxes is not None and boxes.detections and boxes.matched == 0 and len(boxes):
        print(f"warning: none of the detections in {args.boxes} matched an input (by file_name, or by image_id "
              "through --images-list or the number in the file name)", file=sys.stderr)
    for r in results:
        for warning in r.get("warnings", ()):
            print(f"warning: image {r['image']}: {warning}", file=sys.stderr)
    written = _results_to_write(args, results, inputs)
    write_json_atomic(args.out, written)
    by_image = group_by_image(results)
    for item in images:
        if item.path in targets and item.path not in failed:
            draw_predictions(item.path, by_image.get((item.path, None), []), targets[item.path], style)
    if args.json:
        _print_json(written)
    else:
        print(f"{len(results)} people in {len(inputs) - len(failed)} inputs -> {args.out}")
    if failed:
        print(f"error: {len(failed)} of {len(inputs)} inputs failed ({', '.join(failed)}); "
              f"the results of the others are in {args.out}", file=sys.stderr)
        return 2
    return 0


def add_predict_options(p: argparse.ArgumentParser) -> None:
    """``predict``'s arguments."""
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="first, optionally, a checkpoint (.ckpt/.pt/.pth or a PyTorch file; without one: the packaged "
                   "model), then images, folders, quoted globs ('photos/*.jpg'), lists of images (.txt) or videos")
    p.add_argument("--boxes", help="person boxes: COCO detection results ([{image_id|file_name, bbox, score, "
                   "category_id}]) or JSON mapping an image (path or file name) to [x, y, w, h] or a list of them "
                   "(default: the whole image)")
    p.add_argument("--bbox-thr", type=float, default=DEFAULT_BBOX_THR,
                   help=f"keep detections with at least this score (default: {DEFAULT_BBOX_THR})")
    p.add_argument("--images-list", help="COCO images list or annotation file (its 'images': id, file_name) "
                   "that matches the detections' and the results' image_id to files")
    p.add_argument("--out", required=True, help="output JSON file")
    p.add_argument("--format", choices=("mirrornet", "coco"), default="mirrornet",
                   help="mirrornet: 16 MPII joints with names and flags (default); coco: COCO keypoint results "
                   "(17 keypoints, image_id) for pycocotools")
    p.add_argument("--draw", help="folder for the images (and videos, as .mp4) with the predicted skeletons")
    p.add_argument("--kpt-thr", type=float, default=0.0,
                   help="joints with a lower score are not drawn (the JSON keeps every score; default: 0, all)")
    p.add_argument("--radius", type=int, help="joint dots' radius in pixels (default: from the image size)")
    p.add_argument("--line-width", type=int, help="limbs' width in pixels (default: from the image size)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored crop's heatmaps")
    p.add_argument("--threads", type=int, help="PyTorch threads (default: the model's train.threads, else automatic)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="where α runs: auto (ONNX Runtime on the CPU when it is installed and faster, for 16 crops "
                   "or more or a cached export; PyTorch otherwise), torch, or onnx (default: auto)")
