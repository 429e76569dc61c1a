"""Adam's state carried from one curriculum stage to the next, parameter by parameter.

A stage's optimiser holds only the parameters it trains, so Adam's positional state (indices
into the stage's parameter list) means nothing to a stage that trains another set. Checkpoints
therefore store the names of the optimiser's parameters beside its state
(``optimizer_param_names``), and a stage that continues the optimiser gives each parameter the
moments and step count of the latest earlier stage that trained it. A parameter no earlier stage
trained starts fresh.

This is what makes the three methods treat α alike: the baseline continues α's Adam state from
α's pretraining, and so does the first supervised MirrorNet stage (whose β … φ continue theirs
from the VAE pretraining).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = ["named_adam_states", "merge_named_states", "load_named_states"]


def named_adam_states(payload: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Parameter name → Adam's per-parameter state (``step``, ``exp_avg``, ``exp_avg_sq``).

    Args:
        payload: a checkpoint dict (``optimizer`` and ``optimizer_param_names``), or None.

    Returns:
        The named states; empty when the payload has no optimiser state or no parameter names
        (a checkpoint written before names were stored).
    """
    if not payload:
        return {}
    optimizer, names = payload.get("optimizer"), payload.get("optimizer_param_names")
    if not optimizer or names is None:
        return {}
    indices = [i for group in optimizer["param_groups"] for i in group["params"]]
    if len(indices) != len(names):
        raise ValueError(
            f"optimizer state of stage {payload.get('stage')!r} has {len(indices)} parameters but "
            f"{len(names)} parameter names"
        )
    states = optimizer.get("state", {})
    return {name: states[i] for name, i in zip(names, indices) if i in states}


def merge_named_states(payloads: Iterable[dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """Each parameter's state in the latest of ``payloads`` (oldest first) that holds one."""
    merged: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        merged.update(named_adam_states(payload))
    return merged


def load_named_states(
    optimizer: torch.optim.Optimizer, names: Sequence[str], states: dict[str, dict[str, Any]]
) -> int:
    """Give the optimiser's parameters (called ``names``, in its order) their named states.

    The states are deep-copied: Adam adopts the tensors it is given, and two stages may continue
    the same earlier state. Hyper-parameters (learning rate, betas) stay the optimiser's own.

    Returns:
        How many parameters received a state.
    """
    target = optimizer.state_dict()
    indices = [i for group in target["param_groups"] for i in group["params"]]
    if len(indices) != len(names):
        raise ValueError(f"the optimizer has {len(indices)} parameters but {len(names)} names were given")
    target["state"] = {i: copy.deepcopy(states[n]) for n, i in zip(names, indices) if n in states}
    optimizer.load_state_dict(target)
    return len(target["state"])
