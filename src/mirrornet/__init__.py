"""MirrorNet: a deep Bayesian approach to reflective 2D pose estimation from human images.

The package re-exports what a user needs most; each subpackage documents its own part:

* :mod:`mirrornet.skeleton` — the 16 MPII joints, flip pairs, limbs, PCK groups.
* :mod:`mirrornet.data` — LSP / LSPET / MPII readers, :class:`SyntheticPeople`, transforms.
* :mod:`mirrornet.codecs`, :mod:`mirrornet.metrics` — heatmaps ↔ keypoints, PCK / PCKh.
* :mod:`mirrornet.nets` — the seven networks (α … ψ) at the paper's size and small CPU variants.
* :mod:`mirrornet.distributions`, :mod:`mirrornet.model`, :mod:`mirrornet.objectives` —
  the probabilistic model and its lower bounds (Eqs. 15, 26-31, 34).
* :mod:`mirrornet.config`, :mod:`mirrornet.curriculum`, :mod:`mirrornet.training` — the
  curriculum on PyTorch Lightning (imported on first use: Lightning is slow to import).
"""

from __future__ import annotations

from typing import Any

from mirrornet import codecs, distributions, metrics, objectives, skeleton
from mirrornet.data import PoseDataset, PoseRecord, TopDownTransform, annotation_split, read_dataset
from mirrornet.data.synthetic import SyntheticPeople, export_synthetic
from mirrornet.metrics import pck, pckh
from mirrornet.model import MirrorNet
from mirrornet.nets import RECOGNIZERS, VAENetsConfig, build_recognizer, build_vae_nets

__version__ = "0.1.0"

_LAZY = {
    "load_config": "mirrornet.config",
    "Config": "mirrornet.config",
    "CURRICULUM": "mirrornet.curriculum",
    "run_experiment": "mirrornet.training",
    "load_checkpoint": "mirrornet.training",
}

__all__ = [
    "MirrorNet",
    "PoseDataset",
    "PoseRecord",
    "RECOGNIZERS",
    "SyntheticPeople",
    "TopDownTransform",
    "VAENetsConfig",
    "annotation_split",
    "build_recognizer",
    "build_vae_nets",
    "codecs",
    "distributions",
    "export_synthetic",
    "metrics",
    "objectives",
    "pck",
    "pckh",
    "read_dataset",
    "skeleton",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the training-side names on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mirrornet' has no attribute {name!r}")
