"""Training: the Lightning wrapper of a curriculum stage, data, checkpoint writing, the run loop.

``run_experiment(config, out_dir)`` trains the whole curriculum of Sections 4 and 5.2 and writes
the results of the three methods. Reading a checkpoint back (``load_checkpoint(path)`` rebuilds
a trained MirrorNet alone) is :mod:`mirrornet.checkpoints`, which needs no training code.
"""

from mirrornet.training.checkpoint import save_checkpoint
from mirrornet.training.results import collect_results
from mirrornet.training.run import RunError, run_experiment

__all__ = [
    "RunError",
    "collect_results",
    "run_experiment",
    "save_checkpoint",
]
