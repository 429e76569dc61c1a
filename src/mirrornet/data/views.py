"""Several augmented views of one person, with the affines that map one view onto another.

Consistency methods (a teacher's heatmaps on an *easy* view of an image train the student on a
*hard* view of the same image) need, for each item, the crops of every view and where each
view's heatmap pixels lie in every other view. :class:`MultiViewDataset` wraps a
:class:`~mirrornet.data.PoseDataset`: its items are the dataset's own (the stage's usual keys:
the first view of a plain item, its targets …) plus

* ``views`` (V, 3, H, W): each view's normalised input crop, drawn by the view's own
  :class:`~mirrornet.data.transforms.TopDownTransform` (e.g. weak augmentation, then strong);
* ``view_heatmap_affines`` (V, 2, 3): original-image pixels → each view's heatmap pixels;
* ``view_joint_orders`` (V, K): the original joint behind each heatmap channel of a view (a
  flipped view swaps left and right).

:func:`view_affine` and :func:`view_joint_order` turn two views of a batch into the affine and the
channel order that :func:`mirrornet.codecs.warp_heatmaps` needs to carry heatmaps from one view's
frame into the other's; :func:`mirrornet.data.builders.easy_hard_views` makes the usual pair of
view transforms from a config. Every view's augmentation is drawn from (seed, epoch, index, view), so a
view does not depend on the others, on the workers or on a resume.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mirrornet.data.dataset import PoseDataset
from mirrornet.data.transforms import TopDownTransform, get_affine, normalize_image, warp_affine
from mirrornet.skeleton import FLIP_PERMUTATION

__all__ = ["ComposedView", "MultiViewDataset", "view_affine", "view_joint_order"]


class ComposedView:
    """A view drawn on top of an earlier view of the same item (PoseCons's hard view).

    The earlier view's crop is moved once more by ``transform``'s random scale, rotation and flip
    about the crop's centre: this view's affine is that extra map composed with the earlier view's
    (so a rotation of 30° on a view already turned by 20° turns the person by 50°), and its crop is
    cut from the original image by the composed affine in one warp.

    Args:
        base_view: the index of the earlier view.
        transform: draws the extra scale, rotation and flip (its ``sample``), and gives the crop's
            sizes and backend.
    """

    def __init__(self, base_view: int, transform: TopDownTransform) -> None:
        self.base_view = int(base_view)
        self.transform = transform
        self.input_size = transform.input_size
        self.heatmap_stride = transform.heatmap_stride

    def extra_affine(self, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
        """The extra (2, 3) map of crop pixels drawn from ``rng``, and whether it flips."""
        mult, rotation, flipped = self.transform.sample(rng)
        h, w = self.input_size
        centre = ((w - 1) / 2.0, (h - 1) / 2.0)
        # get_affine maps a region of side 200·scale·padding onto the crop; a region mult times
        # the crop's own side zooms out by mult.
        scale = mult * min(h, w) / (200.0 * self.transform.padding)
        return get_affine(centre, scale, self.input_size, rotation, flipped, self.transform.padding), flipped

    def compose(self, image: np.ndarray, base: dict, rng: np.random.Generator) -> dict:
        """The view's crop, affines and joint order on top of the earlier view's output ``base``
        (a :class:`~mirrornet.data.transforms.TopDownTransform` output)."""
        extra, flipped = self.extra_affine(rng)
        affine = (np.vstack([extra, [0.0, 0.0, 1.0]]) @ np.vstack([base["affine"], [0.0, 0.0, 1.0]]))[:2]
        order = np.asarray(base["joint_order"])
        return {
            "image": warp_affine(image, affine, self.input_size, self.transform.image_backend),
            "affine": affine,
            "heatmap_affine": self.transform.heatmap_affine(affine),
            # A flip swaps the channels once more: channel j now holds what channel FLIP[j] held.
            "joint_order": order[list(FLIP_PERMUTATION)] if flipped else order,
        }


class MultiViewDataset(Dataset):
    """The items of ``dataset`` with ``len(transforms)`` augmented views of each person.

    Args:
        dataset: the pose dataset (its records, epoch and seed are used).
        transforms: one transform per view, e.g. ``(weak, strong)``; each must have the
            dataset's input and heatmap sizes. A :class:`ComposedView` builds on an earlier view.

    Raises:
        ValueError: no view, or a view whose sizes differ from the dataset's.
    """

    def __init__(self, dataset: PoseDataset, transforms: Sequence[TopDownTransform | ComposedView]) -> None:
        if not transforms:
            raise ValueError("MultiViewDataset needs at least one view transform")
        for i, t in enumerate(transforms):
            if isinstance(t, ComposedView) and not 0 <= t.base_view < i:
                raise ValueError(f"view {i} is composed on view {t.base_view}, which must come before it")
        base = dataset.transform
        for i, t in enumerate(transforms):
            if t.input_size != base.input_size or t.heatmap_stride != base.heatmap_stride:
                raise ValueError(
                    f"view {i}: input_size {t.input_size} / stride {t.heatmap_stride} differ from the dataset's "
                    f"{base.input_size} / {base.heatmap_stride}"
                )
        self.dataset = dataset
        self.transforms = tuple(transforms)

    @property
    def epoch(self) -> int:
        """The epoch whose augmentation draws the next items use (the dataset's)."""
        return self.dataset.epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch of the next items' draws."""
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def view_rng(self, index: int, view: int) -> np.random.Generator:
        """The generator of one view's augmentation: a function of (seed, epoch, index, view) only."""
        d = self.dataset
        return np.random.default_rng(np.random.SeedSequence([d.seed, d.epoch, int(index), 1 + int(view)]))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.dataset[index]
        record = self.dataset.records[index]
        image = self.dataset.read_image(record)
        crops, affines, orders, outs = [], [], [], []
        for v, transform in enumerate(self.transforms):
            if isinstance(transform, ComposedView):
                out = transform.compose(image, outs[transform.base_view], self.view_rng(index, v))
            else:
                out = transform(image, record, None, self.view_rng(index, v))
            outs.append(out)
            crops.append(normalize_image(out["image"]))
            affines.append(out["heatmap_affine"])
            orders.append(out["joint_order"])
        item["views"] = torch.from_numpy(np.stack(crops))  # (V, 3, H, W)
        item["view_heatmap_affines"] = torch.from_numpy(np.stack(affines).astype(np.float32))  # (V, 2, 3)
        item["view_joint_orders"] = torch.from_numpy(np.stack(orders).astype(np.int64))  # (V, K)
        return item


def _homogeneous(affine: torch.Tensor) -> torch.Tensor:
    """(..., 2, 3) → (..., 3, 3) with the row (0, 0, 1)."""
    last = torch.zeros(*affine.shape[:-2], 1, 3, dtype=affine.dtype, device=affine.device)
    last[..., 0, 2] = 1.0
    return torch.cat([affine, last], dim=-2)


def view_affine(heatmap_affines: torch.Tensor, source: int, target: int) -> torch.Tensor:
    """The affine from view ``source``'s heatmap pixels to view ``target``'s, per item.

    Args:
        heatmap_affines: (B, V, 2, 3) original → heatmap pixels of each view (a batch's
            ``view_heatmap_affines``).
        source / target: view indices.

    Returns:
        (B, 2, 3): ``H_target ∘ H_source⁻¹`` (in float64 inside, returned in the input's dtype).
    """
    h = _homogeneous(heatmap_affines.double())  # (B, V, 3, 3)
    return (h[:, target] @ torch.linalg.inv(h[:, source]))[:, :2].to(heatmap_affines.dtype)


def view_joint_order(joint_orders: torch.Tensor, source: int, target: int) -> torch.Tensor:
    """For each heatmap channel of view ``target``, the channel of view ``source`` with its joint.

    Args:
        joint_orders: (B, V, K) the original joint behind each channel of each view.
        source / target: view indices.

    Returns:
        (B, K) int64: channel ``j`` of the target view holds the joint of the source's channel
        ``result[:, j]``.
    """
    inverse = torch.argsort(joint_orders[:, source], dim=-1)  # original joint → source channel
    return torch.gather(inverse, 1, joint_orders[:, target])
