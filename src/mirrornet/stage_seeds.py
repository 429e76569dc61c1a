"""The seeds of a curriculum stage, keyed by the stage's name (never its position).

Every random draw of a stage — its fresh nets' initialisation, the reparameterisation noise of
each epoch, its batch orders — is seeded from the run's ``train.seed`` and the stage's *key*
(:func:`stage_key`), so that inserting, removing or reordering stages of
:data:`mirrornet.curriculum.CURRICULUM` leaves every other stage's draws, and the resume of a
run started before, unchanged.

The seven stages of the paper keep the keys they had when keys were positions (0–6), so their
draws, and every figure reported from them, are those of earlier runs. Any other stage's key is
``2**32 + crc32(name)``: stable across processes and machines (unlike Python's ``hash``), and
above every 32-bit number, so that it never meets one of the seven.
"""

from __future__ import annotations

import zlib

from mirrornet.seeding import derive_seed

__all__ = ["PAPER_STAGE_KEYS", "stage_key", "stage_seed"]

#: The keys of the paper's stages: their positions in the curriculum when draws were keyed by
#: position, kept so that their random draws stay those of the runs already reported.
PAPER_STAGE_KEYS: dict[str, int] = {
    "pretrain_alpha": 0,
    "pretrain_mask": 1,
    "pretrain_vaes": 2,
    "baseline": 3,
    "supervised_first": 4,
    "supervised": 5,
    "semi_supervised": 6,
}


def stage_key(name: str) -> int:
    """The stable number of the stage called ``name`` (seeds and batch-order streams).

    Args:
        name: the stage's name.

    Returns:
        :data:`PAPER_STAGE_KEYS`'s entry, or ``2**32 + crc32(name)`` for any other stage.
    """
    if name in PAPER_STAGE_KEYS:
        return PAPER_STAGE_KEYS[name]
    return 2**32 + zlib.crc32(name.encode("utf-8"))


def stage_seed(seed: int, stage_name: str, epoch: int, rank: int = 0) -> int:
    """The seed of (run seed, stage, epoch, rank).

    Every epoch starts from a known RNG state, so that a resumed stage draws the same noise as an
    uninterrupted one.

    Args:
        seed: the run's ``train.seed``.
        stage_name: the curriculum stage's name.
        epoch: the stage's epoch (0-based); −1 for the initialisation of its fresh nets.
        rank: the data-parallel process.

    Returns:
        A 32-bit seed.
    """
    # epoch -1 (model initialisation) maps to 0 and epochs e to e + 1.
    return derive_seed(seed, stage_key(stage_name), epoch + 1, rank)
