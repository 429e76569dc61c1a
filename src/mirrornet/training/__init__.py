"""Training: the Lightning wrapper of a curriculum stage, data, checkpoints, the run loop.

``run_experiment(config, out_dir)`` trains the whole curriculum of Sections 4 and 5.2 and writes
the results of the three methods; ``load_checkpoint(path)`` rebuilds a trained MirrorNet alone.
"""

from mirrornet.training.checkpoint import build_model, load_checkpoint, read_checkpoint, save_checkpoint
from mirrornet.training.run import RunError, collect_results, run_experiment

__all__ = [
    "RunError",
    "build_model",
    "collect_results",
    "load_checkpoint",
    "read_checkpoint",
    "run_experiment",
    "save_checkpoint",
]
