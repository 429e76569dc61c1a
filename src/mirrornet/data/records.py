"""The one sample record every reader yields (LSP, LSP extended, MPII, SyntheticPeople).

Readers only parse files; cropping, augmentation and heatmaps happen later (`transforms`,
`codecs`). Coordinates are 0-based pixels of the original image, in MPII joint order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class PoseRecord:
    """One annotated (or not) person in one image.

    Attributes:
        image: path of the image file, or the RGB image itself as a (H, W, 3) uint8 array.
        joints: (16, 2) float pixel coordinates (x, y), 0-based, MPII order; undefined where
            `visible` is 0 and the joint is missing.
        visible: (16,) float, 1 for a labelled visible joint, 0 otherwise.
        center: (2,) person centre in pixels (x, y).
        scale: person size / 200 px (the MPII / HRNet convention): the crop side is 200·scale.
        labelled: (16,) float, 1 where the joint is annotated at all (visible or occluded).
            Occluded-but-annotated joints are still training targets, as in LSP.
        silhouette: path of a mask image, a (H, W) bool array, or None.
        head_box: ((x1, y1), (x2, y2)) for PCKh, or None.
        image_id: a name unique within the dataset (file name for real data).
        index: position in the dataset.
        extras: anything a reader wants to keep (e.g. synthetic hidden factors).
    """

    image: Path | str | np.ndarray
    joints: np.ndarray
    visible: np.ndarray
    center: np.ndarray
    scale: float
    labelled: np.ndarray | None = None
    silhouette: Path | str | np.ndarray | None = None
    head_box: np.ndarray | None = None
    image_id: str = ""
    index: int = 0
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.joints = np.asarray(self.joints, dtype=np.float64).reshape(16, 2)
        self.visible = np.asarray(self.visible, dtype=np.float64).reshape(16)
        self.center = np.asarray(self.center, dtype=np.float64).reshape(2)
        self.scale = float(self.scale)
        if self.labelled is None:
            self.labelled = self.visible.copy()
        else:
            self.labelled = np.asarray(self.labelled, dtype=np.float64).reshape(16)
        if self.head_box is not None:
            self.head_box = np.asarray(self.head_box, dtype=np.float64).reshape(2, 2)
