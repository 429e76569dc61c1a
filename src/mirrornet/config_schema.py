"""The schema of a MirrorNet experiment: four typed sections (Sections 4, 5.1 and 5.2 of the paper).

A run is described by a :class:`Config` made of four sections:

* ``data``  — dataset format and root, input size (LSP 256×256, MPII 256×192), heatmap codec,
  annotated ratio (20/40/60/80 %, Section 5.2), augmentation, synthetic-people settings;
* ``model`` — recognizer α (any name of ``mirrornet.nets.RECOGNIZERS``), widths of the VAE nets,
  the labelled bound's pose source and λ (Eq. 27, λ = 0.01), α's variance (Eq. 30, σ² = 0.01);
* ``train`` — epochs per curriculum stage, batch size and composition (96 + 32 of 128, Table 9),
  Adam's learning rate (1e-3), seed, and the Lightning scale settings (devices, nodes, strategy,
  precision);
* ``eval``  — the metric, flip test, and the number of last epochs averaged for the reported figure.

A field that takes one of a few names lists them in its metadata (``choices``), and
:meth:`Config.validate` checks every such field; the names and the shared defaults come from the
modules that implement them, through :mod:`mirrornet.choices` (which keeps this module free of
torch). Reading YAML files and ``key=value`` overrides into these classes is
:mod:`mirrornet.config`, which also exports every name of this module.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from mirrornet.choices import (
    ALPHA_SUPERVISIONS,
    CODECS,
    DATASET_FORMATS,
    DEFAULT_ALPHA_SUPERVISION,
    DEFAULT_ALPHA_VARIANCE,
    DEFAULT_BOTTLENECK_POWER,
    DEFAULT_CROP_PADDING,
    DEFAULT_GENERATOR_VARIANCE,
    DEFAULT_HEATMAP_STRIDE,
    DEFAULT_LAMBDA,
    DEFAULT_POSE_SOURCE,
    DEFAULT_ROTATION,
    DEFAULT_ROTATION_PROB,
    DEFAULT_SCALE_FACTOR,
    DEFAULT_SIGMA,
    DEFAULT_VAE_PRESET,
    GENERATOR_VARIANCES,
    DEFAULT_IMAGE_BACKEND,
    METRICS,
    POSE_BOTTLENECKS,
    POSE_SOURCES,
    VAE_PRESETS,
    IMAGE_BACKENDS,
)

__all__ = ["ConfigError", "DataConfig", "ModelConfig", "EpochsConfig", "TrainConfig", "EvalConfig", "Config"]


class ConfigError(ValueError):
    """A configuration file, key or value is invalid; the message names what is at fault."""


_Options = Union[tuple[str, ...], Callable[[], tuple[str, ...]]]


def _one_of(options: _Options) -> dict[str, _Options]:
    """Field metadata: the value (each item of a list; a None that the type allows passes) must be
    one of ``options``, or of what ``options()`` returns when it is called at validation time."""
    return {"choices": options}


def _stage_names() -> tuple[str, ...]:
    """The names of the curriculum's stages (asked at validation time: the curriculum's module is
    imported only when a config is checked)."""
    from mirrornet.curriculum import CURRICULUM

    return tuple(stage.name for stage in CURRICULUM)


@dataclass
class DataConfig:
    """Where the images come from and how they become network inputs (Section 5.1, 5.2).

    Attributes:
        format: ``lsp``, ``lspet``, ``mpii`` or ``synthetic`` (the embedded procedural people).
        root: dataset folder (relative paths are relative to the working directory).
        train_split: split read for training (None: ``train`` for LSP/MPII, ``all`` for LSPET).
        test_split: split evaluated every epoch (None: ``test`` for LSP, ``valid`` for MPII).
        test_format: format of the evaluation set when it differs from ``format`` (e.g. LSPET
            training, LSP test); None: same as ``format``.
        test_root: folder of the evaluation set; None: ``root``.
        lspet_root: optional LSP-extended folder whose 10,000 images join LSP's 1,000 training
            images (the paper's 11K LSP training set); None: LSP alone.
        silhouette_root: optional folder of UP-S1h style masks for the training images.
        mask_format / mask_root: optional separate silhouette dataset for the mask estimator ψ
            (the paper trains ψ on UP-S1h); None: the training images that carry silhouettes.
        input_size: network input (H, W): 256×256 for LSP, 256×192 for MPII.
        heatmap_stride: input size / heatmap size (4 in the paper: 64×64 heatmaps).
        codec: heatmap targets, ``onehot`` (the paper) or ``gaussian``.
        sigma: Gaussian codec's standard deviation in heatmap pixels.
        annotated_ratio: fraction of the training set regarded as annotated (0 < r <= 1),
            after the validation images are taken out.
        split_seed: seed of the annotated / non-annotated draw.
        val_ratio: fraction of the training images held out as a validation set (0: none),
            disjoint from both the annotated and the non-annotated pools; settings (λ, learning
            rate, epochs, variants) are chosen on it, never on the test split.
        val_seed: seed of the validation draw (independent of ``split_seed`` and the training
            seed, so that every run over the same images validates on the same people).
        synthetic_num_train / synthetic_num_test: number of synthetic people per split.
        synthetic_size: side of the synthetic images in pixels.
        synthetic_difficulty: 0 (easy) … 1 (hard) for the synthetic people.
        augment: random scale, rotation and horizontal flip during training (as in HRNet).
        scale_factor / rotation / rotation_prob / flip / padding: augmentation parameters of
            ``TopDownTransform``.
        num_workers: DataLoader worker processes (each seeded).
        image_backend: ``pillow`` (the default) or ``opencv`` (JPEG decoding and warps about
            2× faster; needs ``pip install 'mirrornet[speed]'``): ``mirrornet.data.images``,
            ``mirrornet.data.transforms``.
    """

    format: str = field(default="synthetic", metadata=_one_of(DATASET_FORMATS))
    root: str | None = None
    train_split: str | None = None
    test_split: str | None = None
    test_format: str | None = field(default=None, metadata=_one_of(DATASET_FORMATS))
    test_root: str | None = None
    lspet_root: str | None = None
    silhouette_root: str | None = None
    mask_format: str | None = field(default=None, metadata=_one_of(DATASET_FORMATS))
    mask_root: str | None = None
    input_size: tuple[int, int] = (256, 256)
    heatmap_stride: int = DEFAULT_HEATMAP_STRIDE
    codec: str = field(default="onehot", metadata=_one_of(CODECS))
    sigma: float = DEFAULT_SIGMA
    annotated_ratio: float = 1.0
    split_seed: int = 0
    val_ratio: float = 0.0
    val_seed: int = 0
    synthetic_num_train: int = 2000
    synthetic_num_test: int = 500
    synthetic_size: int = 128
    synthetic_difficulty: float = 0.5
    augment: bool = True
    scale_factor: float = DEFAULT_SCALE_FACTOR
    rotation: float = DEFAULT_ROTATION
    rotation_prob: float = DEFAULT_ROTATION_PROB
    flip: bool = True
    padding: float = DEFAULT_CROP_PADDING
    num_workers: int = 0
    image_backend: str = field(default=DEFAULT_IMAGE_BACKEND, metadata=_one_of(IMAGE_BACKENDS))


@dataclass
class ModelConfig:
    """The six networks and the two settings of the joint objectives (Sections 3, 4).

    Attributes:
        recognizer: name in ``mirrornet.nets.RECOGNIZERS`` (``hourglass``, ``resnet50``,
            ``hrnet_w32`` or a small CPU variant).
        vae_preset: ``paper`` (Table 8 sizes) or ``small`` (CPU) widths of β, γ, δ, θ, ψ, φ.
        vae_widths: explicit fields of ``VAENetsConfig`` applied on top of the preset.
        pose_source: the pose that feeds the generative part of the labelled bound (Eq. 27):
            ``annotation`` (s_n of the annotation, as Eq. 26–28 read) or ``recognizer``
            (s ~ q_α(s|x), so α receives the generators' gradients on annotated images too).
        lam: λ of Eq. 27 weighting log q_α(s|x) (0.01 in the paper).
        alpha_variance: σ²_α of q_α(s|x), fixed to 0.01 in the paper (Eq. 30).
        learn_alpha_variance: learn log σ²_α as a parameter instead (not in the paper).
        generator_variance: ``fixed`` (σ²_θ = σ²_φ = 1 in every stage, as Secs. 4.2 and 4.3
            fix them "for stability") or ``learned`` (the joint stages use the variance branches
            of θ and φ, Figs. 6–7).
        alpha_supervision: ``all_outputs`` (log q_α sums over every output of a multi-output α,
            the hourglass stacks, as Eq. 30 does — in Eq. 30 and in the λ term of Eq. 27 alike)
            or ``last_output`` (the final output only).
        pretrain_mask_source: the mask w that splits x* while the image VAE is pretrained
            (Eq. 31): ``psi`` (the pretrained mask estimator's w = ψ(x*, s), as Sec. 4.2 defines
            w and as the joint stages use it) or ``silhouette`` (the ground-truth silhouette where
            an image has one, ψ's estimate elsewhere).
        pose_bottleneck: what the mirrors (ψ, θ, δ, plausibility) see of a pose: ``none`` (the
            paper: the K heatmaps themselves) or ``coordinates`` (heatmaps re-rendered, with
            σ = ``data.sigma``, from the joints' differentiable centroids, so that the mirrors
            reach α only through 2K coordinates; ``mirrornet.pose_bottleneck``). Not in the paper.
        bottleneck_power: the centroid's weighting exponent (relu(s)^power) with ``coordinates``.
        pose_variance: σ²_φ of the pose VAE's likelihood p_φ(s | z) in every stage (Eq. 34 and
            the joint bounds) instead of the paper's 1; with ``generator_variance: learned`` a
            floor on φ's variance branch in the joint stages. None: the paper's reading. A value
            on the scale of σ²_α (0.01) lets the pose VAE gain far more than ½Σs² nats by encoding
            a pose, so its posterior need not collapse. Not in the paper.
    """

    recognizer: str = "hourglass"
    vae_preset: str = field(default=DEFAULT_VAE_PRESET, metadata=_one_of(VAE_PRESETS))
    vae_widths: dict[str, int] = field(default_factory=dict)
    pose_source: str = field(default=DEFAULT_POSE_SOURCE, metadata=_one_of(POSE_SOURCES))
    lam: float = DEFAULT_LAMBDA
    alpha_variance: float = DEFAULT_ALPHA_VARIANCE
    learn_alpha_variance: bool = False
    generator_variance: str = field(default=DEFAULT_GENERATOR_VARIANCE, metadata=_one_of(GENERATOR_VARIANCES))
    alpha_supervision: str = field(default=DEFAULT_ALPHA_SUPERVISION, metadata=_one_of(ALPHA_SUPERVISIONS))
    pretrain_mask_source: str = field(default="psi", metadata=_one_of(("psi", "silhouette")))
    pose_bottleneck: str = field(default="none", metadata=_one_of(POSE_BOTTLENECKS))
    bottleneck_power: float = DEFAULT_BOTTLENECK_POWER
    pose_variance: float | None = None


@dataclass
class EpochsConfig:
    """Epochs of each curriculum stage (Section 5.2); see ``mirrornet.curriculum``.

    The defaults are the paper's: α 100 + 100, VAEs 200, MirrorNet 50 + 50, semi 50, so that α
    has seen 200 epochs at the end of every method. ψ's length is not given in the paper; it is
    trained as long as the VAEs.
    """

    alpha_pretrain: int = 100
    mask_pretrain: int = 200
    vae_pretrain: int = 200
    baseline: int = 100
    supervised_first: int = 50
    supervised_second: int = 50
    semi_supervised: int = 50


@dataclass
class TrainConfig:
    """Optimisation and scale settings (Section 5.2; Lightning for devices and precision).

    Attributes:
        epochs: epochs per stage.
        batch_size: images per (global) batch: 128 in the paper.
        n_annotated / n_unannotated: composition of a semi-supervised batch (96 + 32 in the
            paper; Table 9 varies it). Their sum must equal ``batch_size``.
        mixed_epoch: length of an epoch of the semi-supervised stage: ``annotated_images``
            (one pass over the annotated images, ⌈N_annotated / n_annotated⌉ batches, so α sees
            each annotated image as often as in the supervised stages) or ``all_images``
            (⌈N / batch_size⌉ batches, a pass over the whole training set).
        fresh_optimizer_stages: stages that start with a fresh Adam instead of continuing each
            parameter's state from the stage that last trained it (``mirrornet.curriculum``).
            Empty by default (every method continues α's state from its pretraining); e.g.
            ``[baseline, supervised_first]`` restarts α's Adam in both methods alike, and
            ``[supervised_first]`` alone is the unequal treatment of earlier releases.
        unlabeled_weight: w_u, the weight of the unlabelled images' bound in Eq. 29 (1 in the
            paper), at the end of its ramp.
        unlabeled_rampup_epochs: the unlabelled weight rises as w_u·exp(−5(1 − t)²),
            t = epochs done / this, over the first epochs of the semi-supervised stage (0: no
            ramp, the paper). Not in the paper.
        alpha_grad_norm_every: in the joint stages, every this many steps the gradient norm
            into α's parameters of each term of the bound (fidelity, plausibility,
            λ·log q_α) is measured and logged as ``alpha_grad/<term>`` (0: never). Each
            measurement costs three extra backward passes through α.
        lr: Adam's learning rate (1e-3).
        seed: seed of everything (model initialisation, batch order, augmentation, sampling).
        accelerator / devices / num_nodes / strategy / precision: passed to ``lightning.Trainer``
            (e.g. ``gpu``, 4, 2, ``ddp``, ``bf16-mixed``). ``devices`` may be an int or ``auto``.
            On a GPU, ``bf16-mixed`` runs the networks in bfloat16 under autocast (the
            densities stay float32); ``benchmarks/throughput.py`` measures it against float32.
        channels_last: convert every network to the channels-last memory format when it is built
            for a stage (faster convolutions on tensor-core GPUs; the same model, up to
            floating-point rounding).
        compile: ``torch.compile`` the recognizer α when it is built for a stage (the first steps
            then compile; the other, smaller networks stay eager). Ignored, with a warning, where
            torch.compile is not supported.
        max_steps_per_epoch: optional cap on the batches of an epoch (tests, demo).
        max_eval_batches: optional cap on the evaluation batches of an epoch (tests, demo).
        eval_batch_size: batch size of the per-epoch evaluation (None: ``batch_size``).
        gradient_clip_val: optional gradient-norm clipping (None: none, as in the paper).
    """

    epochs: EpochsConfig = field(default_factory=EpochsConfig)
    batch_size: int = 128
    n_annotated: int = 96
    n_unannotated: int = 32
    mixed_epoch: str = field(default="annotated_images", metadata=_one_of(("annotated_images", "all_images")))
    fresh_optimizer_stages: list[str] = field(default_factory=list, metadata=_one_of(_stage_names))
    unlabeled_weight: float = 1.0
    unlabeled_rampup_epochs: float = 0.0
    alpha_grad_norm_every: int = 10
    lr: float = 1e-3
    seed: int = 0
    accelerator: str = "auto"
    devices: Union[int, str] = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    channels_last: bool = False
    compile: bool = False
    max_steps_per_epoch: int | None = None
    max_eval_batches: int | None = None
    eval_batch_size: int | None = None
    gradient_clip_val: float | None = None


@dataclass
class EvalConfig:
    """How the reported figure is computed (Section 5.1, 5.2).

    Attributes:
        metric: ``auto`` (PCKh@0.5 for MPII, PCK@0.2 otherwise), ``pck`` or ``pckh``.
        threshold: None for the paper's (0.2 for PCK, 0.5 for PCKh).
        last_k_epochs: the reported figure is the mean over the last k epochs (10).
        flip_test: average the heatmaps of the image and of its mirror image.
        epoch_split: the split evaluated after every epoch (the learning curves and the
            last-k figure): ``test`` or ``val`` (needs ``data.val_ratio`` > 0).
        final: after the curriculum, evaluate each method's final α on the whole test split
            (and the validation split, if any), with and without the flip test; the figures go
            to ``results.json`` under ``final`` with the number of people.
    """

    metric: str = field(default="auto", metadata=_one_of(("auto", *METRICS)))
    threshold: float | None = None
    last_k_epochs: int = 10
    flip_test: bool = False
    epoch_split: str = field(default="test", metadata=_one_of(("test", "val")))
    final: bool = True


@dataclass
class Config:
    """A whole experiment: data, model, training and evaluation settings."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as nested dicts of primitives (tuples become lists), YAML/torch-safe."""
        return _to_primitive(dataclasses.asdict(self))

    def validate(self) -> "Config":
        """Check the values that types alone cannot; raise :class:`ConfigError` naming the key."""
        _check_choices(self, "")
        _check_data(self.data, self.eval)
        _check_model(self.model)
        _check_train(self.train)
        if self.eval.last_k_epochs < 1:
            raise ConfigError(f"eval.last_k_epochs must be >= 1, got {self.eval.last_k_epochs}")
        from mirrornet.config_ranges import check_ranges  # the ranges of the remaining keys

        check_ranges(self)
        return self


def _check_choices(section: Any, prefix: str) -> None:
    """Check every field of ``section`` (and of its sub-sections) whose metadata lists choices."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            _check_choices(value, f"{prefix}{f.name}.")
            continue
        options = f.metadata.get("choices")
        if options is None or value is None:
            continue
        options = options() if callable(options) else options
        for item in value if isinstance(value, list) else [value]:
            if item not in options:
                raise ConfigError(
                    f"config key {prefix + f.name!r} must be one of {', '.join(options)}; got {item!r}"
                )


def _check_data(d: DataConfig, e: EvalConfig) -> None:
    if d.format != "synthetic" and not d.root:
        raise ConfigError(f"data.root is required for data.format={d.format!r}")
    if len(d.input_size) != 2 or min(d.input_size) <= 0:
        raise ConfigError(f"data.input_size must be two positive ints (H, W), got {d.input_size}")
    if d.heatmap_stride <= 0:
        raise ConfigError(
            f"config key 'data.heatmap_stride' must be a positive int (input pixels per heatmap "
            f"pixel, 4 in the paper), got {d.heatmap_stride}"
        )
    if any(s % (d.heatmap_stride * 8) for s in d.input_size):
        raise ConfigError(
            f"data.input_size {tuple(d.input_size)} must be divisible by 8 × data.heatmap_stride "
            f"= {8 * d.heatmap_stride} (the latents are 1/8 of the heatmaps)"
        )
    if not 0.0 <= d.val_ratio < 1.0:
        raise ConfigError(f"data.val_ratio must be in [0, 1), got {d.val_ratio}")
    if e.epoch_split == "val" and d.val_ratio <= 0.0:
        raise ConfigError("eval.epoch_split=val needs a validation split: set data.val_ratio > 0")
    if not 0.0 < d.annotated_ratio <= 1.0:
        raise ConfigError(f"data.annotated_ratio must be in (0, 1], got {d.annotated_ratio}")
    if d.image_backend == "opencv" and importlib.util.find_spec("cv2") is None:
        raise ConfigError(
            "config key 'data.image_backend' is 'opencv', but OpenCV is not installed: "
            "pip install 'mirrornet[speed]' (or opencv-python-headless), or use 'pillow'"
        )


def _check_model(m: ModelConfig) -> None:
    if not (math.isfinite(m.bottleneck_power) and m.bottleneck_power >= 1):
        raise ConfigError(f"model.bottleneck_power must be a number >= 1, got {m.bottleneck_power}")
    if m.pose_variance is not None and not (math.isfinite(m.pose_variance) and m.pose_variance > 0):
        raise ConfigError(f"model.pose_variance must be a positive number or null, got {m.pose_variance}")
    if not (math.isfinite(m.alpha_variance) and m.alpha_variance > 0):
        raise ConfigError(f"model.alpha_variance must be a finite positive number, got {m.alpha_variance}")


def _check_train(t: TrainConfig) -> None:
    if not (math.isfinite(t.unlabeled_weight) and t.unlabeled_weight >= 0):
        raise ConfigError(f"train.unlabeled_weight must be a finite number >= 0, got {t.unlabeled_weight}")
    if not (math.isfinite(t.unlabeled_rampup_epochs) and t.unlabeled_rampup_epochs >= 0):
        raise ConfigError(
            f"train.unlabeled_rampup_epochs must be a finite number >= 0, got {t.unlabeled_rampup_epochs}"
        )
    if t.alpha_grad_norm_every < 0:
        raise ConfigError(f"train.alpha_grad_norm_every must be >= 0, got {t.alpha_grad_norm_every}")
    if t.batch_size <= 0:
        raise ConfigError(f"train.batch_size must be positive, got {t.batch_size}")
    if t.n_annotated < 1 or t.n_unannotated < 0:
        raise ConfigError(
            f"train.n_annotated must be >= 1 and train.n_unannotated >= 0, "
            f"got {t.n_annotated} and {t.n_unannotated}"
        )
    if t.n_annotated + t.n_unannotated != t.batch_size:
        raise ConfigError(
            f"train.n_annotated + train.n_unannotated = {t.n_annotated} + {t.n_unannotated} "
            f"must equal train.batch_size = {t.batch_size}"
        )
    for name, value in dataclasses.asdict(t.epochs).items():
        if value < 0:
            raise ConfigError(f"train.epochs.{name} must be >= 0, got {value}")
    if not (math.isfinite(t.lr) and t.lr > 0):  # NaN passes a plain `<= 0`
        raise ConfigError(f"train.lr must be a finite positive number, got {t.lr}")


def _to_primitive(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_primitive(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_primitive(v) for v in value]
    return value
