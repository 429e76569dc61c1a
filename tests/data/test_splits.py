"""Annotation split: exact count, determinism, nesting."""

from __future__ import annotations

import numpy as np
import pytest

from mirrornet.data import annotation_split


def test_count_and_determinism():
    a = annotation_split(11, 0.2, seed=3)
    assert a.dtype == bool and a.shape == (11,) and a.sum() == round(0.2 * 11) == 2
    np.testing.assert_array_equal(a, annotation_split(11, 0.2, seed=3))
    assert annotation_split(1000, 0.4, 0).sum() == 400
    assert annotation_split(5, 0.5, 0).sum() == round(2.5) == 2
    assert annotation_split(7, 0.0, 0).sum() == 0 and annotation_split(7, 1.0, 0).all()
    assert annotation_split(0, 0.5, 0).shape == (0,)


def test_seeds_differ_and_splits_nest():
    assert not np.array_equal(annotation_split(200, 0.5, 0), annotation_split(200, 0.5, 1))
    masks = [annotation_split(500, r, seed=7) for r in (0.2, 0.4, 0.6, 0.8)]
    for small, large in zip(masks, masks[1:]):
        assert np.all(large[small])


def test_bad_ratio():
    with pytest.raises(ValueError, match="ratio"):
        annotation_split(10, 1.5, 0)
    with pytest.raises(ValueError, match="num_items"):
        annotation_split(-1, 0.5, 0)


def test_annotated_pool_draws_exactly_count_eligible_items_nested_across_counts() -> None:
    from mirrornet.data.splits import annotated_pool

    eligible = np.zeros(100, dtype=bool)
    eligible[:40] = True
    small, large = annotated_pool(eligible, 5, 3), annotated_pool(eligible, 20, 3)
    assert small.sum() == 5 and large.sum() == 20
    assert not (small & ~eligible).any() and not (large & ~eligible).any()
    assert (large | ~small).all()  # the 5 are among the 20
    assert not np.array_equal(small, annotated_pool(eligible, 5, 4))
    with pytest.raises(ValueError, match="41"):
        annotated_pool(eligible, 41, 0)
