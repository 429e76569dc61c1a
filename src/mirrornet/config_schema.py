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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from mirrornet.config_checks import (
    ConfigError,
    check_choices as _check_choices,
    check_data as _check_data,
    check_eval as _check_eval,
    check_model as _check_model,
    check_train as _check_train,
)
from mirrornet.choices import (
    ALPHA_SUPERVISIONS,
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
    LR_SCHEDULES,
    SELECTIONS,
)

__all__ = ["ConfigError", "DataConfig", "ModelConfig", "EpochsConfig", "StepsConfig", "TrainConfig", "EvalConfig", "Config"]


_Options = Union[tuple[str, ...], Callable[[], tuple[str, ...]]]


def _one_of(options: _Options) -> dict[str, _Options]:
    """Field metadata: the value (each item of a list; a None that the type allows passes) must be
    one of ``options``, or of what ``options()`` returns when it is called at validation time."""
    return {"choices": options}


def _codec_names() -> tuple[str, ...]:
    """The registered heatmap codecs (:data:`mirrornet.codecs.CODECS`), asked at validation time."""
    from mirrornet.codecs import CODECS

    return tuple(CODECS)


def _recognizer_names() -> tuple[str, ...]:
    """The registered recognizers (:data:`mirrornet.nets.RECOGNIZERS`), asked at validation time:
    importing the nets registers the built-in ones (and loads torch)."""
    from mirrornet.nets import RECOGNIZERS

    return tuple(RECOGNIZERS)


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
        val_source: where the validation images are drawn from: ``all`` training images, or
            ``root``: the images of ``data.root``'s training split only (not ``lspet_root``'s),
            ``val_ratio`` of them, so that validation matches the test split's people.
        synthetic_num_train / synthetic_num_test: number of synthetic people per split.
        synthetic_size: side of the synthetic images in pixels.
        synthetic_difficulty: 0 (easy) … 1 (hard) for the synthetic people.
        augment: random scale, rotation and horizontal flip during training (as in HRNet).
        scale_factor / rotation / rotation_prob / flip / padding: augmentation parameters of
            ``TopDownTransform``.
        annotated_count: instead of ``annotated_ratio``, exactly this many images of
            ``data.root``'s training split are annotated (drawn by ``split_seed``, nested across
            counts), and every other training image — the rest of the split and all of
            ``lspet_root`` — is non-annotated: the label-scarce testbed (``lsp_scarce``).
        half_body_prob: probability that a training crop is cut around the upper or the lower
            body only (HRNet's half-body augmentation; 0: never, the paper).
        colour_jitter: brightness, contrast and saturation of a training crop are each scaled
            by a factor drawn from [1 − c, 1 + c] (0: none, the paper).
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
    codec: str = field(default="onehot", metadata=_one_of(_codec_names))
    sigma: float = DEFAULT_SIGMA
    annotated_ratio: float = 1.0
    annotated_count: int | None = None
    split_seed: int = 0
    val_ratio: float = 0.0
    val_seed: int = 0
    val_source: str = field(default="all", metadata=_one_of(("all", "root")))
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
    half_body_prob: float = 0.0
    colour_jitter: float = 0.0
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

    recognizer: str = field(default="hourglass", metadata=_one_of(_recognizer_names))
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
class StepsConfig:
    """Optimizer steps of each curriculum stage; a stage given here ignores its epochs.

    Each field is None (the stage is measured in ``train.epochs``) or a number of optimizer steps,
    a multiple of ``train.eval_every_steps``: the stage then runs ``steps / eval_every_steps``
    rounds of ``eval_every_steps`` steps, each followed by an evaluation and a checkpoint, so that
    every method and every annotated ratio can be given the same number of steps. Not in the paper,
    whose stages are epochs.
    """

    alpha_pretrain: int | None = None
    mask_pretrain: int | None = None
    vae_pretrain: int | None = None
    baseline: int | None = None
    supervised_first: int | None = None
    supervised_second: int | None = None
    semi_supervised: int | None = None


@dataclass
class TrainConfig:
    """Optimisation and scale settings (Section 5.2; Lightning for devices and precision).

    Attributes:
        epochs: epochs per stage.
        steps: optimizer steps per stage, for the stages measured in steps (see
            :class:`StepsConfig`); a stage given a number here ignores its epochs.
        eval_every_steps: the length of a round of a stage measured in steps: α is evaluated
            and the checkpoint written after every round.
        lr_schedule: the learning rate over each stage's optimizer steps: ``constant`` (the
            paper), ``step`` (× ``lr_gamma`` at each of ``lr_milestones``, fractions of the
            stage's steps) or ``cosine`` (from ``lr`` down to ``lr × lr_min_ratio``).
        warmup_steps: the first steps of each stage raise the learning rate linearly from
            ``lr / warmup_steps`` to ``lr`` (0: none).
        lr_milestones / lr_gamma: the ``step`` schedule.
        lr_min_ratio: the ``cosine`` schedule's final learning rate, as a fraction of ``lr``.
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
        consistency_weight / plausibility_weight / fidelity_weight: the weights, in the
            consistency stages (``mirrornet.consistency``), of the PoseCons term and of
            MirrorNet's two terms on the unannotated rows (not in the paper; 1, 0, 0).
        alpha_grad_norm_every: in the joint stages, every this many steps the gradient norm
            into α's parameters of each term of the bound (fidelity, plausibility,
            λ·log q_α) is measured and logged as ``alpha_grad/<term>`` (0: never). Each
            measurement costs three extra backward passes through α.
        lr: Adam's learning rate (1e-3).
        seed: seed of everything (model initialisation, batch order, augmentation, sampling).
        accelerator / devices / num_nodes / strategy / precision: passed to ``lightning.Trainer``
            (e.g. ``gpu``, 4, 2, ``ddp``, ``bf16-mixed``). ``devices`` may be an int or ``auto``.
            On a GPU, ``bf16-mixed`` runs the networks in bfloat16 under autocast (the
            densities stay float32); ``benchmarks.throughput`` measures it against float32.
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
        threads: PyTorch's intra-op threads in train, evaluate and predict (None:
            ``OMP_NUM_THREADS`` if set, else half the cores this process may use once each data
            worker has one, 1 to 4; :mod:`mirrornet.threads`).
    """

    epochs: EpochsConfig = field(default_factory=EpochsConfig)
    steps: StepsConfig = field(default_factory=StepsConfig)
    eval_every_steps: int = 200
    lr_schedule: str = field(default="constant", metadata=_one_of(LR_SCHEDULES))
    warmup_steps: int = 0
    lr_milestones: list[float] = field(default_factory=lambda: [0.7, 0.9])
    lr_gamma: float = 0.1
    lr_min_ratio: float = 0.0
    batch_size: int = 128
    n_annotated: int = 96
    n_unannotated: int = 32
    mixed_epoch: str = field(default="annotated_images", metadata=_one_of(("annotated_images", "all_images")))
    fresh_optimizer_stages: list[str] = field(default_factory=list)
    unlabeled_weight: float = 1.0
    unlabeled_rampup_epochs: float = 0.0
    consistency_weight: float = 1.0
    plausibility_weight: float = 0.0
    fidelity_weight: float = 0.0
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
    threads: int | None = None


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
            to ``results.json`` under ``final`` with the number of people, every metric of
            :func:`mirrornet.inference.metric_names` and the image-blind floor beside each.
        select: which weights of a method are reported: ``last_k_mean`` (the paper: the
            final weights, and the mean over the last ``last_k_epochs`` evaluations) or
            ``best_val`` (the weights of the evaluation with the best validation score among
            the method's α stages; needs ``epoch_split: val``).
        box_jitter_scale / box_jitter_shift: with either above 0, the final evaluation also
            scores the test split with person boxes like a detector's: each person's box is
            scaled by clip(1 + N(0,1)·scale, 1 ± 2·scale) and its centre moved by
            N(0,1)·shift box sides in x and y, drawn from ``box_jitter_seed`` and the person's
            index (the same boxes for every run); ``final.test_jitter`` holds the figures.
    """

    metric: str = field(default="auto", metadata=_one_of(("auto", *METRICS)))
    threshold: float | None = None
    last_k_epochs: int = 10
    flip_test: bool = False
    epoch_split: str = field(default="test", metadata=_one_of(("test", "val")))
    final: bool = True
    select: str = field(default="last_k_mean", metadata=_one_of(SELECTIONS))
    box_jitter_scale: float = 0.0
    box_jitter_shift: float = 0.0
    box_jitter_seed: int = 0


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
        _check_eval(self.eval)
        from mirrornet.config_ranges import check_ranges  # the ranges of the remaining keys

        check_ranges(self)
        return self


def _to_primitive(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_primitive(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_primitive(v) for v in value]
    return value
