"""What a config builds from its data: split records, the crop transform, the heatmap codec,
and the evaluation dataset and loader.

Training (:mod:`mirrornet.training.datamodule`) and inference (``mirrornet evaluate``,
:mod:`mirrornet.predict`, the demo) build their crops and codecs here, from one config, so that
α sees at run time exactly the crops it was trained on.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from mirrornet import choices
from mirrornet.config import Config
from mirrornet.data.records import PoseRecord
from mirrornet.seeding import seed_worker

__all__ = [
    "DataError",
    "default_split",
    "read_split",
    "build_transform",
    "easy_hard_views",
    "build_codec_for",
    "build_eval_dataset",
    "eval_loader",
]


class DataError(ValueError):
    """The data cannot serve a run or an evaluation (missing folder, empty split, no annotated
    image, no silhouette, ...)."""


def default_split(fmt: str, train: bool) -> str:
    """The split read when the config names none: training (``train``) or evaluation images."""
    if fmt == "lspet":
        return "all"
    if fmt == "mpii":
        return "train" if train else "valid"
    return "train" if train else "test"


def read_split(
    fmt: str,
    root: str | None,
    split: str,
    config: Config,
    silhouette_root: str | None = None,
) -> list[PoseRecord]:
    """Read one split of a dataset (or draw the synthetic people) as PoseRecords.

    Args:
        fmt: ``lsp``, ``lspet``, ``mpii`` or ``synthetic``.
        root: dataset folder (unused for synthetic).
        split: ``train``, ``test``, ``valid`` or ``all``; synthetic: ``train`` or anything else
            for the test people (a different seed).
        config: the run's config (synthetic settings).
        silhouette_root: optional UP-S1h style silhouette folder.

    Raises:
        DataError: the folder is missing.
    """
    d = config.data
    if fmt == "synthetic":
        from mirrornet.data.synthetic import SyntheticPeople

        train = split == "train"
        people = SyntheticPeople(
            d.synthetic_num_train if train else d.synthetic_num_test,
            image_size=d.synthetic_size,
            # The test people are another draw than the training people.
            seed=d.split_seed if train else d.split_seed + 1_000_003,
            difficulty=d.synthetic_difficulty,
        )
        return list(people.records())
    if not root:
        raise DataError(f"data.root is required for the {fmt} format")
    root = os.path.expanduser(root)  # "~/data/lsp", given in a config or quoted on the command line
    if Path(root).is_file():
        raise DataError(f"dataset folder {root} is a file (data.format={fmt}); give the folder that holds it "
                        f"({Path(root).parent})")
    if not Path(root).is_dir():
        raise DataError(f"dataset folder not found: {root} (data.format={fmt})")
    from mirrornet.data import lsp, mpii

    if fmt == "lsp":
        return lsp.read_lsp(root, split=split, silhouette_root=silhouette_root)
    if fmt == "lspet":
        return lsp.read_lspet(root, silhouette_root=silhouette_root)
    if fmt == "mpii":
        return mpii.read_mpii(root, split=split, silhouette_root=silhouette_root)
    raise DataError(f"unknown data format {fmt!r}; formats: {', '.join(choices.DATASET_FORMATS)}")


def build_transform(config: Config, augment: bool, box_jitter: bool = False):
    """The top-down crop of ``config.data`` (random scale/rotation/flip, half body and colour when
    ``augment``; the detector-like boxes of ``eval.box_jitter_*`` when ``box_jitter``)."""
    from mirrornet.data.transforms import TopDownTransform

    d, e = config.data, config.eval
    return TopDownTransform(
        input_size=tuple(d.input_size),
        heatmap_stride=d.heatmap_stride,
        augment=augment and d.augment,
        scale_factor=d.scale_factor,
        rotation=d.rotation,
        rotation_prob=d.rotation_prob,
        flip=d.flip,
        padding=d.padding,
        image_backend=d.image_backend,
        half_body_prob=d.half_body_prob,
        colour_jitter=d.colour_jitter,
        box_jitter=(e.box_jitter_scale, e.box_jitter_shift) if box_jitter else (0.0, 0.0),
        jitter_seed=e.box_jitter_seed,
    )


def easy_hard_views(config: Config) -> tuple:
    """Two views of ``config.data``'s crop: the plain crop (easy) and the augmented one (hard).

    A :attr:`~mirrornet.curriculum.Stage.views` builder: a stage naming it trains on items with
    ``views`` (2, 3, H, W).
    """
    return build_transform(config, augment=False), build_transform(config, augment=True)


def build_codec_for(config: Config):
    """The heatmap codec of ``config.data`` (one-hot as in the paper, or Gaussian)."""
    from mirrornet.codecs import build_codec

    d = config.data
    h, w = d.input_size
    return build_codec(
        d.codec, (h // d.heatmap_stride, w // d.heatmap_stride), stride=d.heatmap_stride, sigma=d.sigma
    )


def build_eval_dataset(config: Config, fmt: str, root: str | None, split: str | None) -> Dataset:
    """A non-augmented PoseDataset over one split, with the crops and codec of ``config``."""
    from mirrornet.data import PoseDataset

    split = split or default_split(fmt, False)
    records = read_split(fmt, root, split, config)
    if not records:
        raise DataError(f"the {split} split of {fmt} at {root} is empty")
    return PoseDataset(records, build_transform(config, False), build_codec_for(config), seed=config.train.seed)


def eval_loader(config: Config, dataset: Dataset) -> DataLoader:
    """The evaluation DataLoader (in order; capped by ``train.max_eval_batches``)."""
    t = config.train
    batch = t.eval_batch_size or t.batch_size
    if t.max_eval_batches is not None:
        dataset = Subset(dataset, range(min(len(dataset), batch * t.max_eval_batches)))  # type: ignore[arg-type]
    workers = config.data.num_workers
    return DataLoader(
        dataset,
        batch_size=batch,
        shuffle=False,
        num_workers=workers,
        worker_init_fn=seed_worker if workers > 0 else None,
        pin_memory=torch.cuda.is_available(),  # asynchronous copies to the GPU
    )
