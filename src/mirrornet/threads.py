"""How many threads PyTorch runs on: ``train.threads``, or a default from the cores at hand.

PyTorch's own default is one intra-op thread per core of the machine. On a machine whose cores
are shared (other jobs, or this run's own data-loading workers), those threads wait on one
another: on a loaded 2-core machine the demo's networks trained about ten times slower with 2
threads than with 1 (``benchmarks/threads.py`` measures it). The default here leaves a core to
each data worker and caps the rest, and an explicit ``OMP_NUM_THREADS`` is respected.
"""

from __future__ import annotations

import os

import torch

__all__ = ["available_cores", "default_threads", "apply_threads"]

#: The default never takes more intra-op threads than this: the small networks that run on CPUs
#: gain little beyond it, and a shared machine loses a lot.
MAX_DEFAULT_THREADS = 4


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads(num_workers: int = 0, cores: int | None = None) -> int:
    """The intra-op threads when none are asked for.

    ``OMP_NUM_THREADS`` when it is set; otherwise half the cores left once each data-loading
    worker has one (half, so that a machine shared with another job is not oversubscribed), at
    least 1 and at most :data:`MAX_DEFAULT_THREADS`.

    Args:
        num_workers: the data-loading worker processes that run beside the main one.
        cores: the cores available (default :func:`available_cores`).
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = available_cores() if cores is None else cores
    return max(1, min(MAX_DEFAULT_THREADS, (cores - max(0, num_workers)) // 2))


def apply_threads(threads: int | None, num_workers: int = 0) -> int:
    """Set PyTorch's intra-op threads to ``threads`` (None: :func:`default_threads`); returns it.

    Raises:
        ValueError: ``threads`` is not a positive number.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive number of threads, got {threads!r}")
    n = default_threads(num_workers) if threads is None else threads
    torch.set_num_threads(n)
    return n
