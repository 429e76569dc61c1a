"""Reader of MPII Human Pose in the HRNet layout (paper Sec. 5.1.2).

Layout:

- `root/annot/{train,valid,test}.json`: a list of person records with `image` (file name under
  `root/images/`), `center` (x, y), `scale` (person height / 200 px), `joints` (16 × [x, y],
  1-based Matlab pixels, [-1, -1] when missing) and `joints_vis` (16 flags; 1 = annotated).
  The test split has no `joints` / `joints_vis` (its records come back unlabelled).
- `root/annot/gt_valid.mat` (the official MPII evaluation file): `dataset_joints` (the 16 joint
  names), `jnt_missing` (16, N), `pos_gt_src` (16, 2, N), `headboxes_src` (2, 2, N), one column per
  record of `valid.json`. It gives the valid split its joints, its evaluation mask and its head boxes.

Conventions, those of HRNet's `mpii.py`: the centre's y is moved down by 15·scale and everything
goes from 1-based to 0-based pixels (−1). HRNet's ×1.25 of the scale is the crop padding of
`TopDownTransform` (default 1.25), so `PoseRecord.scale` keeps the annotation's person-height
scale and the crop equals HRNet's. The HRNet files carry no occlusion flag, so `visible` equals
`labelled`.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

import numpy as np

from mirrornet.data.images import DataSettingError, DatasetFormatError, image_size, joints_outside_image, require_dir, require_file
from mirrornet.data.lsp import load_mat_variable
from mirrornet.data.records import PoseRecord
from mirrornet.data.silhouettes import attach_silhouettes
from mirrornet.skeleton import NUM_JOINTS

__all__ = ["read_mpii", "MPII_MAT_JOINT_NAMES", "CENTER_Y_SHIFT"]

# Joint names of `gt_valid.mat` (`dataset_joints`), in MPII order.
MPII_MAT_JOINT_NAMES: tuple[str, ...] = (
    "rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
    "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri",
)
# HRNet moves the annotated centre down by 15·scale pixels (towards the body's middle).
CENTER_Y_SHIFT = 15.0
#: The largest person scale accepted (height / 200 px): a person 20,000 px tall.
MAX_SCALE = 100.0


def _field(rec: dict[str, Any], key: str, path: Path, i: int) -> Any:
    if key not in rec:
        raise DatasetFormatError(f"{path}: record {i} has no field '{key}' (fields: {sorted(rec)})")
    return rec[key]


def _numbers_only(value: Any) -> bool:
    """Whether ``value`` is a JSON number or (nested) lists of them: no strings, no booleans."""
    if isinstance(value, list):
        return all(_numbers_only(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _array(value: Any, shape: tuple[int, ...], key: str, path: Path, i: int) -> np.ndarray:
    if not _numbers_only(value):  # numpy would read "12.5" as 12.5
        raise DatasetFormatError(f"{path}: record {i} field '{key}' must hold numbers, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetFormatError(f"{path}: record {i} field '{key}' is not numeric: {value!r}") from exc
    if arr.shape != shape:
        raise DatasetFormatError(f"{path}: record {i} field '{key}' must have shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise DatasetFormatError(f"{path}: record {i} field '{key}' has non-finite values")
    return arr


def _scale(rec: dict[str, Any], path: Path, i: int) -> float:
    """The record's person scale (height / 200 px): a number in (0, :data:`MAX_SCALE`]."""
    scale = float(_array(_field(rec, "scale", path, i), (), "scale", path, i))
    if not 0 < scale <= MAX_SCALE:
        raise DatasetFormatError(
            f"{path}: record {i} has scale {scale:g} (must be > 0 and at most {MAX_SCALE:g}: "
            f"a person {200 * MAX_SCALE:g} px tall)"
        )
    return scale


def _joints(rec: dict[str, Any], path: Path, i: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The record's joints (16, 2), 0-based, and labelled flags (16,); a test record may have none."""
    if split == "test" and "joints" not in rec:
        return np.zeros((NUM_JOINTS, 2)), np.zeros(NUM_JOINTS)
    raw_joints = _array(_field(rec, "joints", path, i), (NUM_JOINTS, 2), "joints", path, i)
    vis = _array(_field(rec, "joints_vis", path, i), (NUM_JOINTS,), "joints_vis", path, i)
    missing = np.all(raw_joints == -1, axis=1)
    labelled = ((vis > 0) & ~missing).astype(np.float64)
    return np.where(labelled[:, None] > 0, raw_joints - 1.0, 0.0), labelled


def _escapes(name: str) -> bool:
    """Whether the relative image path ``name`` could lead outside the images folder."""
    # Both separators count: a record written on Windows ("..\\x.jpg", "C:\\x.jpg") is judged
    # the same on every system.
    pure = PureWindowsPath(name)
    return (
        PurePosixPath(name).is_absolute()
        or bool(pure.drive or pure.root)
        or ".." in pure.parts
        or "\x00" in name
    )


def _mat_joint_names(raw: np.ndarray) -> list[str]:
    names = []
    for item in raw.ravel():
        while isinstance(item, np.ndarray) and item.dtype == object and item.size == 1:
            item = item.ravel()[0]
        names.append(str(np.asarray(item).ravel()[0]) if isinstance(item, np.ndarray) and item.size else str(item))
    return names


def _read_gt_valid(path: Path, num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joints (N, 16, 2) 0-based, labelled (N, 16), head boxes (N, 2, 2) 0-based from gt_valid.mat."""
    names = _mat_joint_names(load_mat_variable(path, "dataset_joints"))
    if tuple(names) != MPII_MAT_JOINT_NAMES:
        raise DatasetFormatError(f"{path}: 'dataset_joints' must list {list(MPII_MAT_JOINT_NAMES)}, got {names}")
    expected = {"jnt_missing": (NUM_JOINTS, num), "pos_gt_src": (NUM_JOINTS, 2, num), "headboxes_src": (2, 2, num)}
    arrays = {}
    for key, shape in expected.items():
        arr = load_mat_variable(path, key).astype(np.float64)
        if arr.shape != shape:
            raise DatasetFormatError(
                f"{path}: '{key}' must have shape {shape} (N = {num} records in valid.json), got {arr.shape}"
            )
        arrays[key] = arr
    labelled = 1.0 - arrays["jnt_missing"].T  # (N, 16)
    joints = np.transpose(arrays["pos_gt_src"], (2, 0, 1)) - 1.0  # (N, 16, 2), 1-based -> 0-based
    # headboxes_src[corner, xy, n] (HRNet: headboxes_src[1] - headboxes_src[0] is the box size)
    head_boxes = np.transpose(arrays["headboxes_src"], (2, 0, 1)) - 1.0  # (N, corner, xy)
    joints = np.where(labelled[..., None] > 0, joints, 0.0)
    return joints, labelled, head_boxes


def read_mpii(
    root: Path | str,
    split: Literal["train", "valid", "test"] = "train",
    silhouette_root: Path | str | None = None,
) -> list[PoseRecord]:
    """Read one split of MPII Human Pose in the HRNet layout.

    Args:
        root: folder holding `annot/` and `images/`.
        split: "train", "valid" (uses `annot/gt_valid.mat` too) or "test" (unlabelled).
        silhouette_root: where `<image stem>_segmentation.png` silhouettes live, when not beside the images.

    Returns:
        One PoseRecord per person record, in file order; `image_id` is the image file name.
    """
    if split not in ("train", "valid", "test"):
        raise DataSettingError(f"MPII split must be 'train', 'valid' or 'test', got {split!r}")
    root = Path(root)
    json_path = require_file(root / "annot" / f"{split}.json", f"MPII {split} annotation file")
    try:
        with open(json_path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{json_path} is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise DatasetFormatError(f"{json_path} must hold a list of person records, got {type(data).__name__}")
    image_dir = require_dir(root / "images", "MPII images folder")
    gt = _read_gt_valid(root / "annot" / "gt_valid.mat", len(data)) if split == "valid" else None

    records: list[PoseRecord] = []
    checked: dict[str, Path] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise DatasetFormatError(f"{json_path}: record {i} is not an object: {rec!r}")
        name = _field(rec, "image", json_path, i)
        if not isinstance(name, str) or not name:
            raise DatasetFormatError(f"{json_path}: record {i} field 'image' must be a file name, got {name!r}")
        if _escapes(name):
            # An annotation file must not make the reader open (or later write beside) files
            # outside the dataset, whoever wrote it.
            raise DatasetFormatError(
                f"{json_path}: record {i} field 'image' {name!r} is not a path inside {image_dir} "
                "(absolute paths and '..' are not allowed)"
            )
        scale = _scale(rec, json_path, i)
        center = _array(_field(rec, "center", json_path, i), (2,), "center", json_path, i).copy()
        if center[0] != -1:  # HRNet: -1 marks an unknown centre, left unshifted
            center[1] += CENTER_Y_SHIFT * scale
        center -= 1.0
        joints, labelled = _joints(rec, json_path, i, split)
        head_box = None
        if gt is not None:
            joints, labelled, head_box = gt[0][i], gt[1][i], gt[2][i]
        if name not in checked:
            checked[name] = require_file(image_dir / name, "MPII image")
            sizes[name] = image_size(checked[name])
        problem = joints_outside_image(joints, labelled, sizes[name])
        if problem:
            raise DatasetFormatError(f"{json_path}: record {i} (image {name}): {problem}")
        records.append(
            PoseRecord(
                image=checked[name],
                joints=joints,
                visible=labelled.copy(),
                labelled=labelled,
                center=center,
                scale=scale,
                head_box=head_box,
                image_id=str(name),
                index=i,
            )
        )
    attach_silhouettes(records, silhouette_root, image_dir)
    return records
