"""Writers of tiny datasets in the real on-disk layouts (LSP, LSPET, HR-LSPET, MPII HRNet, UP-S1h).

Tests write these with scipy.io.savemat, json and Pillow, then read them with the real readers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image


def write_image(path: Path, size: tuple[int, int] = (40, 30), value: int = 0, fmt: str | None = None) -> Path:
    """Write an (H, W) = size RGB image whose pixel (y, x) = (x, y, value) (so content is traceable)."""
    h, w = size
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[..., 0] = np.arange(w)[None, :] % 256
    arr[..., 1] = np.arange(h)[:, None] % 256
    arr[..., 2] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return path


def lsp_joints(num: int, seed: int = 0) -> np.ndarray:
    """Random 14-joint poses (num, 14, 2) inside a 40×30 (H×W) image, spread over a box."""
    rng = np.random.default_rng(seed)
    return rng.uniform([3.0, 3.0], [26.0, 36.0], size=(num, 14, 2))


def write_lsp(root: Path, joints14: np.ndarray, occluded: np.ndarray, image_size=(40, 30)) -> Path:
    """LSP layout: joints.mat `joints` (3, 14, N), row 3 = 1 occluded; images/im0001.jpg …"""
    num = joints14.shape[0]
    raw = np.zeros((3, 14, num))
    raw[:2] = np.transpose(joints14, (2, 1, 0))
    raw[2] = occluded.T
    root.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "joints.mat", {"joints": raw})
    for n in range(num):
        write_image(root / "images" / f"im{n + 1:04d}.jpg", image_size, value=n)
    return root


def write_lspet(
    root: Path, joints14: np.ndarray, visible: np.ndarray, png: bool = False, skip: tuple[int, ...] = (), image_size=(40, 30)
) -> Path:
    """LSPET layout: joints.mat `joints` (14, 3, N), column 3 = 1 visible; images/im00001.jpg (or .png)."""
    num = joints14.shape[0]
    raw = np.zeros((14, 3, num))
    raw[:, :2] = np.transpose(joints14, (1, 2, 0))
    raw[:, 2] = visible.T
    root.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "joints.mat", {"joints": raw})
    for n in range(num):
        if n in skip:
            continue
        write_image(root / "images" / f"im{n + 1:05d}.{'png' if png else 'jpg'}", image_size, value=n)
    return root


def write_mpii(root: Path, people: dict[str, list[dict]], gt_valid: dict | None = None, image_size=(40, 30)) -> Path:
    """MPII HRNet layout: annot/{split}.json, annot/gt_valid.mat, images/<name>."""
    (root / "annot").mkdir(parents=True, exist_ok=True)
    names = set()
    for split, recs in people.items():
        with open(root / "annot" / f"{split}.json", "w") as f:
            json.dump(recs, f)
        names.update(r["image"] for r in recs if "image" in r)
    for i, name in enumerate(sorted(names)):
        write_image(root / "images" / name, image_size, value=i)
    if gt_valid is not None:
        scipy.io.savemat(root / "annot" / "gt_valid.mat", gt_valid)
    return root


MPII_NAMES = ["rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
              "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri"]


def dataset_joints_cell(names=MPII_NAMES) -> np.ndarray:
    """`dataset_joints` as Matlab writes it: a 1×16 cell of strings."""
    cell = np.empty((1, len(names)), dtype=object)
    for i, n in enumerate(names):
        cell[0, i] = np.array([n])
    return cell


def write_mask(path: Path, mask: np.ndarray) -> Path:
    """UP-S1h style silhouette PNG: foreground 255, background 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255).save(path)
    return path
