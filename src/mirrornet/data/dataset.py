"""`PoseDataset`: records → the tensors every training stage and evaluation use (paper Sec. 5.2).

An item holds the input crop x, the shrunk crop x* (heatmap resolution), the target heatmaps s
(`codecs`), the silhouette for the mask estimator ψ, and what evaluation needs to go back to the
original image (affine, ground truth, PCK and PCKh normalisers). Non-annotated items (semi-
supervised training, Eq. 29) carry all-zero heatmaps and joint weights, so no target can leak from
them; their ground truth stays in "joints" / "labelled" for evaluation only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mirrornet.codecs import HeatmapCodec
from mirrornet.data.images import load_image
from mirrornet.data.records import PoseRecord
from mirrornet.data.silhouettes import load_silhouette
from mirrornet.data.transforms import TopDownTransform, normalize_image
from mirrornet.metrics import bbox_sizes, head_sizes_from_boxes

__all__ = ["PoseDataset", "item_seed"]


def item_seed(seed: int, epoch: int, index: int) -> np.random.SeedSequence:
    """The seed of one item's augmentation: a function of (seed, epoch, index) only, so results do
    not depend on the number of workers, their order, or where a run was resumed."""
    return np.random.SeedSequence([int(seed), int(epoch), int(index)])


class PoseDataset(Dataset):
    """Top-down pose dataset over PoseRecords (real or synthetic).

    Args:
        records: the people; `record.image` is a file (read lazily) or an (H, W, 3) uint8 array.
        transform: the crop / augmentation.
        codec: heatmap encoder; its heatmap size must equal `transform.heatmap_size`.
        annotated: (N,) bool, which records count as annotated (default: all).
        seed: base seed of the augmentation.

    Item i is a dict of tensors: image (3, H, W) and x_star (3, h, w) float32 normalised by
    IMAGE_MEAN/STD; heatmaps (16, h, w); joint_weights (16,); silhouette (1, h, w) in [0, 1]
    (zeros if none); has_silhouette (); joints (16, 2) original-image pixels; labelled (16,)
    (evaluation mask); visible (16,); affine (2, 3) original → crop pixels; bbox_size () (PCK
    normaliser); head_size () = 0.6 × head-box diagonal or 0; annotated (); index () int64.
    When a flip is drawn, the joint axis of joints / labelled / visible follows the flipped crop
    (left and right swapped), so `codec.to_image_coords(decoded, affine)` compares with "joints".
    """

    def __init__(
        self,
        records: Sequence[PoseRecord],
        transform: TopDownTransform,
        codec: HeatmapCodec,
        annotated: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        if tuple(codec.heatmap_size) != tuple(transform.heatmap_size) or codec.stride != transform.heatmap_stride:
            raise ValueError(
                f"codec (heatmap_size={codec.heatmap_size}, stride={codec.stride}) does not match the transform "
                f"(heatmap_size={transform.heatmap_size}, stride={transform.heatmap_stride})"
            )
        self.records = records
        self.transform = transform
        self.codec = codec
        if annotated is None:
            annotated = np.ones(len(records), dtype=bool)
        annotated = np.asarray(annotated, dtype=bool)
        if annotated.shape != (len(records),):
            raise ValueError(f"annotated must have shape ({len(records)},), got {annotated.shape}")
        self.annotated = annotated
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation draws the next items use."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def read_image(self, record: PoseRecord) -> np.ndarray:
        """The (H, W, 3) uint8 image of ``record`` (its array, or its file read as stored)."""
        if isinstance(record.image, np.ndarray):
            image = record.image
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"record {record.image_id or record.index}: image array must be (H, W, 3) uint8, "
                    f"got {image.shape} {image.dtype}"
                )
            return image
        # The LSP / MPII joints are in stored-pixel coordinates (annotated without EXIF turns).
        return load_image(record.image, exif_orientation=False, backend=self.transform.image_backend)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self.records):
            raise IndexError(f"index {index} out of range for {len(self.records)} records")
        record = self.records[index]
        image = self.read_image(record)
        silhouette = None
        if record.silhouette is not None:
            silhouette = load_silhouette(record.silhouette, image.shape[:2])
        rng = np.random.default_rng(item_seed(self.seed, self.epoch, index))
        out = self.transform(image, record, silhouette, rng)
        annotated = bool(self.annotated[index])
        heatmaps, weights = self.codec.encode(out["joints"], out["labelled"])
        if not annotated:
            heatmaps = np.zeros_like(heatmaps)
            weights = np.zeros_like(weights)
        h, w = self.transform.heatmap_size
        sil = out["silhouette"] if out["silhouette"] is not None else np.zeros((h, w), np.float32)
        order = out["joint_order"]
        joints = np.asarray(record.joints)[order]
        labelled = out["labelled"]
        head_size = 0.0
        if record.head_box is not None:
            head_size = float(head_sizes_from_boxes(record.head_box[None])[0])  # PCKh's normaliser
        return {
            "image": torch.from_numpy(normalize_image(out["image"])),
            "x_star": torch.from_numpy(normalize_image(out["x_star"])),
            "heatmaps": torch.from_numpy(heatmaps),
            "joint_weights": torch.from_numpy(weights),
            "silhouette": torch.from_numpy(np.ascontiguousarray(sil, dtype=np.float32))[None],
            "has_silhouette": torch.tensor(float(out["silhouette"] is not None)),
            "joints": torch.from_numpy(joints.astype(np.float32)),
            "labelled": torch.from_numpy(np.asarray(labelled, dtype=np.float32)),
            "visible": torch.from_numpy(np.asarray(out["visible"], dtype=np.float32)),
            "affine": torch.from_numpy(out["affine"].astype(np.float32)),
            "bbox_size": torch.tensor(float(bbox_sizes(joints[None], labelled[None])[0]), dtype=torch.float32),
            "head_size": torch.tensor(head_size, dtype=torch.float32),
            "annotated": torch.tensor(float(annotated)),
            "index": torch.tensor(index, dtype=torch.int64),
        }
