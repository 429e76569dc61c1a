"""MirrorNet: a deep Bayesian approach to reflective 2D pose estimation from human images."""

from mirrornet import skeleton

__version__ = "0.1.0"
__all__ = ["skeleton", "__version__"]
