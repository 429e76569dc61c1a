"""Every seed of a training run, in one place.

A run is reproducible, and a resumed run equals an uninterrupted one, because every random draw
comes from a seed derived from the run's ``train.seed``:

- fresh nets are initialised from (seed, stage) (:func:`stage_seed` with epoch −1);
- the global RNGs (``random``, numpy, torch: reparameterisation noise) are seeded from
  (seed, stage, epoch, rank) at each epoch's first batch (:func:`stage_seed`, :func:`seed_all`);
- a DataLoader worker seeds ``random`` and numpy from the torch seed it was given
  (:func:`seed_worker`).

Batch orders and augmentation draw from their own generators, seeded by (seed, stage, epoch,
pool) and (seed, epoch, index) (:mod:`mirrornet.training.datamodule`,
:class:`~mirrornet.data.PoseDataset`).
"""

from __future__ import annotations

import random

import numpy as np
import torch

from mirrornet.curriculum import CURRICULUM, Stage

__all__ = ["seed_all", "seed_worker", "stage_seed"]


def stage_seed(seed: int, stage: Stage, epoch: int, rank: int = 0) -> int:
    """The seed of (run seed, stage, epoch, rank).

    Every epoch starts from a known RNG state, so that a resumed stage draws the same noise as an
    uninterrupted one.

    Args:
        seed: the run's ``train.seed``.
        stage: the curriculum stage.
        epoch: the stage's epoch (0-based); −1 for the initialisation of its fresh nets.
        rank: the data-parallel process.

    Returns:
        A 32-bit seed.
    """
    index = [s.name for s in CURRICULUM].index(stage.name)
    # epoch -1 (model initialisation) maps to 0 and epochs e to e + 1.
    return int(np.random.SeedSequence([seed, index, epoch + 1, rank]).generate_state(1)[0])


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
