"""``mirrornet demo``: the paper's experiment (Sec. 5, Table 2 layout) end to end on a CPU.

1. SyntheticPeople are written to disk in the LSP file format (``joints.mat`` + ``images/`` +
   silhouettes), so the demo reads them back through the same reader as the real LSP.
2. The curriculum of Sec. 4 / 5.2 runs with small networks from the ``demo`` preset
   (``configs/cpu/demo.yaml``) at one annotation ratio, through ``run_experiment`` exactly as
   ``mirrornet train`` would: baseline, supervised MirrorNet, semi-supervised MirrorNet.
3. The table of Table 2 is printed, and ``results.json`` gets a ``"plausibility"`` entry: the
   pose VAE's lower bound of log p(s) (Eq. 34) and the rate of bone-ratio violations for each
   method's test predictions (``mirrornet.plausibility``).
4. Figures go to ``<out>/figures``: learning curves (Fig. 9, from training), poses by each
   method (Fig. 11), image VAE reconstructions (Fig. 12), pose VAE reconstructions (Fig. 13),
   masks of ψ (Fig. 14) and poses sampled from the pose VAE's prior.

``quick=True`` shrinks data and epochs so the whole run takes about a minute (used by the tests);
its numbers show that the pipeline works, not that MirrorNet helps.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from mirrornet.curriculum import METHOD_LABELS, METHODS
from mirrornet.fileio import write_json_atomic
from mirrornet.inference import Predictions, collect_predictions, metric_for

__all__ = ["QUICK_OVERRIDES", "find_preset", "run_demo", "demo_figures"]

#: Overrides applied on top of the demo preset by ``--quick`` (about a minute on 2 CPU cores).
QUICK_OVERRIDES: tuple[str, ...] = (
    "data.synthetic_num_train=48",
    "data.synthetic_num_test=48",
    "data.synthetic_size=64",
    "data.input_size=[64,64]",
    "train.batch_size=16",
    "train.n_annotated=12",
    "train.n_unannotated=4",
    "train.epochs.alpha_pretrain=2",
    "train.epochs.mask_pretrain=1",
    "train.epochs.vae_pretrain=2",
    "train.epochs.baseline=2",
    "train.epochs.supervised_first=1",
    "train.epochs.supervised_second=1",
    "train.epochs.semi_supervised=1",
    "eval.last_k_epochs=1",
)


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[demo] {message}", file=sys.stderr, flush=True)


def find_preset(name: str = "demo") -> Path:
    """The YAML preset ``name`` (e.g. ``demo``, ``medium``), wherever MirrorNet is installed.

    Looked up, in order: ``configs/cpu/<name>.yaml`` of the source tree this package lives in
    (an editable install or a checkout), then ``mirrornet/presets/<name>.yaml`` shipped inside
    the package. The working directory plays no part, so the demo runs from any folder.

    Raises:
        FileNotFoundError: naming every place looked in.
    """
    package_dir = Path(__file__).resolve().parent
    candidates = [
        package_dir.parents[1] / "configs" / "cpu" / f"{name}.yaml",  # <repo>/src/mirrornet -> <repo>
        package_dir / "presets" / f"{name}.yaml",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"preset {name!r} not found; looked in: {', '.join(str(p) for p in candidates)}")


def _export_data(config: Any, data_dir: Path, progress: bool) -> int:
    """Write SyntheticPeople in the LSP format unless the same export is already there."""
    from mirrornet.data.synthetic import export_synthetic

    d = config.data
    # LSP's reader takes the first half as training images and the second half as test
    # images (as for the real 2000-image LSP), so both halves are exported together.
    num = 2 * max(d.synthetic_num_train, d.synthetic_num_test)
    stamp = {"format": "lsp", "num": num, "size": d.synthetic_size, "seed": d.split_seed,
             "difficulty": d.synthetic_difficulty}
    stamp_path = data_dir / "mirrornet_export.json"
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp and (data_dir / "joints.mat").is_file():
        _say(progress, f"reusing {num} synthetic people in {data_dir}")
        return num
    if data_dir.exists():
        shutil.rmtree(data_dir)
    _say(progress, f"writing {num} synthetic people ({d.synthetic_size}px) in the LSP format to {data_dir}")
    export_synthetic(data_dir, format="lsp", num=num, size=d.synthetic_size, seed=d.split_seed,
                     difficulty=d.synthetic_difficulty, progress=progress)
    write_json_atomic(stamp_path, stamp)
    return num


def _eval_dataset(config: Any) -> tuple[Any, Any]:
    """The evaluation ``PoseDataset`` of a run (no augmentation), built as training builds it."""
    from mirrornet.data.builders import build_codec_for, build_eval_dataset

    d = config.data
    dataset = build_eval_dataset(config, d.test_format or d.format, d.test_root or d.root, d.test_split)
    return dataset, build_codec_for(config)


def _checkpoint(out_dir: Path, method: str) -> Path:
    return out_dir / "checkpoints" / f"{method}.ckpt"


def _annotated_train_joints(config: Any) -> tuple[np.ndarray, np.ndarray]:
    """Joints and labelled masks of the annotated training images (the bone statistics' data)."""
    from mirrornet.data.builders import default_split, read_split
    from mirrornet.data.splits import annotation_split

    d = config.data
    records = read_split(d.format, d.root, d.train_split or default_split(d.format, True), config)
    keep = annotation_split(len(records), d.annotated_ratio, d.split_seed)
    joints = np.stack([r.joints for r, k in zip(records, keep, strict=True) if k])
    mask = np.stack([r.labelled for r, k in zip(records, keep, strict=True) if k])
    return joints, mask


def demo_figures(models: dict[str, Any], dataset: Any, codec: Any, predictions: dict[str, Predictions],
                 fig_dir: Path, metric: tuple[str, float], num_images: int = 6) -> dict[str, Path]:
    """Figs. 11–14 and the prior samples for trained models.

    Args:
        models: method -> MirrorNet; the VAE figures use ``supervised`` (or the last one).
        dataset: the test ``PoseDataset``.
        codec: its codec.
        predictions: method -> its :class:`~mirrornet.inference.Predictions` on the first items
            of ``dataset``.
        fig_dir: output folder.
        metric: (``pck`` or ``pckh``, threshold) that judges each joint in Fig. 11
            (:func:`mirrornet.inference.metric_for`).
        num_images: images per figure.

    Returns:
        figure name -> path.
    """
    from mirrornet import viz

    methods = list(predictions)
    # Fig. 11 shows the test images on which the methods disagree most (mean joint distance
    # between the first and the last method), whoever is right: the figure shows differences.
    first, last = predictions[methods[0]].pred_crop, predictions[methods[-1]].pred_crop
    disagreement = np.linalg.norm(first - last, axis=-1).mean(axis=1)  # (N,)
    chosen = np.sort(np.argsort(-disagreement, kind="stable")[:num_images])
    items = [dataset[int(i)] for i in chosen]  # predictions cover the first items of dataset
    images = torch.stack([it["image"] for it in items])
    x_star = torch.stack([it["x_star"] for it in items])
    s = torch.stack([it["heatmaps"] for it in items])
    silhouettes = torch.stack([it["silhouette"] for it in items])

    figs: dict[str, Path] = {}
    figs["poses"] = viz.plot_pose_comparison(
        images, {METHOD_LABELS.get(m, m): predictions[m].pred_crop[chosen] for m in methods},
        fig_dir / "poses.png", ground_truth=predictions[methods[0]].gt_crop[chosen],
        pck_correct={METHOD_LABELS.get(m, m): predictions[m].person_scores(*metric)[chosen] for m in methods},
    )
    vae_model = models.get("supervised", models[methods[-1]])
    hm_size = tuple(s.shape[-2:])
    with torch.no_grad():
        figs["image_vae"] = viz.plot_image_reconstructions(vae_model, x_star, s, fig_dir / "image_vae.png")
        figs["pose_vae"] = viz.plot_pose_reconstructions(vae_model, s, fig_dir / "pose_vae.png")
        figs["masks"] = viz.plot_masks(vae_model, x_star, s, fig_dir / "masks.png", silhouettes=silhouettes)
        figs["prior_samples"] = viz.plot_prior_samples(vae_model, codec, fig_dir / "prior_samples.png", num=8,
                                                       heatmap_size=hm_size, stride=codec.stride)
    return figs


def _demo_config(out_dir: Path, quick: bool, overrides: Sequence[str], preset: Path, progress: bool) -> tuple[Any, list[str]]:
    """The demo's config, once its synthetic people are exported in the LSP format under ``out_dir``."""
    from mirrornet.config import load_config

    data_dir = (out_dir / "data").resolve()
    all_overrides = [*(QUICK_OVERRIDES if quick else ()), *overrides]
    config = load_config(preset, all_overrides)
    _say(progress, f"preset {preset}{' + quick overrides' if quick else ''}")
    _export_data(config, data_dir, progress)
    return load_config(preset, [*all_overrides, "data.format=lsp", f"data.root={data_dir}"]), all_overrides


def _predict_methods(config: Any, out_dir: Path, methods: list[str], dataset: Any,
                     codec: Any) -> tuple[dict[str, Any], dict[str, Predictions]]:
    """Each method's trained model and its predictions on the test people of the table.

    The people are those of the per-epoch evaluation behind the table (the same loader, so the
    same ``train.max_eval_batches`` cap), without the flip test.
    """
    from mirrornet.checkpoints import load_checkpoint
    from mirrornet.data.builders import eval_loader

    models = {m: load_checkpoint(_checkpoint(out_dir, m))[0] for m in methods}
    predictions = {m: collect_predictions(models[m], eval_loader(config, dataset), codec) for m in methods}
    return models, predictions


def _plausibility(config: Any, models: dict[str, Any], codec: Any, predictions: dict[str, Predictions]) -> dict:
    """The plausibility report of every method's predictions and of the annotation."""
    from mirrornet.plausibility import BoneStatistics, plausibility_report

    methods = list(predictions)
    train_joints, train_mask = _annotated_train_joints(config)
    stats = BoneStatistics.fit(train_joints, train_mask)
    # One judge for every method: the pose VAE of supervised MirrorNet with the variance of
    # p_φ(s|z) the joint stages used (model.generator_variance) — the plausibility term α is
    # trained against in steps 2-3. With σ²_φ = 1 the bound differs between poses by under one
    # nat of a few thousand (docs/model.md): the bone-ratio columns are the informative ones.
    judge_name = "supervised" if "supervised" in models else methods[0]
    judge = models[judge_name]
    fixed_variance = config.model.generator_variance == "fixed"
    ref = predictions[methods[0]]
    plaus_inputs = {m: predictions[m].pred_crop for m in methods} | {"annotation": ref.gt_crop}
    plaus_image = {m: predictions[m].pred_image for m in methods} | {"annotation": ref.gt_image}
    plausibility = plausibility_report(judge, codec, stats, plaus_inputs, plaus_image, ref.mask,
                                       fixed_variance=fixed_variance, pose_variance=config.model.pose_variance)
    plausibility["settings"] = {
        "pose_vae": f"checkpoints/{judge_name}.ckpt, "
                    + ("σ²_φ = 1" if fixed_variance else "learned variance of p_φ(s|z)"),
        "pose": "predicted joints re-encoded by the training codec (joints outside the heatmap are dropped), "
                "as the pose VAE saw poses in training (MirrorNet.mirror_pose, model.pose_variance)",
        "bone_ratio_range": f"[{stats.percentiles[0]:g}, {stats.percentiles[1]:g}] percentiles of "
                            f"{len(train_joints)} annotated training poses",
        "bone_statistics": stats.to_dict(),
    }
    return plausibility


def _print_tables(results: dict, methods: list[str], out_dir: Path, fig_dir: Path, seconds: float,
                  stream: TextIO) -> None:
    """The demo's result, printed whether or not progress is shown: Table 2 and plausibility."""
    from mirrornet.metrics import format_table
    from mirrornet.plausibility import format_plausibility
    from mirrornet.training.results import format_final_table

    metric = results[methods[0]].get("metric", "PCK@0.2")
    rows = {METHOD_LABELS[m]: results[m]["groups"] for m in methods if m in results}
    print(format_table(rows, metric), file=stream)
    final = format_final_table({METHOD_LABELS[m]: results[m] for m in methods if m in results})
    if final:
        print(f"\n{final}", file=stream)
    print(file=stream)
    print(format_plausibility(results["plausibility"], [*methods, "annotation"]), file=stream)
    print(f"\nresults: {out_dir / 'results.json'}; figures: {fig_dir}; {seconds:.0f} s", file=stream, flush=True)


def run_demo(out_dir: str | Path = "runs/demo", quick: bool = False, progress: bool = True,
             overrides: Sequence[str] = (), preset: str | Path | None = None,
             tables_to: TextIO | None = None) -> dict[str, Any]:
    """Run the whole demo; see the module docstring.

    Args:
        out_dir: output folder (data, checkpoints, results.json, figures).
        quick: the reduced setting of ``QUICK_OVERRIDES`` (about half a minute).
        progress: print progress to stderr (the tables always go to stdout).
        overrides: further ``key=value`` config overrides (applied last), e.g. ``model.lam=1.0``.
        preset: a YAML preset to use instead of ``find_preset("demo")``.
        tables_to: where the tables are printed (default: standard output; the CLI's
            ``--json`` sends them to standard error so that standard output is pure JSON).

    Returns:
        The results dict written to ``<out>/results.json``: {method: {"metric", "groups", ...},
        "plausibility": {...}, "demo": {"quick", "seconds", "figures", "config"}}.
    """
    from mirrornet.training import run_experiment

    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    preset = find_preset("demo") if preset is None else Path(preset)
    config, all_overrides = _demo_config(out_dir, quick, overrides, preset, progress)
    _say(progress, f"training the curriculum: {config.data.annotated_ratio:.0%} annotated, "
                   f"recognizer {config.model.recognizer}, pose source {config.model.pose_source}")
    # resume=True: running the demo again in the same folder reuses the finished stages.
    results = dict(run_experiment(config, out_dir, resume=True, progress=progress))
    train_seconds = time.perf_counter() - start

    methods = [m for m in METHODS if _checkpoint(out_dir, m).is_file()]
    if not methods:
        raise RuntimeError(f"run_experiment wrote no method checkpoint under {out_dir / 'checkpoints'}")
    _say(progress, "predicting the test split with each method")
    dataset, codec = _eval_dataset(config)
    models, predictions = _predict_methods(config, out_dir, methods, dataset, codec)
    _say(progress, "measuring plausibility (pose VAE bound, bone-ratio statistics)")
    results["plausibility"] = _plausibility(config, models, codec, predictions)

    _say(progress, "drawing figures")
    fig_dir = out_dir / "figures"
    figures = demo_figures(models, dataset, codec, predictions, fig_dir, metric_for(config))
    curves = fig_dir / "learning_curves.png"
    if curves.is_file():
        figures = {"learning_curves": curves, **figures}

    seconds = time.perf_counter() - start
    results["demo"] = {
        "quick": quick, "seconds": round(seconds, 1), "train_seconds": round(train_seconds, 1),
        "annotated_ratio": config.data.annotated_ratio, "preset": str(preset),
        "overrides": all_overrides, "figures": {k: str(v) for k, v in figures.items()},
    }
    write_json_atomic(out_dir / "results.json", results)
    _print_tables(results, methods, out_dir, fig_dir, seconds, tables_to if tables_to is not None else sys.stdout)
    return results
