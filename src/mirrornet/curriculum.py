"""The curriculum of Sections 4 and 5.2 as one table of stages.

Step 1 pretrains the sub-networks independently: α by Eq. 30, ψ by mean squared error to
silhouettes, the pose-conditioned image VAE (β, γ, θ) by Eq. 31 together with the pose VAE
(δ, φ) by Eq. 34 — the two VAEs share no parameter, so one run with the sum of their objectives
trains each exactly as alone. Step 1b continues α alone (the **baseline**). Step 2 trains everything
but ψ jointly by the labelled bound (Eq. 27) for 50 + 50 epochs (**supervised MirrorNet**), the
state after the first half being kept. Step 3 continues from that midpoint with the
semi-supervised bound (Eq. 29) on mixed batches (**semi-supervised MirrorNet**).

Each method ends with α having seen the same number of epochs (200 in the paper):
``alpha_pretrain + baseline = alpha_pretrain + supervised_first + supervised_second
= alpha_pretrain + supervised_first + semi_supervised``.

The training loop reads this table; nothing elsewhere branches on a stage's name. A stage holds
what it means, not names to be looked up elsewhere: its objectives are the step functions of
:mod:`mirrornet.stage_objectives`, its data a :class:`StageData`, and its length a field of
``TrainConfig.epochs`` checked when the stage is made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from mirrornet import stage_objectives
from mirrornet.config import TrainConfig
from mirrornet.stage_objectives import StageObjective

__all__ = [
    "NETS",
    "METHODS",
    "EPOCH_KEYS",
    "StageData",
    "Stage",
    "CURRICULUM",
    "stage_by_name",
    "stage_chain",
    "method_chain",
    "resolve_stages",
]

#: The seven networks of MirrorNet (attribute names of ``mirrornet.model.MirrorNet``).
NETS: tuple[str, ...] = ("alpha", "beta", "gamma", "delta", "theta", "phi", "psi")

#: The three methods compared in Tables 2–7, in the paper's order.
METHODS: tuple[str, ...] = ("baseline", "supervised", "semi_supervised")

#: The fields of ``TrainConfig.epochs``: the lengths a stage can take as its ``epochs_key``.
EPOCH_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainConfig().epochs))


class StageData(Enum):
    """The images a stage trains on (``mirrornet.training.datamodule.stage_pools``).

    Attributes:
        ANNOTATED: the annotated training images only (a pass over them per epoch).
        MIXED: batches of ``train.n_annotated`` annotated + ``train.n_unannotated``
            non-annotated images (Eq. 29; 96 + 32 in the paper).
        SILHOUETTES: images with a silhouette, for the mask estimator ψ.
    """

    ANNOTATED = "annotated"
    MIXED = "mixed"
    SILHOUETTES = "silhouettes"


@dataclass(frozen=True)
class Stage:
    """One stage of the curriculum.

    Attributes:
        name: unique name, also the checkpoint file name (``checkpoints/<name>.ckpt``).
        trains: networks updated in this stage (the others are frozen and in eval mode).
        objectives: the objectives maximised, step functions of :mod:`mirrornet.stage_objectives`
            (``recognizer`` Eq. 30, ``mask`` ψ's MSE, ``image_vae`` Eq. 31, ``pose_vae`` Eq. 34,
            ``labeled`` Eq. 27, ``semi_supervised`` Eq. 29). Several are summed; their parameters
            are disjoint, so they train independently.
        data: the images the stage trains on.
        epochs_key: the field of ``TrainConfig.epochs`` giving the stage's length (one of
            :data:`EPOCH_KEYS`; any other is refused when the stage is made).
        init_from: the stage whose final weights initialise this one (None: fresh networks).
        continues_optimizer: every trained parameter continues its Adam state (moments and step
            count) from the latest earlier stage of its chain that trained it; parameters no
            earlier stage trained start fresh (``mirrornet.training.run.continued_optimizer_state``).
            So α is treated alike in every method: ``baseline`` and ``supervised_first`` both
            continue α's state from ``pretrain_alpha``.
        evaluate: evaluate α on the test split at every epoch (stages that train α).
        method: the method whose reported figure this stage's last epochs give (or None).
        description: one line for tables and logs.
    """

    name: str
    trains: tuple[str, ...]
    objectives: tuple[StageObjective, ...]
    data: StageData
    epochs_key: str
    init_from: str | None
    continues_optimizer: bool
    evaluate: bool
    method: str | None
    description: str

    def __post_init__(self) -> None:
        # A misspelt net or length would otherwise freeze a net or fail only when the stage runs.
        unknown = [n for n in self.trains if n not in NETS]
        if unknown:
            raise ValueError(f"stage {self.name!r}: unknown nets {unknown}; nets: {', '.join(NETS)}")
        if self.epochs_key not in EPOCH_KEYS:
            raise ValueError(
                f"stage {self.name!r}: epochs_key {self.epochs_key!r} is not a field of TrainConfig.epochs "
                f"({', '.join(EPOCH_KEYS)})"
            )
        if not isinstance(self.data, StageData):
            raise TypeError(f"stage {self.name!r}: data must be a StageData, got {self.data!r}")
        if not self.objectives or not all(callable(o) for o in self.objectives):
            raise TypeError(f"stage {self.name!r}: objectives must be stage objective functions")

    @property
    def frozen(self) -> tuple[str, ...]:
        """The networks not updated in this stage."""
        return tuple(n for n in NETS if n not in self.trains)


CURRICULUM: tuple[Stage, ...] = (
    Stage(
        name="pretrain_alpha",
        trains=("alpha",),
        objectives=(stage_objectives.recognizer,),
        data=StageData.ANNOTATED,
        epochs_key="alpha_pretrain",
        init_from=None,
        continues_optimizer=False,
        evaluate=True,
        method=None,
        description="step 1: recognizer α alone, Eq. 30",
    ),
    Stage(
        name="pretrain_mask",
        trains=("psi",),
        objectives=(stage_objectives.mask,),
        data=StageData.SILHOUETTES,
        epochs_key="mask_pretrain",
        init_from="pretrain_alpha",
        continues_optimizer=False,
        evaluate=False,
        method=None,
        description="step 1: mask estimator ψ, mean squared error to silhouettes",
    ),
    Stage(
        name="pretrain_vaes",
        trains=("beta", "gamma", "theta", "delta", "phi"),
        objectives=(stage_objectives.image_vae, stage_objectives.pose_vae),
        data=StageData.ANNOTATED,
        epochs_key="vae_pretrain",
        init_from="pretrain_mask",
        continues_optimizer=False,
        evaluate=False,
        method=None,
        description="step 1: image VAE β,γ,θ (Eq. 31) and pose VAE δ,φ (Eq. 34), independent",
    ),
    Stage(
        name="baseline",
        trains=("alpha",),
        objectives=(stage_objectives.recognizer,),
        data=StageData.ANNOTATED,
        epochs_key="baseline",
        init_from="pretrain_alpha",
        continues_optimizer=True,
        evaluate=True,
        method="baseline",
        description="step 1b: α alone for the rest of its epochs (baseline)",
    ),
    Stage(
        name="supervised_first",
        trains=("alpha", "beta", "gamma", "theta", "delta", "phi"),
        objectives=(stage_objectives.labeled,),
        data=StageData.ANNOTATED,
        epochs_key="supervised_first",
        init_from="pretrain_vaes",
        continues_optimizer=True,
        evaluate=True,
        method=None,
        description="step 2a: MirrorNet but ψ, labelled bound Eq. 27 (state kept for step 3)",
    ),
    Stage(
        name="supervised",
        trains=("alpha", "beta", "gamma", "theta", "delta", "phi"),
        objectives=(stage_objectives.labeled,),
        data=StageData.ANNOTATED,
        epochs_key="supervised_second",
        init_from="supervised_first",
        continues_optimizer=True,
        evaluate=True,
        method="supervised",
        description="step 2b: MirrorNet but ψ, labelled bound Eq. 27 (supervised MirrorNet)",
    ),
    Stage(
        name="semi_supervised",
        trains=("alpha", "beta", "gamma", "theta", "delta", "phi"),
        objectives=(stage_objectives.semi_supervised,),
        data=StageData.MIXED,
        epochs_key="semi_supervised",
        init_from="supervised_first",
        continues_optimizer=True,
        evaluate=True,
        method="semi_supervised",
        description="step 3: from step 2a, semi-supervised bound Eq. 29 on mixed batches",
    ),
)


def stage_by_name(name: str) -> Stage:
    """The stage called ``name``; a ``KeyError`` listing the valid names otherwise."""
    for stage in CURRICULUM:
        if stage.name == name:
            return stage
    raise KeyError(f"unknown stage {name!r}; stages: {', '.join(s.name for s in CURRICULUM)}")


def stage_chain(name: str) -> list[Stage]:
    """The stages from the first one to ``name`` following ``init_from`` (oldest first)."""
    chain = [stage_by_name(name)]
    while chain[-1].init_from is not None:
        chain.append(stage_by_name(chain[-1].init_from))
    return chain[::-1]


def method_chain(method: str) -> list[Stage]:
    """The stages in which α trains on the way to ``method``'s final weights (oldest first).

    Their per-epoch evaluations, concatenated, are the method's learning curve (Fig. 9), and
    the last ``eval.last_k_epochs`` of them give its reported figure.
    """
    final = [s for s in CURRICULUM if s.method == method]
    if not final:
        raise KeyError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    return [s for s in stage_chain(final[0].name) if s.evaluate]


def resolve_stages(names: list[str] | None) -> list[Stage]:
    """The stages to run, in curriculum order, with every stage they start from.

    Args:
        names: stage names (None: the whole curriculum). A method's name is the name of the
            stage that gives its figure, so ``["supervised"]`` runs supervised MirrorNet.

    Raises:
        KeyError: an unknown name (the message lists the valid ones).
    """
    if not names:
        return list(CURRICULUM)
    wanted = {s.name for name in names for s in stage_chain(name)}
    return [s for s in CURRICULUM if s.name in wanted]
