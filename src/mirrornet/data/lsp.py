"""Readers of Leeds Sports Pose (LSP) and LSP extended (LSPET), paper Sec. 5.1.1.

Layouts (as distributed):

- LSP: `root/joints.mat` with variable `joints` of shape (3, 14, N) (N = 2000 in the release) and
  `root/images/im0001.jpg` ... (1-based, 4 digits). Row 3 is 1 for an *occluded* joint. The first
  N // 2 images are the training split, the rest the test split.
- LSPET: `root/joints.mat` with `joints` of shape (14, 3, N) (N = 10000) and
  `root/images/im00001.jpg` ... (5 digits). Column 3 is 1 for a *visible* (annotated) joint and
  0 for a joint that was *not annotated*: in the release 16,675 of the 16,787 flag-0 joints lie
  outside their image at placeholder coordinates (e.g. six joints of `im00015` at (0, −59.1)),
  in 6,010 of the 10,000 records. All of it is training data. The improved HR-LSPET release (PNG images, a few numbers left out) is accepted:
  when the images folder holds `im#####.png` files and no `.jpg` ones, numbers without an image
  are skipped; in the JPEG layout a missing image is an error naming it.

Conventions (see docs/data.md): x, y of the file are used as they are, as 0-based pixel centres.
In LSP every joint with finite coordinates is *labelled* (LSP annotates occluded joints too, and
its flag only says occluded); in LSPET only joints with flag 1 are labelled — a flag-0 joint has
weight 0, stays out of the person box, the crop, the targets and PCK. `visible` follows the
file's flag. The 14 joints map to the 16 MPII joints by `skeleton.lsp_to_mpii`
(pelvis = mean of the hips, thorax = mean of the shoulders, as in the paper). The person centre is
the centre of the tight box around the labelled joints and `scale` = max(box w, box h) / 200, with
no margin: the crop's padding (×1.25 by default) is applied by `TopDownTransform`. The head box
is a square of side |head top − neck| centred between them (PCKh compatibility; its 0.6 × diagonal
is 0.85 × the head segment).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.io

from mirrornet.data.images import DataSettingError, DatasetFormatError, image_size, joints_outside_image, require_dir, require_file
from mirrornet.data.records import PoseRecord
from mirrornet.data.silhouettes import attach_silhouettes
from mirrornet.skeleton import JOINT_INDEX, LSP_JOINT_NAMES, lsp_to_mpii

__all__ = ["read_lsp", "read_lspet", "load_mat_variable", "joint_box", "center_scale_from_joints", "head_box_from_joints"]


def load_mat_variable(path: Path | str, name: str) -> np.ndarray:
    """Load one variable of a Matlab .mat file, with errors naming the file and the variable.

    Raises:
        DatasetFileNotFoundError: the file is missing.
        DatasetFormatError: the file is not a readable .mat file or lacks the variable.
    """
    path = require_file(path, ".mat file")
    try:
        data = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises many types (MatReadError, IndexError, ...) on bad files
        raise DatasetFormatError(f"cannot read {path} as a Matlab .mat file (v5/v7): {exc}") from exc
    if name not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise DatasetFormatError(f"{path} has no variable '{name}' (variables found: {found})")
    return np.asarray(data[name])


def joint_box(joints: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Tight box ((x1, y1), (x2, y2)) around the labelled joints, or None when none is labelled."""
    mask = np.asarray(labelled) > 0
    if not mask.any():
        return None
    pts = np.asarray(joints, dtype=np.float64)[mask]
    return pts.min(axis=0), pts.max(axis=0)


def center_scale_from_joints(joints: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, float]:
    """Person centre (x, y) and scale = max(w, h) / 200 of the tight box around labelled joints.

    No margin is added here; `TopDownTransform(padding=...)` pads the crop.

    Raises:
        ValueError: fewer than two distinct labelled joints (the box would be a point).
    """
    box = joint_box(joints, labelled)
    if box is None:
        raise ValueError("no labelled joint to place the person")
    lo, hi = box
    size = float(np.max(hi - lo))
    if size <= 0:
        raise ValueError("the labelled joints span an empty box")
    return (lo + hi) / 2.0, size / 200.0


def head_box_from_joints(joints: np.ndarray, labelled: np.ndarray) -> np.ndarray | None:
    """Head box for PCKh from head top and upper neck: a square of side |head top − neck|.

    Returns:
        (2, 2) array ((x1, y1), (x2, y2)), or None unless both joints are labelled and apart.
    """
    top, neck = JOINT_INDEX["head_top"], JOINT_INDEX["upper_neck"]
    if labelled[top] <= 0 or labelled[neck] <= 0:
        return None
    length = float(np.linalg.norm(joints[top] - joints[neck]))
    if length <= 0:
        return None
    mid = (joints[top] + joints[neck]) / 2.0
    return np.stack([mid - length / 2.0, mid + length / 2.0])


def _records_from_14(
    joints14: np.ndarray,
    visible14: np.ndarray,
    images: list[Path],
    numbers: list[int],
    mat_path: Path,
    annotated14: np.ndarray | None = None,
) -> list[PoseRecord]:
    """Build records from per-image 14-joint arrays (N, 14, 2), visibility (N, 14).

    ``annotated14`` (N, 14) marks the joints that carry an annotation (LSPET's flag); None: every
    joint with finite coordinates (LSP).
    """
    records: list[PoseRecord] = []
    for n, image in zip(numbers, images):
        xy = joints14[n]
        finite = np.isfinite(xy).all(axis=1)
        if annotated14 is not None:
            finite = finite & (annotated14[n] > 0)
        # NaN marks an unannotated joint; an infinite or far-off coordinate is an error.
        infinite = np.flatnonzero(np.isinf(xy).any(axis=1))
        problem = (f"joint {infinite[0] + 1} ({LSP_JOINT_NAMES[infinite[0]]}) has an infinite coordinate "
                   "(NaN marks an unannotated joint)") if infinite.size else None
        problem = problem or joints_outside_image(np.where(finite[:, None], xy, 0.0), finite, image_size(image))
        if problem:
            raise DatasetFormatError(f"{mat_path}: image {image.name} (number {n + 1}): {problem}")
        labelled14 = finite.astype(np.float64)
        vis14 = visible14[n] * labelled14
        joints, visible = lsp_to_mpii(np.where(finite[:, None], xy, 0.0), vis14)
        _, labelled = lsp_to_mpii(np.where(finite[:, None], xy, 0.0), labelled14)
        try:
            center, scale = center_scale_from_joints(joints, labelled)
        except ValueError as exc:
            raise DatasetFormatError(f"{mat_path}: image {image.name} (number {n + 1}): {exc}") from exc
        records.append(
            PoseRecord(
                image=image,
                joints=joints,
                visible=visible,
                labelled=labelled,
                center=center,
                scale=scale,
                head_box=head_box_from_joints(joints, labelled),
                image_id=image.name,
                index=len(records),
            )
        )
    return records


def _numeric_joints(raw: np.ndarray, mat_path: Path, layout: str, shape: tuple[int, int]) -> np.ndarray:
    """``joints`` as float64 (3-D, ``shape`` first, at least one person), or an error naming the file."""
    if raw.dtype.kind not in "biuf":
        kind = {"c": "complex numbers", "O": "a cell array or struct", "U": "text"}.get(raw.dtype.kind, raw.dtype.name)
        raise DatasetFormatError(f"{mat_path}: {layout} 'joints' must be a real numeric array, got {kind}")
    if raw.ndim != 3 or raw.shape[:2] != shape:
        raise DatasetFormatError(
            f"{mat_path}: {layout} 'joints' must have shape ({shape[0]}, {shape[1]}, N), got {raw.shape}"
        )
    if raw.shape[2] == 0:
        raise DatasetFormatError(f"{mat_path}: {layout} 'joints' holds no people (N = 0)")
    return raw.astype(np.float64)


def _check_flags(flags: np.ndarray, mat_path: Path, what: str, digits: int) -> None:
    """Refuse flags other than 0 / 1 in ``flags`` (14, N), naming the first bad one.

    The message uses the dataset's own numbering, 1-based as in its file names (``im0001.jpg``
    is image 1) and in Matlab, and plain numbers (no numpy reprs).
    """
    ok = np.isfinite(flags) & ((flags == 0) | (flags == 1))
    if not ok.all():
        joint, image = (int(i) for i in np.argwhere(~ok)[0])
        count = int((~ok).sum())
        raise DatasetFormatError(
            f"{mat_path}: the {what} flags must be 0 or 1; found {float(flags[joint, image]):g} for joint "
            f"{joint + 1} ({LSP_JOINT_NAMES[joint]}) of image {image + 1} (im{image + 1:0{digits}d})"
            + (f", and {count - 1} more bad flags" if count > 1 else "")
        )


def read_lsp(
    root: Path | str,
    split: Literal["train", "test", "all"] = "train",
    silhouette_root: Path | str | None = None,
) -> list[PoseRecord]:
    """Read the Leeds Sports Pose dataset (`joints.mat` of shape (3, 14, N), `images/im0001.jpg`).

    Args:
        root: the folder holding `joints.mat` and `images/`.
        split: "train" = the first N // 2 images, "test" = the rest, "all" = every image.
        silhouette_root: where `im0001_segmentation.png` silhouettes live, when not beside the images.

    Returns:
        One PoseRecord per image, in file order, `index` = position in the returned list.
    """
    if split not in ("train", "test", "all"):
        raise DataSettingError(f"LSP split must be 'train', 'test' or 'all', got {split!r}")
    root = Path(root)
    mat_path = root / "joints.mat"
    raw = _numeric_joints(load_mat_variable(mat_path, "joints"), mat_path, "LSP", (3, 14))
    num = raw.shape[2]
    _check_flags(raw[2], mat_path, "occlusion", digits=4)
    joints14 = np.transpose(raw[:2], (2, 1, 0))  # (N, 14, 2)
    visible14 = 1.0 - raw[2].T  # row 3 is 1 for an occluded joint
    image_dir = require_dir(root / "images", "LSP images folder")
    half = num // 2
    numbers = {"train": range(0, half), "test": range(half, num), "all": range(num)}[split]
    images = [require_file(image_dir / f"im{n + 1:04d}.jpg", "LSP image") for n in numbers]
    records = _records_from_14(joints14, visible14, images, list(numbers), mat_path)
    attach_silhouettes(records, silhouette_root, image_dir)
    return records


_PNG_NAME = re.compile(r"^im\d{5}\.png$")
_JPG_NAME = re.compile(r"^im\d{5}\.jpg$")


def read_lspet(root: Path | str, silhouette_root: Path | str | None = None) -> list[PoseRecord]:
    """Read LSP extended (`joints.mat` of shape (14, 3, N), `images/im00001.jpg`), all training data.

    Also reads the improved HR-LSPET release, whose images are `im00001.png` with a few numbers
    left out: those numbers are skipped (only in that PNG layout).

    Args:
        root: the folder holding `joints.mat` and `images/`.
        silhouette_root: where `im00001_segmentation.png` silhouettes live, when not beside the images.
    """
    root = Path(root)
    mat_path = root / "joints.mat"
    raw = _numeric_joints(load_mat_variable(mat_path, "joints"), mat_path, "LSPET", (14, 3))
    num = raw.shape[2]
    _check_flags(raw[:, 2], mat_path, "visibility", digits=5)
    joints14 = np.transpose(raw[:, :2], (2, 0, 1))  # (N, 14, 2)
    # Column 3 is 1 for a visible joint; 0 marks a joint that was not annotated (its coordinates
    # are placeholders, mostly outside the image), so it is not labelled either.
    visible14 = raw[:, 2].T
    image_dir = require_dir(root / "images", "LSPET images folder")
    names = {p.name for p in image_dir.iterdir()}
    png_layout = any(_PNG_NAME.match(x) for x in names) and not any(_JPG_NAME.match(x) for x in names)
    images: list[Path] = []
    numbers: list[int] = []
    for n in range(num):
        if png_layout:
            name = f"im{n + 1:05d}.png"
            if name not in names:
                continue  # HR-LSPET leaves some numbers out on purpose
            images.append(image_dir / name)
        else:
            images.append(require_file(image_dir / f"im{n + 1:05d}.jpg", "LSPET image"))
        numbers.append(n)
    records = _records_from_14(joints14, visible14, images, numbers, mat_path, annotated14=visible14)
    attach_silhouettes(records, silhouette_root, image_dir)
    return records
