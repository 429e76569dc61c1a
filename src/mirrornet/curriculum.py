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
:mod:`mirrornet.stage_objectives`, its data a :class:`StageData`, its length a field of
``TrainConfig.epochs`` checked when the stage is made, and — for a method that needs one — the
builder of its :class:`~mirrornet.stage_state.StageState` (a teacher, an EMA: saved in its
checkpoints, with a hook after every optimiser step). The methods compared (:data:`METHODS`) and
their labels (:data:`METHOD_LABELS`) are read from the stages that give a method's figure.

Adding a stage is one row here plus its objective (docs/training.md has a worked example): its
random draws are keyed by its name (:mod:`mirrornet.stage_seeds`), so the other stages' draws do
not change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mirrornet import consistency, stage_objectives
from mirrornet.config import ConfigError, TrainConfig
from mirrornet.stage_objectives import StageObjective
from mirrornet.stage_state import dual_peer

if TYPE_CHECKING:
    from mirrornet.config import Config
    from mirrornet.stage_state import StageState

__all__ = [
    "NETS",
    "METHODS",
    "ALL_METHODS",
    "METHOD_LABELS",
    "EPOCH_KEYS",
    "StateBuilder",
    "ViewsBuilder",
    "StageData",
    "Stage",
    "CURRICULUM",
    "stage_by_name",
    "stage_chain",
    "method_chain",
    "resolve_stages",
    "check_stage_names",
]

#: The seven networks of MirrorNet (attribute names of ``mirrornet.model.MirrorNet``).
NETS: tuple[str, ...] = ("alpha", "beta", "gamma", "delta", "theta", "phi", "psi")

#: The fields of ``TrainConfig.epochs``: the lengths a stage can take as its ``epochs_key``.
EPOCH_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainConfig().epochs))

#: (model, config) -> the stage's state, built once the stage's nets hold their starting weights.
StateBuilder = Callable[[Any, "Config"], "StageState"]

#: config -> one crop transform per view (e.g. :func:`mirrornet.data.views.easy_hard_views`).
ViewsBuilder = Callable[["Config"], Sequence[Any]]


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
        label: the method's name in tables, legends and figures (a stage with a ``method`` only).
        state: builds the stage's :class:`~mirrornet.stage_state.StageState` from the model and
            config (None: the stage keeps no state). Its objectives then receive it as
            ``state=``; its ``after_step`` runs after every optimiser step; its tensors are
            saved in the stage's checkpoints and restored on resume.
        views: builds one crop transform per view from the config (None: plain items). The
            stage's items then also carry ``views`` (V, 3, H, W), ``view_heatmap_affines`` and
            ``view_joint_orders`` (:class:`~mirrornet.data.views.MultiViewDataset`).
        optional: the stage is not one of the paper's: a run without ``--stages`` leaves it out,
            and it runs when it (or a stage after it) is named.
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
    label: str | None = None
    state: StateBuilder | None = None
    views: ViewsBuilder | None = None
    optional: bool = False

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
        if (self.method is None) != (self.label is None):
            raise ValueError(f"stage {self.name!r}: a stage has a label exactly when it has a method")
        if self.state is not None and not callable(self.state):
            raise TypeError(f"stage {self.name!r}: state must build a StageState from (model, config)")
        if self.views is not None and not callable(self.views):
            raise TypeError(f"stage {self.name!r}: views must build the view transforms from the config")

    @property
    def frozen(self) -> tuple[str, ...]:
        """The networks not updated in this stage."""
        return tuple(n for n in NETS if n not in self.trains)

    def apply(self, model: Any) -> list[Any]:
        """Make ``model`` train as this stage: the parameters of :attr:`trains` (and α's learned
        variance, when α trains and the model learns it) require gradients, all others do not.

        The one place that decides what a stage updates: the training module and the throughput
        benchmark both call it.

        Args:
            model: a :class:`~mirrornet.model.MirrorNet`.

        Returns:
            The parameters the stage updates, in ``model.parameters()`` order (the optimiser's).
        """
        import torch

        for name in NETS:
            getattr(model, name).requires_grad_(name in self.trains)
        if isinstance(model.alpha_logvar, torch.nn.Parameter):
            model.alpha_logvar.requires_grad_("alpha" in self.trains)
        return [p for p in model.parameters() if p.requires_grad]

    def eval_frozen(self, model: Any) -> None:
        """Put the :attr:`frozen` nets of ``model`` in eval mode (the trained ones are left as
        they are): frozen nets keep their BatchNorm statistics (ψ in the joint stages, Sec. 5.2)."""
        for name in self.frozen:
            getattr(model, name).eval()


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
        label="Baseline",
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
        label="Supervised MirrorNet",
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
        label="Semi-supervised MirrorNet",
        description="step 3: from step 2a, semi-supervised bound Eq. 29 on mixed batches",
    ),
    # Not in the paper: consistency training (PoseCons), alone and with MirrorNet's terms.
    Stage(
        name="consistency",
        trains=("alpha",),
        objectives=(consistency.consistency,),
        data=StageData.MIXED,
        epochs_key="baseline",
        init_from="pretrain_alpha",
        continues_optimizer=True,
        evaluate=True,
        method="consistency",
        label="Consistency (PoseCons)",
        description="α on annotated images + its own heatmaps from an easy view on a hard view (PoseCons)",
        views=consistency.posecons_views,
        optional=True,
    ),
    Stage(
        name="consistency_dual",
        trains=("alpha",),
        objectives=(consistency.consistency_dual,),
        data=StageData.MIXED,
        epochs_key="baseline",
        init_from="pretrain_alpha",
        continues_optimizer=True,
        evaluate=True,
        method="consistency_dual",
        label="Consistency (PoseDual)",
        description="α and a second recognizer (trained with it) teach each other as in PoseCons (PoseDual)",
        views=consistency.posecons_views,
        state=dual_peer,
        optional=True,
    ),
    Stage(
        name="consistency_mirrors",
        trains=("alpha", "beta", "gamma", "theta", "delta", "phi"),
        objectives=(consistency.consistency_mirrors,),
        data=StageData.MIXED,
        epochs_key="baseline",
        init_from="pretrain_vaes",
        continues_optimizer=True,
        evaluate=True,
        method="consistency_mirrors",
        label="Consistency + mirrors",
        description="PoseCons + MirrorNet's plausibility and fidelity terms on the unannotated images",
        views=consistency.posecons_views,
        optional=True,
    ),
)

#: The methods compared in Tables 2–7, in curriculum order: the stages that give a figure.
METHODS: tuple[str, ...] = tuple(s.method for s in CURRICULUM if s.method is not None and not s.optional)

#: Every method of the curriculum, the optional ones (not in the paper) after the paper's.
ALL_METHODS: tuple[str, ...] = tuple(s.method for s in CURRICULUM if s.method is not None)

#: Each method's name in tables, legends and figures.
METHOD_LABELS: dict[str, str] = {s.method: s.label for s in CURRICULUM if s.method is not None}


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
        return [s for s in CURRICULUM if not s.optional]
    wanted = {s.name for name in names for s in stage_chain(name)}
    return [s for s in CURRICULUM if s.name in wanted]


def check_stage_names(names: Sequence[str], key: str) -> None:
    """Refuse a config value naming a stage the curriculum does not have.

    The config schema sits below the curriculum and cannot ask it; the run checks its stage-name
    keys (``train.fresh_optimizer_stages``) here, before it reads data or writes anything.

    Args:
        names: the stage names given.
        key: the config key they come from (for the message).

    Raises:
        ConfigError: a name is not a stage; the message lists the valid ones.
    """
    valid = [s.name for s in CURRICULUM]
    for name in names:
        if name not in valid:
            raise ConfigError(f"config key {key!r} must be one of {', '.join(valid)}; got {name!r}")
