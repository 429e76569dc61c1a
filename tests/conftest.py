"""Test-wide settings.

The tests run tiny networks, for which one intra-op thread is fastest: with more, OpenMP's
worker threads spin against each other, and on a 2-core machine that shares its cores a tiny
training run becomes ten times slower. Subprocesses (CLI, DDP) inherit OMP_NUM_THREADS.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MIRRORNET_NO_PROGRESS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
