"""Pose plausibility, measured: the paper's Fig. 11 claim ("anatomically implausible poses were
corrected by the MirrorNet architecture", Sec. 5.3) turned into two numbers.

1. The pose VAE's variational lower bound of log p(s) (Eq. 34) per pose:
   L(s) = E_{q_δ(z|s)}[log p_φ(s|z)] − KL(q_δ(z|s) ‖ N(0, I)),
   estimated with a fixed set of Monte-Carlo samples of z (Eq. 23). By default the pose s is the
   predicted joints *re-encoded by the codec* (``codec.encode`` of the decoded argmax joints), so
   the score judges the configuration of the joints in the same representation the pose VAE was
   trained on (the annotation heatmaps), not the shape or the scale of a recognizer's heatmaps: a
   recognizer trained jointly with the pose VAE (supervised / semi-supervised MirrorNet) learns
   heatmaps that look like the VAE's inputs, and scoring the raw heatmaps would reward that
   resemblance rather than the pose. ``pose_lower_bound`` accepts raw heatmaps too.

2. Bone-length statistics (``BoneStatistics``): eight length ratios that do not depend on the
   image scale — left/right for each limb of ``skeleton.SYMMETRIC_LIMBS`` (thigh, shank, upper arm,
   forearm) and upper/lower for each leg and arm and side (thigh/shank, upper arm/forearm). The
   accepted range of each ratio is the [1st, 99th] percentile of the training annotations (in log
   space; the percentiles are settings). A pose *violates* the statistics when one of its ratios
   falls outside its range; only ratios whose four joints are annotated (the evaluation mask) are
   judged. By construction about 2 % of the annotations themselves fall outside each range, so a
   violation rate is read against the rate of the ground-truth poses of the same split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mirrornet import skeleton
from mirrornet.fileio import write_json_atomic

# Bones by name; (parent, child) pairs from skeleton.LIMBS.
_BONES: dict[str, tuple[int, int]] = {
    "r_thigh": (2, 1), "r_shank": (1, 0), "l_thigh": (3, 4), "l_shank": (4, 5),
    "r_upper_arm": (12, 11), "r_forearm": (11, 10), "l_upper_arm": (13, 14), "l_forearm": (14, 15),
}
_SYMMETRIC_NAMES: tuple[str, ...] = ("thigh", "shank", "upper_arm", "forearm")

# Ratio name -> (numerator bone, denominator bone). Left/right ratios come from
# skeleton.SYMMETRIC_LIMBS (first of each pair is the right side, second the left).
RATIOS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    **{
        f"{name}_left_right": (left, right)
        for name, (right, left) in zip(_SYMMETRIC_NAMES, skeleton.SYMMETRIC_LIMBS, strict=True)
    },
    "r_thigh_shank": (_BONES["r_thigh"], _BONES["r_shank"]),
    "l_thigh_shank": (_BONES["l_thigh"], _BONES["l_shank"]),
    "r_upper_arm_forearm": (_BONES["r_upper_arm"], _BONES["r_forearm"]),
    "l_upper_arm_forearm": (_BONES["l_upper_arm"], _BONES["l_forearm"]),
}
SYMMETRY_RATIOS: tuple[str, ...] = tuple(n for n in RATIOS if n.endswith("_left_right"))
PROPORTION_RATIOS: tuple[str, ...] = tuple(n for n in RATIOS if not n.endswith("_left_right"))

# Bone lengths below this many pixels count as zero; keeps log-ratios finite when a predicted
# limb collapses (a collapsed bone against a normal one still gives a huge |log ratio|).
_EPS_PX = 1e-3


def _check_joints(joints: np.ndarray, mask: np.ndarray | None, what: str) -> tuple[np.ndarray, np.ndarray]:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.NUM_JOINTS, 2):
        raise ValueError(f"{what}: joints must be (N, {skeleton.NUM_JOINTS}, 2), got {joints.shape}")
    if mask is None:
        mask = np.ones(joints.shape[:2], dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != joints.shape[:2]:
        raise ValueError(f"{what}: mask must be {joints.shape[:2]}, got {mask.shape}")
    if not np.all(np.isfinite(joints[mask > 0])):
        raise ValueError(f"{what}: joints contain NaN or infinite values where the mask is set")
    return joints, mask > 0


def bone_log_ratios(joints: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Log length ratios of the bones named in ``RATIOS``.

    Args:
        joints: (N, 16, 2) joint coordinates in any pixel frame (ratios are scale-free).
        mask: (N, 16) which joints count (annotated); None means all.

    Returns:
        ``(log_ratios, valid)``, each (N, R) with R = len(RATIOS) in the order of ``RATIOS``;
        ``valid`` is False where one of the four joints of the two bones is masked out.
    """
    joints, mask = _check_joints(joints, mask, "bone_log_ratios")
    values, valid = [], []
    for num, den in RATIOS.values():
        len_num = np.linalg.norm(joints[:, num[0]] - joints[:, num[1]], axis=-1)  # (N,)
        len_den = np.linalg.norm(joints[:, den[0]] - joints[:, den[1]], axis=-1)  # (N,)
        values.append(np.log(np.maximum(len_num, _EPS_PX)) - np.log(np.maximum(len_den, _EPS_PX)))
        valid.append(mask[:, num[0]] & mask[:, num[1]] & mask[:, den[0]] & mask[:, den[1]])
    return np.stack(values, axis=1), np.stack(valid, axis=1)


@dataclass
class BoneStatistics:
    """Accepted ranges of bone-length ratios, fitted on training annotations.

    Attributes:
        lower: ratio name -> lower bound of the log ratio.
        upper: ratio name -> upper bound of the log ratio.
        percentiles: the (low, high) percentiles the bounds were taken at.
        counts: ratio name -> number of training poses the bounds were fitted on.
    """

    lower: dict[str, float]
    upper: dict[str, float]
    percentiles: tuple[float, float] = (1.0, 99.0)
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        train_joints: np.ndarray,
        mask: np.ndarray | None = None,
        percentiles: tuple[float, float] = (1.0, 99.0),
        min_count: int = 10,
    ) -> BoneStatistics:
        """Fit the ranges as percentiles of the training annotations' log ratios.

        Args:
            train_joints: (N, 16, 2) annotated joints of the training set (pixels).
            mask: (N, 16) annotated joints; None means all.
            percentiles: (low, high) percentiles, 0 <= low < high <= 100.
            min_count: fewest poses with a ratio's four joints annotated; fewer raises.

        Raises:
            ValueError: bad shapes, bad percentiles, or too few annotated poses for a ratio.
        """
        low, high = (float(p) for p in percentiles)
        if not 0.0 <= low < high <= 100.0:
            raise ValueError(f"BoneStatistics.fit: percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
        log_ratios, valid = bone_log_ratios(train_joints, mask)
        lower, upper, counts = {}, {}, {}
        for r, name in enumerate(RATIOS):
            values = log_ratios[valid[:, r], r]
            if values.size < min_count:
                raise ValueError(
                    f"BoneStatistics.fit: ratio {name!r} has {values.size} annotated poses, fewer than min_count={min_count}"
                )
            lower[name] = float(np.percentile(values, low))
            upper[name] = float(np.percentile(values, high))
            counts[name] = int(values.size)
        return cls(lower=lower, upper=upper, percentiles=(low, high), counts=counts)

    def flags(self, joints: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-pose, per-ratio verdicts.

        Args:
            joints: (N, 16, 2) predicted joints (pixels).
            mask: (N, 16) joints to judge (usually the annotation mask of the ground truth).

        Returns:
            ``(violated, evaluable)``, each (N, R) bool in the order of ``RATIOS``.
        """
        log_ratios, valid = bone_log_ratios(joints, mask)
        lower = np.array([self.lower[n] for n in RATIOS])  # (R,)
        upper = np.array([self.upper[n] for n in RATIOS])  # (R,)
        outside = (log_ratios < lower) | (log_ratios > upper)
        return outside & valid, valid

    def violations(self, joints: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
        """Fractions of poses that break the statistics.

        Args:
            joints: (N, 16, 2) predicted joints (pixels).
            mask: (N, 16) joints to judge.

        Returns:
            A dict with ``"any"`` (fraction of poses with at least one ratio out of range, among
            poses with at least one judged ratio), ``"symmetry"`` (a left/right ratio out of
            range), ``"proportion"`` (an upper/lower ratio out of range), ``"per_ratio"`` (name ->
            fraction among the poses where that ratio is judged), ``"num_poses"`` and
            ``"per_pose"`` ((N,) bool array, True = at least one violation).
        """
        violated, evaluable = self.flags(joints, mask)
        names = list(RATIOS)
        sym = [names.index(n) for n in SYMMETRY_RATIOS]
        prop = [names.index(n) for n in PROPORTION_RATIOS]

        def fraction(cols: list[int]) -> float:
            judged = evaluable[:, cols].any(axis=1)
            if not judged.any():
                return float("nan")
            return float(violated[:, cols].any(axis=1)[judged].mean())

        per_ratio = {}
        for r, name in enumerate(names):
            judged = evaluable[:, r]
            per_ratio[name] = float(violated[judged, r].mean()) if judged.any() else float("nan")
        return {
            "any": fraction(list(range(len(names)))),
            "symmetry": fraction(sym),
            "proportion": fraction(prop),
            "per_ratio": per_ratio,
            "num_poses": int(evaluable.any(axis=1).sum()),
            "per_pose": violated.any(axis=1),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (inverse of ``from_dict``)."""
        return {"lower": dict(self.lower), "upper": dict(self.upper),
                "percentiles": list(self.percentiles), "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BoneStatistics:
        """Rebuild from ``to_dict`` output; raises ValueError naming a missing ratio."""
        for key in ("lower", "upper"):
            missing = [n for n in RATIOS if n not in data.get(key, {})]
            if missing:
                raise ValueError(f"BoneStatistics.from_dict: {key!r} lacks ratios {missing}")
        return cls(
            lower={n: float(data["lower"][n]) for n in RATIOS},
            upper={n: float(data["upper"][n]) for n in RATIOS},
            percentiles=tuple(float(p) for p in data.get("percentiles", (1.0, 99.0))),  # type: ignore[arg-type]
            counts={n: int(c) for n, c in data.get("counts", {}).items()},
        )

    def save(self, path: str | Path) -> None:
        """Write the statistics as JSON (atomically)."""
        write_json_atomic(path, self.to_dict())


@torch.no_grad()
def pose_lower_bound(
    delta: nn.Module,
    phi: nn.Module,
    s: torch.Tensor,
    num_samples: int = 4,
    fixed_variance: bool = True,
    seed: int = 0,
    batch_size: int = 64,
    pose_variance: float | None = None,
) -> torch.Tensor:
    """The pose VAE's lower bound of log p(s) (Eq. 34), one value per pose.

    Sum over all dimensions of s (K·h·w) and of z; the expectation over q_δ(z|s) is a mean over
    ``num_samples`` reparametrised draws (Eq. 23) from a private generator seeded by ``seed``, so
    two calls on the same poses give the same numbers. Each draw's terms are the pose VAE's
    training terms (:func:`mirrornet.objectives.pose_vae_terms`), z is drawn by
    :func:`mirrornet.distributions.reparameterize` (log-variances clamped as everywhere).

    Args:
        delta: δ, q_δ(z|s): s (B, K, h, w) -> (z_mean, z_logvar), each (B, C, h/8, w/8).
        phi: φ, p_φ(s|z): z -> (s_mean, s_logvar), each (B, K, h, w).
        s: (N, K, h, w) poses as heatmaps.
        num_samples: Monte-Carlo samples of z per pose (>= 1).
        fixed_variance: use σ²_φ = 1 as in the pose VAE's pretraining (Sec. 4.3) — the setting
            under which a pretrained pose VAE is a fair judge of several recognizers; False uses
            φ's variance branch (as in the joint stages).
        seed: seed of the noise.
        batch_size: poses per forward pass.
        pose_variance: σ²_φ instead of 1, or the floor of φ's variance (``model.pose_variance``,
            as the pose VAE was trained with it); None: the paper's reading.

    Returns:
        (N,) float tensor on the CPU (nats).
    """
    from mirrornet.distributions import reparameterize
    from mirrornet.objectives import pose_vae_terms
    from mirrornet.outputs import PoseVAEOutputs

    if s.ndim != 4:
        raise ValueError(f"pose_lower_bound: s must be (N, K, h, w), got {tuple(s.shape)}")
    if num_samples < 1:
        raise ValueError(f"pose_lower_bound: num_samples must be >= 1, got {num_samples}")
    device = next(iter(delta.parameters())).device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    values = []
    for start in range(0, s.shape[0], batch_size):
        s_b = s[start:start + batch_size].to(device=device, dtype=torch.float32)  # (B, K, h, w)
        z_mean, z_logvar = delta(s_b)  # (B, C, h/8, w/8), once for every draw
        log_lik = torch.zeros(s_b.shape[0], device=device)  # (B,)
        for _ in range(num_samples):
            eps = torch.randn(z_mean.shape, generator=generator).to(device)
            z = reparameterize(z_mean, z_logvar, eps)  # Eq. 23
            s_mean, s_logvar = phi(z)  # (B, K, h, w)
            draw = PoseVAEOutputs(z_mean=z_mean, z_logvar=z_logvar, z=z, s_rec_mean=s_mean, s_rec_logvar=s_logvar)
            terms = pose_vae_terms(draw, s_b, learned_variance=not fixed_variance, pose_variance=pose_variance)
            log_lik += terms["plausibility"]
        values.append((log_lik / num_samples - terms["kl_z"]).cpu())  # KL_z is the same for every draw
    return torch.cat(values)


def reencode_poses(codec: Any, coords: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Heatmaps of decoded joints, made by the codec that made the training targets.

    Args:
        codec: a ``mirrornet.codecs`` codec (``encode(joints (16, 2), weights (16,))``).
        coords: (N, 16, 2) joints in input-crop pixels (the output of ``codec.decode``).

    Returns:
        (N, 16, h, w) float32 tensor.
    """
    coords = np.asarray(coords.detach().cpu() if isinstance(coords, torch.Tensor) else coords, dtype=np.float32)
    if coords.ndim != 3 or coords.shape[1:] != (skeleton.NUM_JOINTS, 2):
        raise ValueError(f"reencode_poses: coords must be (N, {skeleton.NUM_JOINTS}, 2), got {coords.shape}")
    weights = np.ones(skeleton.NUM_JOINTS, dtype=np.float32)
    maps = [codec.encode(c, weights)[0] for c in coords]
    return torch.from_numpy(np.stack(maps).astype(np.float32))


def plausibility_report(
    judge: nn.Module,
    codec: Any,
    stats: BoneStatistics,
    predictions: Mapping[str, np.ndarray],
    joints_image: Mapping[str, np.ndarray],
    mask: np.ndarray,
    num_samples: int = 4,
    seed: int = 0,
    fixed_variance: bool = True,
    pose_variance: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Both plausibility measures for several sets of predicted poses, judged by one pose VAE.

    The re-encoded poses reach δ as the pose VAE was trained to see them
    (:meth:`~mirrornet.model.MirrorNet.mirror_pose`: a pose bottleneck's rendering, if the model
    has one), and p_φ(s|z) is evaluated with the run's σ²_φ (``pose_variance``).

    Args:
        judge: the MirrorNet whose pose VAE (δ, φ) judges every method (e.g. supervised
            MirrorNet's).
        codec: the codec of the training targets (re-encodes ``predictions``).
        stats: bone statistics fitted on the training annotations.
        predictions: name -> (N, 16, 2) predicted joints in input-crop pixels (re-encoded for
            the lower bound). Include the ground truth in crop pixels to get the reference rates.
        joints_image: name -> (N, 16, 2) the same joints in original-image pixels (bone ratios);
            crop pixels work as well since the ratios are scale-free (not rotation-affected).
        mask: (N, 16) the evaluation mask (annotated joints of the ground truth).
        num_samples, seed: Monte-Carlo setting of ``pose_lower_bound``.
        fixed_variance: σ²_φ = 1 (pretraining) or φ's variance branch (joint stages).
        pose_variance: σ²_φ or its floor (``model.pose_variance``); None: the paper's reading.

    Returns:
        name -> {"log_p_lower_bound": mean over poses, "log_p_lower_bound_std", "violations":
        fraction with any ratio out of range, "symmetry_violations", "proportion_violations",
        "per_ratio": {...}, "num_poses"}.
    """
    report: dict[str, dict[str, Any]] = {}
    for name, coords in predictions.items():
        if name not in joints_image:
            raise KeyError(f"plausibility_report: joints_image lacks {name!r} (has {sorted(joints_image)})")
        device = next(iter(judge.delta.parameters())).device
        with torch.no_grad():
            s = judge.mirror_pose(reencode_poses(codec, coords).to(device))  # the pose δ was trained on
        bound = pose_lower_bound(judge.delta, judge.phi, s, num_samples=num_samples, seed=seed,
                                 fixed_variance=fixed_variance, pose_variance=pose_variance)
        viol = stats.violations(joints_image[name], mask)
        report[name] = {
            "log_p_lower_bound": float(bound.mean()),
            "log_p_lower_bound_std": float(bound.std()) if bound.numel() > 1 else 0.0,
            "violations": viol["any"],
            "symmetry_violations": viol["symmetry"],
            "proportion_violations": viol["proportion"],
            "per_ratio": viol["per_ratio"],
            "num_poses": viol["num_poses"],
        }
    return report


def format_plausibility(report: Mapping[str, Mapping[str, Any]], names: Sequence[str] | None = None) -> str:
    """A plain-text table of ``plausibility_report`` output (one row per method)."""
    names = list(report) if names is None else list(names)
    width = max([len(n) for n in names] + [10])
    header = f"{'':<{width}}  {'log p(s) ≥':>12}  {'any bad %':>9}  {'L/R bad %':>9}  {'up/low bad %':>12}"
    lines = [header, "-" * len(header)]
    for name in names:
        r = report[name]
        lines.append(
            f"{name:<{width}}  {r['log_p_lower_bound']:>12.1f}  {100 * r['violations']:>9.2f}  "
            f"{100 * r['symmetry_violations']:>9.2f}  {100 * r['proportion_violations']:>12.2f}"
        )
    return "\n".join(lines)
