"""Which weights of a method are reported (``eval.select``; not in the paper).

``last_k_mean`` (the paper, Sec. 5.2): the final weights, with the mean over the last
``eval.last_k_epochs`` evaluations as the reported row. ``best_val``: the evaluation (epoch or
round) with the best validation score among the method's α stages, whose weights each stage keeps
in ``checkpoints/<stage>.best.ckpt`` when the score is a new best; the test split is then
evaluated once, with those weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

__all__ = ["best_checkpoint_path", "validation_total", "best_record"]


def best_checkpoint_path(stage_checkpoint: str | Path) -> Path:
    """``checkpoints/<stage>.best.ckpt`` beside ``checkpoints/<stage>.ckpt``."""
    path = Path(stage_checkpoint)
    return path.with_name(f"{path.stem}.best{path.suffix}")


def validation_total(record: dict) -> float:
    """The "Total" of an epoch record's evaluation (−inf when it is missing or not finite)."""
    value = float(((record.get("eval") or {}).get("groups") or {}).get("Total", float("nan")))
    return value if math.isfinite(value) else -math.inf


def best_record(records: Sequence[dict]) -> dict:
    """The evaluated record with the best :func:`validation_total`; the earliest of equals.

    Raises:
        ValueError: no record was evaluated.
    """
    evaluated = [r for r in records if r.get("eval")]
    if not evaluated:
        raise ValueError("no evaluated epoch to select from")
    best = evaluated[0]
    for record in evaluated[1:]:
        if validation_total(record) > validation_total(best):
            best = record
    return best
