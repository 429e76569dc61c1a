"""Annotated / non-annotated split of a training set (paper Sec. 5.2: 20, 40, 60 or 80 % annotated).

One random permutation of the items is drawn per seed; the first round(ratio · N) items of it are
the annotated ones. Hence the split is deterministic, and for one seed the splits are nested: the
40 % set contains the 20 % set, and so on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["annotation_split", "annotation_order", "annotated_pool", "validation_split"]


def annotation_order(num_items: int, seed: int) -> np.ndarray:
    """The permutation of `range(num_items)` that decides, for `seed`, which items get annotated first."""
    if num_items < 0:
        raise ValueError(f"num_items must be >= 0, got {num_items}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED])).permutation(num_items)


def annotation_split(num_items: int, ratio: float, seed: int) -> np.ndarray:
    """Mark which training items count as annotated.

    Args:
        num_items: N, the size of the training set.
        ratio: fraction of annotated items in [0, 1]; exactly `round(ratio * N)` (Python's round,
            half to even) are annotated.
        seed: the split's seed; the same seed gives the same split, and for one seed a larger
            ratio's annotated set contains a smaller ratio's.

    Returns:
        (N,) bool array, True = annotated.
    """
    if not 0.0 <= float(ratio) <= 1.0:
        raise ValueError(f"annotation ratio must lie in [0, 1], got {ratio}")
    order = annotation_order(num_items, seed)
    count = int(round(float(ratio) * num_items))
    mask = np.zeros(num_items, dtype=bool)
    mask[order[:count]] = True
    return mask


def annotated_pool(eligible: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Mark exactly ``count`` of the ``eligible`` items as annotated (``data.annotated_count``).

    The items are taken in the order of :func:`annotation_order` over all items, so for one seed
    a larger pool contains a smaller one (18 ⊂ 45 ⊂ 90 …).

    Args:
        eligible: (N,) bool, the items that may be annotated (e.g. LSP's, not LSPET's).
        count: how many to annotate.
        seed: the split's seed.

    Returns:
        (N,) bool array, True = annotated.

    Raises:
        ValueError: fewer than ``count`` eligible items.
    """
    eligible = np.asarray(eligible, dtype=bool)
    if not 0 <= count <= int(eligible.sum()):
        raise ValueError(f"cannot annotate {count} items: {int(eligible.sum())} are eligible")
    order = [i for i in annotation_order(len(eligible), seed) if eligible[i]]
    mask = np.zeros(len(eligible), dtype=bool)
    mask[order[:count]] = True
    return mask


def validation_split(num_items: int, ratio: float, seed: int) -> np.ndarray:
    """Mark the training items held out as the validation set (for choosing settings).

    The draw depends on (``seed``, ``num_items``) only — not on the annotation ratio or the
    training seed — so every run over the same training set validates on the same people. The
    held-out items are neither annotated nor non-annotated: they leave the training set.

    Args:
        num_items: N, the size of the training set before the split.
        ratio: fraction held out, in [0, 1); exactly ``round(ratio * N)`` items.
        seed: the validation split's seed (``data.val_seed``).

    Returns:
        (N,) bool array, True = validation item.
    """
    if not 0.0 <= float(ratio) < 1.0:
        raise ValueError(f"validation ratio must lie in [0, 1), got {ratio}")
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7A1]).spawn(1)[0]).permutation(num_items)
    mask = np.zeros(num_items, dtype=bool)
    mask[order[: int(round(float(ratio) * num_items))]] = True
    return mask
