"""Datasets: readers of the real formats, the synthetic people, top-down transforms, splits."""

from mirrornet.data.records import PoseRecord

__all__ = ["PoseRecord"]
