"""The named choices and defaults that settings share with the code that implements them.

Each value below is implemented by the module named in its comment; where that module has a
name for it (``mirrornet.model.POSE_SOURCES``, ``mirrornet.objectives.DEFAULT_LAMBDA``, ...), the
name refers to the value here, and the config's field and the functions' defaults use it too.
They live in this module, which imports nothing else of MirrorNet, so that :mod:`mirrornet.config`
checks a config and :mod:`mirrornet.cli` builds its parser without importing torch, which every
implementing module (the data readers, the codecs, the model, the objectives, the networks)
imports.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "FILE_FORMATS",
    "DATASET_FORMATS",
    "DEFAULT_HEATMAP_STRIDE",
    "DEFAULT_SIGMA",
    "VAE_PRESETS",
    "DEFAULT_VAE_PRESET",
    "POSE_SOURCES",
    "DEFAULT_POSE_SOURCE",
    "DEFAULT_LAMBDA",
    "DEFAULT_ALPHA_VARIANCE",
    "GENERATOR_VARIANCES",
    "DEFAULT_GENERATOR_VARIANCE",
    "ALPHA_SUPERVISIONS",
    "DEFAULT_ALPHA_SUPERVISION",
    "POSE_BOTTLENECKS",
    "DEFAULT_BOTTLENECK_POWER",
    "METRICS",
    "BACKENDS",
    "VAE_WIDTH_MINIMUMS",
    "IMAGE_BACKENDS",
    "DEFAULT_ONNX_OPSET",
    "DEFAULT_SCALE_FACTOR",
    "DEFAULT_ROTATION",
    "DEFAULT_ROTATION_PROB",
    "DEFAULT_CROP_PADDING",
    "DEFAULT_IMAGE_BACKEND",
]

#: Dataset file formats that :func:`mirrornet.data.read_dataset` reads and
#: :func:`mirrornet.data.export_synthetic` writes (``synthetic_export.EXPORT_FORMATS``).
FILE_FORMATS: tuple[str, ...] = ("lsp", "lspet", "mpii")
#: Values of ``data.format``: the file formats and the embedded procedural people
#: (:class:`mirrornet.data.SyntheticPeople`).
DATASET_FORMATS: tuple[str, ...] = (*FILE_FORMATS, "synthetic")

#: Training augmentation of the top-down crop, as in HRNet (``data.scale_factor``,
#: ``data.rotation``, ``data.rotation_prob``; :class:`mirrornet.data.TopDownTransform`): scale ×
#: clip(1 + N(0,1)·0.25, 0.75, 1.25), rotation clip(N(0,1)·30°, ±60°) with probability 0.6.
DEFAULT_SCALE_FACTOR: Final[float] = 0.25
DEFAULT_ROTATION: Final[float] = 30.0
DEFAULT_ROTATION_PROB: Final[float] = 0.6
#: The crop's margin around 200 · scale (``data.padding``; HRNet's 1.25).
DEFAULT_CROP_PADDING: Final[float] = 1.25

#: Input pixels per heatmap pixel (``data.heatmap_stride``; the codecs' and the top-down
#: transform's stride): 4 in the paper, 64×64 heatmaps of 256×256 inputs.
DEFAULT_HEATMAP_STRIDE: Final = 4
#: Standard deviation of the Gaussian codec's targets in heatmap pixels (``data.sigma``).
DEFAULT_SIGMA: Final[float] = 2.0

#: Widths of β … φ: the names of :class:`mirrornet.nets.VAENetsConfig`'s ``paper()`` (Table 8)
#: and ``small()`` (CPU) constructors (``model.vae_preset``).
VAE_PRESETS: tuple[str, ...] = ("paper", "small")
DEFAULT_VAE_PRESET: Final = "paper"

#: Where s comes from on an annotated image in the joint stages (``mirrornet.model.POSE_SOURCES``,
#: ``model.pose_source``); the default is Eqs. 26–28 as written.
POSE_SOURCES: tuple[str, ...] = ("annotation", "recognizer")
DEFAULT_POSE_SOURCE: Final = "annotation"

#: λ of Eq. 27 weighting log q_α(s | x) (``mirrornet.objectives.DEFAULT_LAMBDA``, ``model.lam``):
#: 0.01 in all the paper's experiments.
DEFAULT_LAMBDA: Final[float] = 0.01
#: σ²_α of q_α(s | x), fixed in the paper (Eq. 30; ``mirrornet.objectives.ALPHA_LOGVAR`` is its
#: log, ``model.alpha_variance``).
DEFAULT_ALPHA_VARIANCE: Final[float] = 0.01

#: Readings of the generators' variances σ²_θ, σ²_φ (``mirrornet.objectives.GENERATOR_VARIANCES``,
#: ``model.generator_variance``); the paper fixes them to 1.
GENERATOR_VARIANCES: tuple[str, ...] = ("fixed", "learned")
DEFAULT_GENERATOR_VARIANCE: Final = "fixed"

#: Which outputs of α log q_α(s | x) supervises (``mirrornet.objectives.ALPHA_SUPERVISIONS``,
#: ``model.alpha_supervision``); the paper sums over every stack.
ALPHA_SUPERVISIONS: tuple[str, ...] = ("all_outputs", "last_output")
DEFAULT_ALPHA_SUPERVISION: Final = "all_outputs"

#: What the mirrors see of a pose (``mirrornet.pose_bottleneck.POSE_BOTTLENECKS``,
#: ``model.pose_bottleneck``): ``none`` (the paper) or ``coordinates``.
POSE_BOTTLENECKS: tuple[str, ...] = ("none", "coordinates")
#: The bottleneck's centroid weighting exponent, relu(s)^power (``model.bottleneck_power``,
#: :func:`mirrornet.pose_bottleneck.heatmap_centroids`).
DEFAULT_BOTTLENECK_POWER: Final[float] = 2.0

#: The accuracy metrics of :mod:`mirrornet.metrics`: PCK (LSP) and PCKh (MPII).
METRICS: tuple[str, ...] = ("pck", "pckh")

#: The learning-rate schedules of a stage (``train.lr_schedule``, :mod:`mirrornet.training.schedule`).
LR_SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")

#: How a method's reported weights are chosen (``eval.select``): the paper's mean over the last
#: evaluations of the final weights, or the evaluation with the best validation score.
SELECTIONS: tuple[str, ...] = ("last_k_mean", "best_val")

#: The implementations of the top-down crop's warps (``mirrornet.data.transforms.IMAGE_BACKENDS``,
#: ``data.image_backend``): Pillow (the default, a core dependency) or OpenCV (faster, optional).
IMAGE_BACKENDS: tuple[str, ...] = ("pillow", "opencv")
DEFAULT_IMAGE_BACKEND: Final = "pillow"

#: The ONNX opset α is exported with (``mirrornet export --opset``, the ONNX Runtime backend's
#: cache): 18, the newest that the dynamo exporter writes directly.
DEFAULT_ONNX_OPSET: Final = 18

#: Where α runs at evaluation and prediction (``mirrornet.onnx_runtime.BACKENDS``, ``--backend``).
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")

#: The fields of ``mirrornet.nets.VAENetsConfig`` (``model.vae_widths``) and their least values.
VAE_WIDTH_MINIMUMS: dict[str, int] = {
    "latent_channels": 1, "encoder_width": 1, "theta_width": 1, "psi_width": 1, "psi_max_width": 0, "phi_width": 1,
}
