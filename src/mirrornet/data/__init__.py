"""Datasets: readers of the real formats, the synthetic people, top-down transforms, annotation splits, PoseDataset.

Readers (paper Sec. 5.1) return `list[PoseRecord]`: `read_lsp`, `read_lspet`, `read_mpii`, or
`read_dataset(format, root, split)`. See docs/data.md for the file layouts and conventions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from mirrornet.data.dataset import PoseDataset
from mirrornet.data.images import DataSettingError, DatasetFileNotFoundError, DatasetFormatError, load_image, load_mask
from mirrornet.data.lsp import read_lsp, read_lspet
from mirrornet.data.mpii import read_mpii
from mirrornet.data.records import PoseRecord
from mirrornet.data.silhouettes import attach_silhouettes, find_silhouette, load_silhouette
from mirrornet.data.splits import annotation_split
from mirrornet.data.synthetic import SyntheticPeople, export_synthetic
from mirrornet.data.transforms import IMAGE_MEAN, IMAGE_STD, TopDownTransform
from mirrornet.data.views import MultiViewDataset

__all__ = [
    "PoseRecord",
    "PoseDataset",
    "MultiViewDataset",
    "TopDownTransform",
    "IMAGE_MEAN",
    "IMAGE_STD",
    "DatasetFormatError",
    "DatasetFileNotFoundError",
    "DataSettingError",
    "load_image",
    "load_mask",
    "load_silhouette",
    "find_silhouette",
    "attach_silhouettes",
    "read_lsp",
    "read_lspet",
    "read_mpii",
    "read_dataset",
    "annotation_split",
    "SyntheticPeople",
    "export_synthetic",
]


def read_dataset(
    format: Literal["lsp", "lspet", "mpii"],
    root: Path | str,
    split: str = "train",
    silhouette_root: Path | str | None = None,
) -> list[PoseRecord]:
    """Read a dataset by format name.

    Args:
        format: "lsp" (splits train / test / all), "lspet" (train or all: all of it is training
            data) or "mpii" (train / valid / test).
        root: the dataset folder.
        split: which part to read.
        silhouette_root: folder of UP-S1h style silhouettes, when not beside the images.
    """
    if format == "lsp":
        return read_lsp(root, split, silhouette_root=silhouette_root)  # type: ignore[arg-type]
    if format == "lspet":
        if split not in ("train", "all"):
            raise DataSettingError(f"LSPET is training data only: split must be 'train' or 'all', got {split!r}")
        return read_lspet(root, silhouette_root=silhouette_root)
    if format == "mpii":
        return read_mpii(root, split, silhouette_root=silhouette_root)  # type: ignore[arg-type]
    raise DataSettingError(f"unknown dataset format {format!r}; choose 'lsp', 'lspet' or 'mpii'")
