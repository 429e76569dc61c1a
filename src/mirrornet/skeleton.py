"""The human skeleton MirrorNet estimates: 16 joints in MPII order (paper Sec. 5, Fig. 8).

Everything that needs to know which joint is which imports it from here: the flip pairs used by
augmentation and the flip test, the limbs used for drawing and bone-length statistics, the
groups of the PCK / PCKh tables (Tables 2-7), and the map from the 14 LSP joints to the 16 MPII
joints (pelvis = mean of the hips, thorax = mean of the shoulders, LSP "neck" = upper neck).
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "r_ankle",      # 0
    "r_knee",       # 1
    "r_hip",        # 2
    "l_hip",        # 3
    "l_knee",       # 4
    "l_ankle",      # 5
    "pelvis",       # 6
    "thorax",       # 7
    "upper_neck",   # 8
    "head_top",     # 9
    "r_wrist",      # 10
    "r_elbow",      # 11
    "r_shoulder",   # 12
    "l_shoulder",   # 13
    "l_elbow",      # 14
    "l_wrist",      # 15
)
NUM_JOINTS: int = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

# Left/right pairs swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))

# Permutation that a horizontal flip applies to the joint axis: flipped[j] = original[FLIP_PERMUTATION[j]].
FLIP_PERMUTATION: tuple[int, ...] = tuple(
    next((b if a == j else a for a, b in FLIP_PAIRS if j in (a, b)), j) for j in range(NUM_JOINTS)
)

# Bones of the kinematic tree, as (parent, child).
LIMBS: tuple[tuple[int, int], ...] = (
    (6, 2), (2, 1), (1, 0),        # right leg
    (6, 3), (3, 4), (4, 5),        # left leg
    (6, 7), (7, 8), (8, 9),        # spine, neck, head
    (7, 12), (12, 11), (11, 10),   # right arm
    (7, 13), (13, 14), (14, 15),   # left arm
)

# Left/right limb pairs (same bone on either side), for bone-length symmetry statistics.
SYMMETRIC_LIMBS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((2, 1), (3, 4)),      # thigh
    ((1, 0), (4, 5)),      # shank
    ((12, 11), (13, 14)),  # upper arm
    ((11, 10), (14, 15)),  # forearm
)

# The groups of the paper's tables. Head is the head top only (as in the MPII / HRNet tools).
PCK_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (9,),
    "Shoulder": (12, 13),
    "Elbow": (11, 14),
    "Wrist": (10, 15),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
GROUP_NAMES: tuple[str, ...] = (*PCK_GROUPS.keys(), "Total")

# Joints that enter "Total": everything but pelvis and thorax, which LSP does not annotate and
# the official MPII evaluation leaves out.
TOTAL_JOINTS: tuple[int, ...] = tuple(j for j in range(NUM_JOINTS) if j not in (6, 7))

# Colour of each limb when drawn: right side red, left side blue, centre green.
LIMB_SIDES: tuple[str, ...] = tuple(
    "right" if (a in (0, 1, 2, 10, 11, 12) or b in (0, 1, 2, 10, 11, 12))
    else "left" if (a in (3, 4, 5, 13, 14, 15) or b in (3, 4, 5, 13, 14, 15))
    else "centre"
    for a, b in LIMBS
)

# LSP's 14 joints in their file order, and where each lands in the MPII order.
LSP_JOINT_NAMES: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle",
    "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
    "neck", "head_top",
)
LSP_TO_MPII: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9)
MPII_TO_LSP: tuple[int, ...] = LSP_TO_MPII  # index i of LSP order is MPII joint LSP_TO_MPII[i]


def lsp_to_mpii(joints14: np.ndarray, visible14: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map LSP joints (..., 14, 2) and visibility (..., 14) to the 16 MPII joints.

    The pelvis is the mean of the hips and the thorax the mean of the shoulders (paper Sec. 5.1.1);
    each is visible when both of its parents are.
    """
    joints14 = np.asarray(joints14, dtype=np.float64)
    visible14 = np.asarray(visible14, dtype=np.float64)
    if joints14.shape[-2:] != (14, 2) or visible14.shape[-1] != 14:
        raise ValueError(
            f"lsp_to_mpii expects joints (..., 14, 2) and visibility (..., 14); "
            f"got {joints14.shape} and {visible14.shape}"
        )
    batch = joints14.shape[:-2]
    joints = np.zeros((*batch, NUM_JOINTS, 2), dtype=np.float64)
    visible = np.zeros((*batch, NUM_JOINTS), dtype=np.float64)
    joints[..., LSP_TO_MPII, :] = joints14
    visible[..., LSP_TO_MPII] = visible14
    hips, shoulders = (2, 3), (12, 13)
    joints[..., 6, :] = joints[..., hips, :].mean(axis=-2)
    joints[..., 7, :] = joints[..., shoulders, :].mean(axis=-2)
    visible[..., 6] = np.minimum(visible[..., 2], visible[..., 3])
    visible[..., 7] = np.minimum(visible[..., 12], visible[..., 13])
    return joints, visible


def mpii_to_lsp(joints16: np.ndarray, visible16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Select the 14 LSP joints (..., 14, 2) and visibility (..., 14) from 16 MPII joints."""
    joints16 = np.asarray(joints16)
    visible16 = np.asarray(visible16)
    return joints16[..., LSP_TO_MPII, :], visible16[..., LSP_TO_MPII]


def flip_joints(joints: np.ndarray, visible: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Mirror pixel joints (..., 16, 2) about the vertical axis of an image `width` pixels wide.

    A pixel centre x maps to width - 1 - x, and left and right joints swap names.
    """
    joints = np.array(joints, dtype=np.float64, copy=True)
    joints[..., 0] = width - 1 - joints[..., 0]
    perm = list(FLIP_PERMUTATION)
    return joints[..., perm, :], np.asarray(visible)[..., perm]
