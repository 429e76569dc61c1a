"""Data for the curriculum: training pools, the mixed batch sampler, the per-epoch test set.

Section 5.2: a random 20/40/60/80 % of the training set is regarded as annotated (drawn once
per ``data.split_seed``); the supervised stages see the annotated images only, the
semi-supervised stage batches of ``n_annotated`` annotated + ``n_unannotated`` non-annotated
images (96 + 32 of 128 in the paper, Table 9 varies it). :class:`CompositionBatchSampler` yields
exactly that composition in every batch.

Reproducibility (resume gives the same run): the batch order of epoch e is drawn from
``(seed, e, pool)``; each index the sampler yields carries its epoch, ``(e, i)``, and
:class:`EpochIndexedDataset` calls ``PoseDataset.set_epoch(e)`` before reading item i, so the
augmentation of every item depends on (seed, epoch, index) only — whatever the number of
workers and wherever the run was resumed. Under DDP every rank draws the same global batches and
takes its own slice of each pool, so the global batch is the configured one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mirrornet.config import Config
from mirrornet.curriculum import StageData
from mirrornet.data.builders import DataError, build_codec_for, build_transform, default_split, read_split
from mirrornet.data.records import PoseRecord
from mirrornet.data.views import MultiViewDataset
from mirrornet.seeding import seed_worker

__all__ = [
    "TrainingData",
    "build_training_data",
    "CompositionBatchSampler",
    "EpochIndexedDataset",
    "epoch_batches",
    "stage_pools",
    "train_loader",
]


@dataclass
class TrainingData:
    """The training set of a run, its annotation mask and the evaluation set.

    Attributes:
        train: PoseDataset over every training record (annotated or not), augmenting.
        annotated: (N,) bool, True = regarded as annotated (Section 5.2).
        has_silhouette: (N,) bool, True = the record carries a silhouette.
        test: PoseDataset over the evaluation split (no augmentation).
        mask: PoseDataset for ψ when the config names a separate silhouette dataset, else None.
        val: PoseDataset over the validation images held out of the training set (no
            augmentation), or None when ``data.val_ratio`` is 0.
    """

    train: Dataset
    annotated: np.ndarray
    has_silhouette: np.ndarray
    test: Dataset
    mask: Dataset | None
    val: Dataset | None = None

    def epoch_eval_set(self, split: str) -> Dataset:
        """The dataset evaluated after every epoch: ``test`` or ``val``."""
        if split == "val":
            if self.val is None:
                raise DataError("eval.epoch_split=val but there is no validation split (data.val_ratio = 0)")
            return self.val
        return self.test


def build_training_data(config: Config) -> TrainingData:
    """Read the training and evaluation sets of a config and draw the annotated subset.

    Raises:
        DataError: missing folder, or an empty training / evaluation set.
    """
    from mirrornet.data import PoseDataset
    from mirrornet.data.splits import annotation_split

    d = config.data
    train_split = d.train_split or default_split(d.format, True)
    records = read_split(d.format, d.root, train_split, config, d.silhouette_root)
    primary = np.ones(len(records), dtype=bool)  # the records that data.annotated_count draws from
    if d.lspet_root:
        extra = read_split("lspet", d.lspet_root, "all", config, d.silhouette_root)
        records = list(records) + list(extra)
        primary = np.r_[primary, np.zeros(len(extra), dtype=bool)]
    if not records:
        raise DataError(f"the training set of data.format={d.format} at {d.root} is empty")
    val_records: list[PoseRecord] = []
    if d.val_ratio > 0:
        from mirrornet.data.splits import validation_split

        if d.val_source == "root":
            # Drawn from data.root's images only (LSP's, not LSPET's): the validation people then
            # come from the distribution of the test split.
            held_out = np.zeros(len(records), dtype=bool)
            held_out[np.flatnonzero(primary)[validation_split(int(primary.sum()), d.val_ratio, d.val_seed)]] = True
        else:
            held_out = validation_split(len(records), d.val_ratio, d.val_seed)
        val_records = [r for r, v in zip(records, held_out) if v]
        records = [r for r, v in zip(records, held_out) if not v]
        primary = primary[~held_out]
        if not val_records or not records:
            raise DataError(
                f"data.val_ratio={d.val_ratio} leaves {len(val_records)} validation and {len(records)} "
                "training images; both must be non-empty"
            )
    test_fmt = d.test_format or d.format
    test_split = d.test_split or default_split(test_fmt, False)
    test_records = read_split(test_fmt, d.test_root or d.root, test_split, config)
    if not test_records:
        raise DataError(f"the evaluation split {test_split!r} of {test_fmt} is empty")
    if d.annotated_count is not None:
        from mirrornet.data.splits import annotated_pool

        if d.annotated_count > int(primary.sum()):
            raise DataError(
                f"data.annotated_count={d.annotated_count}, but the training split of {d.root} has "
                f"{int(primary.sum())} images (after the validation split)"
            )
        annotated = annotated_pool(primary, d.annotated_count, d.split_seed)
    else:
        annotated = annotation_split(len(records), d.annotated_ratio, d.split_seed)
    has_sil = np.array([r.silhouette is not None for r in records], dtype=bool)
    codec = build_codec_for(config)
    seed = config.train.seed
    train = PoseDataset(records, build_transform(config, True), codec, annotated=annotated, seed=seed)
    test = PoseDataset(test_records, build_transform(config, False), codec, seed=seed)
    mask = None
    if d.mask_root or d.mask_format:
        mask_fmt = d.mask_format or d.format
        mask_records = [
            r
            for r in read_split(mask_fmt, d.mask_root, default_split(mask_fmt, True), config)
            if r.silhouette is not None
        ]
        if not mask_records:
            raise DataError(f"the silhouette dataset {d.mask_root} ({mask_fmt}) has no silhouettes")
        mask = PoseDataset(mask_records, build_transform(config, True), codec, seed=seed)
    val = PoseDataset(val_records, build_transform(config, False), codec, seed=seed) if val_records else None
    return TrainingData(train=train, annotated=annotated, has_silhouette=has_sil, test=test, mask=mask, val=val)


class EpochIndexedDataset(Dataset):
    """Reads ``(epoch, index)`` pairs: sets the base dataset's epoch, then reads the item.

    Carrying the epoch in the index (rather than calling ``set_epoch`` on the dataset in the main
    process) makes augmentation depend on (seed, epoch, index) even in worker processes forked
    before the epoch changed.
    """

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key
        self.base.set_epoch(int(epoch))  # type: ignore[attr-defined]
        return self.base[int(index)]


class CompositionBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields batches with exactly ``counts[p]`` items of each pool ``p`` (e.g. 96 + 32).

    Each pool is read as an endless stream of fresh permutations (a pool smaller than the
    others is cycled), drawn from ``(seed, epoch, p)``. Under DDP every rank builds the same
    global batches and keeps its slice (``counts[p] / world_size`` items of pool p).

    Args:
        pools: per pool, the dataset indices it draws from.
        counts: per pool, items per global batch.
        num_batches: batches per epoch (before ``max_batches``).
        seed: the run's seed.
        epoch: global epoch (the stage's epochs counted from the stage start); see
            :meth:`set_epoch`.
        rank / world_size: this process's slice under data parallelism.
        max_batches: optional cap (tests, demo).
    """

    def __init__(
        self,
        pools: Sequence[np.ndarray],
        counts: Sequence[int],
        num_batches: int,
        seed: int,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        max_batches: int | None = None,
        epoch_offset: int = 0,
        stream: int = 0,
    ) -> None:
        if len(pools) != len(counts):
            raise ValueError("pools and counts must have the same length")
        for p, (pool, n) in enumerate(zip(pools, counts)):
            if n > 0 and len(pool) == 0:
                raise DataError(f"batch pool {p} is empty but {n} of its items are needed per batch")
            if n % world_size:
                raise DataError(
                    f"{n} items of pool {p} per batch cannot be split over {world_size} processes; "
                    "make the batch composition divisible by devices × num_nodes"
                )
        self.pools = [np.asarray(p, dtype=np.int64) for p in pools]
        self.counts = [int(c) for c in counts]
        self.num_batches = int(num_batches) if max_batches is None else min(int(num_batches), int(max_batches))
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.epoch_offset = int(epoch_offset)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.stream = int(stream)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (Lightning calls this with its epoch counter, from 0 per fit)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def _pool_stream(self, p: int, epoch: int, length: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.stream, epoch, p])
        pool = self.pools[p]
        cycles = math.ceil(length / len(pool)) if length else 0
        return np.concatenate([rng.permutation(pool) for _ in range(cycles)] or [pool[:0]])[:length]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch = self.epoch_offset + self.epoch
        streams = [self._pool_stream(p, epoch, n * self.num_batches) for p, n in enumerate(self.counts)]
        for b in range(self.num_batches):
            batch: list[tuple[int, int]] = []
            for stream, n in zip(streams, self.counts):
                per_rank = n // self.world_size
                start = b * n + self.rank * per_rank
                batch.extend((epoch, int(i)) for i in stream[start : start + per_rank])
            yield batch


def stage_pools(config: Config, data: TrainingData, kind: StageData) -> tuple[Dataset, list[np.ndarray], list[int]]:
    """The dataset, the index pools and the items of each pool per batch of a stage's data kind.

    Called for every stage before any training starts (``run_experiment``), so that a stage
    whose data is missing (no annotated image, no silhouette for ψ) stops the run at once.

    Args:
        config: the run's config.
        data: the training data.
        kind: the stage's data (``Stage.data``).

    Raises:
        DataError: no annotated image, or no silhouette for the mask estimator ψ.
    """
    t = config.train
    annotated = np.flatnonzero(data.annotated)
    dataset: Dataset = data.train
    if kind is StageData.ANNOTATED:
        if len(annotated) == 0:
            raise DataError(
                "the training set has no annotated image for a supervised stage "
                f"(data.annotated_ratio={config.data.annotated_ratio}, {len(data.annotated)} images)"
            )
        pools, counts = [annotated], [t.batch_size]
    elif kind is StageData.MIXED:
        unannotated = np.flatnonzero(~data.annotated)
        if len(annotated) == 0:
            raise DataError("the training set has no annotated image for the semi-supervised stage")
        if len(unannotated) == 0 or t.n_unannotated == 0:
            # Everything is annotated (ratio 1.0): the bound reduces to the labelled one.
            pools, counts = [annotated], [t.batch_size]
        else:
            pools, counts = [annotated, unannotated], [t.n_annotated, t.n_unannotated]
    elif kind is StageData.SILHOUETTES:
        if data.mask is not None:
            dataset = data.mask
            pools = [np.arange(len(data.mask))]  # type: ignore[arg-type]
        else:
            pool = np.flatnonzero(data.annotated & data.has_silhouette)
            if len(pool) == 0:
                raise DataError(
                    "no annotated training image has a silhouette to train the mask estimator ψ; "
                    "give data.silhouette_root (UP-S1h masks) or data.mask_root / data.mask_format"
                )
            pools = [pool]
        counts = [t.batch_size]
    else:
        raise TypeError(f"stage data must be a StageData, got {kind!r}")
    return dataset, pools, counts


def epoch_batches(config: Config, kind: StageData, pool_sizes: Sequence[int], counts: Sequence[int]) -> int:
    """Batches in one epoch of a stage.

    An epoch of the ``annotated`` and ``silhouettes`` stages is one pass over their pool. An epoch
    of the ``mixed`` stage is, by ``train.mixed_epoch``, one pass over its annotated pool
    (``annotated_images``: ⌈N_annotated / n_annotated⌉ batches, so that α draws each annotated
    image once per epoch as in the supervised stages) or ⌈N / batch_size⌉ batches over all
    training images (``all_images``), which at 20 % annotated takes 5× the supervised steps.

    Args:
        config: the run's config.
        kind: the stage's data (``Stage.data``).
        pool_sizes: images in each pool (annotated first).
        counts: items of each pool per batch.
    """
    t = config.train
    if kind is StageData.MIXED and t.mixed_epoch == "annotated_images":
        return max(1, math.ceil(pool_sizes[0] / counts[0]))
    return max(1, math.ceil(sum(pool_sizes) / t.batch_size))


def train_loader(
    config: Config,
    data: TrainingData,
    kind: StageData,
    epoch_offset: int,
    rank: int,
    world_size: int,
    stream: int = 0,
    views: Sequence[Any] | None = None,
    num_batches: int | None = None,
) -> DataLoader:
    """The DataLoader of a curriculum stage.

    Args:
        config: the run's config.
        data: the training data.
        kind: the stage's data (``Stage.data``).
        epoch_offset: epochs of the stage already done (resume): the sampler's epoch is
            ``epoch_offset`` + Lightning's epoch counter.
        rank / world_size: data-parallel slice.
        stream: the stage's key (:func:`mirrornet.stage_seeds.stage_key`), so that two stages do not
            share batch orders and a stage's orders do not depend on the others.
        views: one crop transform per view (``Stage.views``): the items then carry every view
            (:class:`~mirrornet.data.views.MultiViewDataset`). None: plain items.
        num_batches: batches per epoch (a round of a stage measured in steps); None: one pass
            over the stage's pool (:func:`epoch_batches`).

    Raises:
        DataError: no annotated image, no silhouette, or a composition not divisible by the
            number of processes.
    """
    t = config.train
    dataset, pools, counts = stage_pools(config, data, kind)
    if views is not None:
        dataset = MultiViewDataset(dataset, views)
    if num_batches is None:
        num_batches = epoch_batches(config, kind, [len(p) for p in pools], counts)
    sampler = CompositionBatchSampler(
        pools,
        counts,
        num_batches,
        seed=t.seed,
        rank=rank,
        world_size=world_size,
        max_batches=t.max_steps_per_epoch,
        epoch_offset=epoch_offset,
        stream=stream,
    )
    workers = config.data.num_workers
    return DataLoader(
        EpochIndexedDataset(dataset),
        batch_sampler=sampler,
        num_workers=workers,
        worker_init_fn=seed_worker if workers > 0 else None,
        # Persistent: the epoch travels in each key (EpochIndexedDataset), so workers kept from
        # the previous epoch draw the same augmentation as fresh ones, without the restart cost.
        persistent_workers=workers > 0,
        # Page-locked batches copy to the GPU asynchronously; pointless (and a warning) on CPU.
        pin_memory=torch.cuda.is_available(),
    )
