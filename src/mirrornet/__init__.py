"""MirrorNet: a deep Bayesian approach to reflective 2D pose estimation from human images.

The package re-exports what a user needs most; each subpackage documents its own part:

* :mod:`mirrornet.skeleton` — the 16 MPII joints, flip pairs, limbs, PCK groups.
* :mod:`mirrornet.data` — LSP / LSPET / MPII readers, :class:`SyntheticPeople`, transforms.
* :mod:`mirrornet.codecs`, :mod:`mirrornet.metrics` — heatmaps ↔ keypoints, PCK / PCKh.
* :mod:`mirrornet.nets` — the seven networks (α … ψ) at the paper's size and small CPU variants.
* :mod:`mirrornet.distributions`, :mod:`mirrornet.model`, :mod:`mirrornet.objectives`,
  :mod:`mirrornet.bounds` — the probabilistic model, its sub-networks' objectives (Eqs. 30,
  31, 34) and the joint lower bounds (Eqs. 15, 26-29).
* :mod:`mirrornet.stage_objectives`, :mod:`mirrornet.curriculum` — what each curriculum stage
  maximises on a batch, and the stages as a table.
* :mod:`mirrornet.config`, :mod:`mirrornet.training` — the curriculum on PyTorch Lightning.
* :mod:`mirrornet.checkpoints`, :mod:`mirrornet.inference`, :mod:`mirrornet.predict`,
  :mod:`mirrornet.export` — trained models at run time (without Lightning): loading a
  checkpoint, evaluation, keypoints of images, ONNX.
* :class:`PoseEstimator` (:mod:`mirrornet.api`) — images (paths, numpy arrays, PIL images) to
  keypoints in one call; :mod:`mirrornet.pretrained` — the packaged default model.

Every name below is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Every name is imported on first use (PEP 562): `import mirrornet` and `mirrornet --help` stay
# fast, and torch / Lightning load only when something needs them.
_SUBMODULES = ("bounds", "codecs", "distributions", "metrics", "objectives", "skeleton")
_LAZY = {
    "PoseDataset": "mirrornet.data",
    "PoseRecord": "mirrornet.data",
    "TopDownTransform": "mirrornet.data",
    "annotation_split": "mirrornet.data",
    "read_dataset": "mirrornet.data",
    "SyntheticPeople": "mirrornet.data.synthetic",
    "export_synthetic": "mirrornet.data.synthetic",
    "pck": "mirrornet.metrics",
    "pckh": "mirrornet.metrics",
    "MirrorNet": "mirrornet.model",
    "RECOGNIZERS": "mirrornet.nets",
    "VAENetsConfig": "mirrornet.nets",
    "build_recognizer": "mirrornet.nets",
    "build_vae_nets": "mirrornet.nets",
    "load_config": "mirrornet.config",
    "Config": "mirrornet.config",
    "CURRICULUM": "mirrornet.curriculum",
    "run_experiment": "mirrornet.training",
    "load_checkpoint": "mirrornet.checkpoints",
    "PoseEstimator": "mirrornet.api",
    "Poses": "mirrornet.api",
}

__all__ = ["__version__", *_SUBMODULES, *_LAZY]


def __getattr__(name: str) -> Any:
    """Import a re-exported name, or a submodule, on first use."""
    if name in _SUBMODULES:
        return importlib.import_module(f"mirrornet.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mirrornet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
