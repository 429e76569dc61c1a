"""Write SyntheticPeople to disk in the real dataset formats (paper Sec. 5.1: LSP, LSPET, MPII; Sec. 5.2: UP-S1h).

The export goes through the same readers as real data (`mirrornet.data.read_lsp`, `read_lspet`,
`read_mpii`), so a demo on synthetic people exercises the whole file path. Formats:

- ``lsp``: `joints.mat` with `joints` (3, 14, N): x, y (0-based pixels, as the LSP reader uses
  them) and 1 for an *occluded* joint; `images/im0001.jpg`. The reader splits the first N // 2
  images as train and the rest as test.
- ``lspet``: `joints.mat` with `joints` (14, 3, N): x, y and 1 for a *visible* joint;
  `images/im00001.jpg`. All training data.
- ``mpii`` (the HRNet layout): `annot/train.json` and `annot/valid.json` (joints 1-based,
  `joints_vis`, `center` with HRNet's -15·scale shift undone by the reader, `scale`),
  `annot/gt_valid.mat` (`dataset_joints`, `jnt_missing`, `pos_gt_src`, `headboxes_src`, 1-based)
  and `images/000000001.jpg`. The last fifth (at least one image) is the valid split. The HRNet
  files carry no occlusion flag: a joint is annotated (`joints_vis` = 1) when it lies inside the
  image, as in MPII, where people are not annotated outside the frame.

Every format also gets UP-S1h style silhouettes, `<image stem>_segmentation.png` (0 / 255) beside
the images. The whole set is written to a hidden temporary sibling of `out_dir` and renamed into
place at the end, so an interrupted export never leaves a folder that looks like a dataset.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.io
from PIL import Image

from mirrornet.choices import FILE_FORMATS
from mirrornet.console import progress_bar
from mirrornet.fileio import folder_lock
from mirrornet.data.images import DataSettingError
from mirrornet.data.synthetic.dataset import SyntheticPeople
from mirrornet.skeleton import LSP_TO_MPII, NUM_JOINTS

__all__ = ["export_synthetic", "EXPORT_FORMATS", "MPII_VALID_FRACTION"]

EXPORT_FORMATS: tuple[str, ...] = FILE_FORMATS
MPII_VALID_FRACTION = 0.2
_JPEG_QUALITY = 95
# gt_valid.mat joint names (MPII order), as the official evaluation file spells them.
_MPII_MAT_JOINT_NAMES = ("rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
                         "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri")
# HRNet's reader moves the annotated centre's y down by 15·scale; the export moves it up first.
_MPII_CENTER_Y_SHIFT = 15.0


def _write_image(image: np.ndarray, path: Path) -> None:
    """Write an RGB uint8 image as a high-quality JPEG (the formats ship JPEGs)."""
    Image.fromarray(image).save(path, quality=_JPEG_QUALITY, subsampling=0)  # 4:4:4, no chroma loss


def _write_mask(mask: np.ndarray, path: Path) -> None:
    """Write a silhouette as an 8-bit PNG, 255 = person (UP-S1h: foreground is any value > 0)."""
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def export_synthetic(
    out_dir: Path | str,
    format: Literal["lsp", "lspet", "mpii"] = "lsp",
    num: int = 200,
    size: int = 256,
    seed: int = 0,
    difficulty: float = 0.5,
    progress: bool = True,
) -> Path:
    """Write `num` SyntheticPeople samples to `out_dir` in the file format of LSP, LSPET or MPII.

    Args:
        out_dir: the dataset folder to create; it must not exist or be empty.
        format: "lsp", "lspet" or "mpii" (HRNet layout), see the module docstring.
        num: number of images (>= 2 for "lsp" and "mpii", which have two splits).
        size: image side in pixels.
        seed: SyntheticPeople seed; the same arguments always write the same dataset.
        difficulty: SyntheticPeople difficulty in [0, 1].
        progress: show a tqdm progress bar.

    Returns:
        The path of the written dataset folder.

    Raises:
        FileExistsError: `out_dir` exists and is not an empty folder.
        ValueError: an unknown format or a bad count.
    """
    if format not in EXPORT_FORMATS:
        raise DataSettingError(f"export_synthetic: unknown format {format!r}; choose one of {EXPORT_FORMATS}")
    if int(num) != num or num < (2 if format in ("lsp", "mpii") else 1):
        need = 2 if format in ("lsp", "mpii") else 1
        raise DataSettingError(f"export_synthetic: num must be an integer >= {need} for format {format!r}, got {num!r}")
    out_dir = Path(out_dir)
    _check_new_folder(out_dir)
    people = SyntheticPeople(num, image_size=size, seed=seed, difficulty=difficulty, return_factors=True)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # One export per folder at a time; under the lock, a hidden partial folder of this name is
    # the leftover of a killed export (SIGKILL; other ends remove their own) and goes.
    with folder_lock(out_dir.parent / f".{out_dir.name}.lock", f"--out {out_dir}"):
        _check_new_folder(out_dir)  # again: an export that held the lock may have filled it
        for stale in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the dataset is an ordinary folder
        try:
            writer = {"lsp": _export_lsp, "lspet": _export_lsp, "mpii": _export_mpii}[format]
            writer(people, tmp, format, progress)
            if out_dir.exists():
                out_dir.rmdir()  # empty (checked above); rename cannot replace a folder
            os.replace(tmp, out_dir)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno == errno.ENOSPC:  # named after the dataset, not a file of the hidden folder
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out_dir)) from exc
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out_dir


def _check_new_folder(out_dir: Path) -> None:
    """Refuse ``out_dir`` unless it is absent or an empty folder (an export never overwrites)."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise FileExistsError(f"export_synthetic: {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()):
            raise FileExistsError(
                f"export_synthetic: {out_dir} already exists and is not empty; choose a new folder "
                "or remove it first (an export never overwrites)"
            )


def _samples(people: Any, desc: str, progress: bool):
    """Yield (index, sample) with a progress bar; the bar only shows for large exports."""
    bar = progress_bar(range(len(people)), progress and len(people) >= 100, desc=desc, unit="img")
    for i in bar:
        yield i, people[i]


def _export_lsp(people: Any, root: Path, format: str, progress: bool) -> None:
    """LSP (3, 14, N) with 1 = occluded, or LSPET (14, 3, N) with 1 = visible."""
    images = root / "images"
    images.mkdir()
    n = len(people)
    joints = np.zeros((n, 14, 3))  # x, y, visible
    digits = 4 if format == "lsp" else 5
    for i, s in _samples(people, f"synth {format}", progress):
        joints[i, :, :2] = s["joints"][list(LSP_TO_MPII)]
        joints[i, :, 2] = s["visible"][list(LSP_TO_MPII)]
        stem = f"im{i + 1:0{digits}d}"
        _write_image(s["image"], images / f"{stem}.jpg")
        _write_mask(s["mask"], images / f"{stem}_segmentation.png")
    if format == "lsp":
        raw = np.transpose(joints, (2, 1, 0)).copy()  # (3, 14, N)
        raw[2] = 1.0 - raw[2]  # LSP row 3: 1 = occluded
    else:
        raw = np.transpose(joints, (1, 2, 0)).copy()  # (14, 3, N), column 3: 1 = visible
    _savemat(root / "joints.mat", {"joints": raw})


#: The MAT-file header's free text (116 bytes), fixed in place of scipy's.
_MAT_HEADER_TEXT = b"MATLAB 5.0 MAT-file, SyntheticPeople export (mirrornet)".ljust(116)


def _savemat(path: Path, arrays: dict[str, Any]) -> None:
    """``scipy.io.savemat`` with a fixed header text: scipy stamps the header with the time of
    writing, so two exports of the same people would differ byte for byte when a second passed."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, arrays)
    data = buffer.getvalue()
    path.write_bytes(_MAT_HEADER_TEXT + data[len(_MAT_HEADER_TEXT):])


def _export_mpii(people: Any, root: Path, format: str, progress: bool) -> None:
    """MPII in the HRNet layout: annot/{train,valid}.json, annot/gt_valid.mat, images/."""
    images = root / "images"
    images.mkdir()
    (root / "annot").mkdir()
    n = len(people)
    num_valid = max(1, int(round(MPII_VALID_FRACTION * n)))
    num_train = n - num_valid
    train: list[dict[str, Any]] = []
    valid: list[dict[str, Any]] = []
    pos_gt = np.zeros((NUM_JOINTS, 2, num_valid))
    missing = np.zeros((NUM_JOINTS, num_valid))
    head_boxes = np.zeros((2, 2, num_valid))
    for i, s in _samples(people, "synth mpii", progress):
        name = f"{i + 1:09d}.jpg"
        _write_image(s["image"], images / name)
        _write_mask(s["mask"], images / f"{i + 1:09d}_segmentation.png")
        box = s["box"]
        scale = float(max(box[2] - box[0], box[3] - box[1]) / 200.0)
        center = [float((box[0] + box[2]) / 2.0 + 1.0),
                  float((box[1] + box[3]) / 2.0 + 1.0 - _MPII_CENTER_Y_SHIFT * scale)]
        size = people.image_size
        xy = s["joints"]
        inside = (xy[:, 0] >= -0.5) & (xy[:, 0] < size - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] < size - 0.5)
        entry = {
            "image": name,
            "center": center,
            "scale": scale,
            "joints": [[float(x + 1.0), float(y + 1.0)] if ok else [-1.0, -1.0] for (x, y), ok in zip(xy, inside)],
            "joints_vis": [int(ok) for ok in inside],
        }
        if i < num_train:
            train.append(entry)
        else:
            k = i - num_train
            valid.append(entry)
            pos_gt[:, :, k] = np.where(inside[:, None], xy + 1.0, -1.0)
            missing[:, k] = ~inside
            head_boxes[:, :, k] = s["factors"]["head_box"] + 1.0  # (corner, xy) as HRNet reads it, 1-based
    with open(root / "annot" / "train.json", "w", encoding="utf-8") as f:
        json.dump(train, f)
    with open(root / "annot" / "valid.json", "w", encoding="utf-8") as f:
        json.dump(valid, f)
    names = np.empty((1, NUM_JOINTS), dtype=object)
    for k, nm in enumerate(_MPII_MAT_JOINT_NAMES):
        names[0, k] = nm
    _savemat(root / "annot" / "gt_valid.mat", {
        "dataset_joints": names, "jnt_missing": missing, "pos_gt_src": pos_gt, "headboxes_src": head_boxes,
    })
