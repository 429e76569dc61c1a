"""The generic seeding helpers of a training run (no knowledge of stages).

A run is reproducible, and a resumed run equals an uninterrupted one, because every random draw
comes from a seed derived from the run's ``train.seed``:

- fresh nets are initialised from (seed, stage) and the global RNGs (``random``, numpy, torch:
  reparameterisation noise) are seeded from (seed, stage, epoch, rank) at each epoch's first batch
  (:func:`mirrornet.stage_seeds.stage_seed`, :func:`seed_all`);
- a DataLoader worker seeds ``random`` and numpy from the torch seed it was given
  (:func:`seed_worker`).

Batch orders and augmentation draw from their own generators, seeded by (seed, stage key, epoch,
pool) and (seed, epoch, index) (:mod:`mirrornet.training.datamodule`,
:class:`~mirrornet.data.PoseDataset`). The per-stage part lives beside the curriculum
(:mod:`mirrornet.stage_seeds`), so that the data readers, which use this module, sit below it.
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["derive_seed", "seed_all", "seed_worker"]


def derive_seed(*keys: int) -> int:
    """A 32-bit seed mixed from non-negative integer ``keys`` (numpy's ``SeedSequence``).

    Args:
        keys: the parts that identify the draw (run seed, stage key, epoch, rank …).

    Returns:
        A 32-bit seed; distinct keys give unrelated seeds.
    """
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def seed_all(seed: int) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch's (every device) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` in a DataLoader worker from its torch seed (``worker_init_fn``)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
