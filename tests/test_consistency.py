"""Consistency training (mirrornet.consistency): PoseCons's views, cutout and terms, and the
MirrorNet terms on top of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures_runs import interrupted_and_resumed
from mirrornet import consistency as cons
from mirrornet.checkpoints import build_model
from mirrornet.config import load_config
from mirrornet.curriculum import ALL_METHODS, METHODS, resolve_stages, stage_by_name
from mirrornet.data import MultiViewDataset, PoseDataset, PoseRecord, TopDownTransform
from mirrornet.data.builders import build_codec_for
from mirrornet.data.transforms import apply_affine
from mirrornet.data.views import ComposedView
from mirrornet.skeleton import FLIP_PERMUTATION, NUM_JOINTS
from mirrornet.stage_state import DualPeer, dual_peer, fresh_recognizer

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "cpu" / "tiny.yaml"


def _person(index: int = 0) -> PoseRecord:
    rng = np.random.default_rng(index)
    joints = np.array([48.0, 40.0]) + rng.uniform(-15, 15, size=(NUM_JOINTS, 2))
    image = rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
    return PoseRecord(image=image, joints=joints, visible=np.ones(NUM_JOINTS), center=np.array([48.0, 40.0]),
                      scale=0.3, labelled=np.ones(NUM_JOINTS), index=index)


def _views_dataset(config, records) -> MultiViewDataset:
    codec = build_codec_for(config)
    base = PoseDataset(records, TopDownTransform((64, 64), augment=True), codec,
                       annotated=np.zeros(len(records), dtype=bool))
    return MultiViewDataset(base, cons.posecons_views(config))


def test_the_hard_view_is_the_easy_view_moved_once_more() -> None:
    config = load_config(TINY)
    record = _person()
    item = _views_dataset(config, [record])[0]
    easy, hard = item["view_heatmap_affines"].double().numpy()
    # Each view's heatmap affine maps the person's joints into that view; the hard view's is the
    # easy one's followed by a map of heatmap pixels that is a similarity (scale, rotation, flip).
    full = lambda a: np.vstack([a, [0.0, 0.0, 1.0]])  # noqa: E731
    extra = full(hard) @ np.linalg.inv(full(easy))
    lin = extra[:2, :2]
    assert np.allclose(lin @ lin.T, np.eye(2) * abs(np.linalg.det(lin)), atol=1e-6)
    assert 1 / 1.25**2 - 1e-6 <= abs(np.linalg.det(lin)) <= 1 / 0.75**2 + 1e-6
    np.testing.assert_allclose(apply_affine(apply_affine(record.joints, easy), extra[:2]),
                               apply_affine(record.joints, hard), atol=1e-6)


def test_a_composed_flip_swaps_left_and_right_once_more() -> None:
    transform = TopDownTransform((64, 64), augment=True, scale_factor=0.0, rotation=0.0, flip=True, flip_prob=1.0)
    view = ComposedView(0, transform)
    base = transform(_person().image, _person(), None, np.random.default_rng(0))
    out = view.compose(_person().image, base, np.random.default_rng(1))
    assert list(out["joint_order"]) == [FLIP_PERMUTATION[j] for j in FLIP_PERMUTATION] == list(range(NUM_JOINTS))
    assert out["image"].shape == (64, 64, 3)


def test_a_composed_view_must_follow_its_base() -> None:
    config = load_config(TINY)
    easy, hard = cons.posecons_views(config)
    with pytest.raises(ValueError, match="composed on view 0"):
        MultiViewDataset(PoseDataset([_person()], TopDownTransform((64, 64)), build_codec_for(config)), [hard, easy])


def test_joint_cutout_zeroes_only_its_patches() -> None:
    images = torch.ones(2, 3, 64, 64)
    centres = torch.tensor([[[20.0, 20.0]] * NUM_JOINTS, [[40.0, 30.0]] * NUM_JOINTS])
    out = cons.joint_cutout(images, centres, num_joints=5, size=0.125, generator=torch.Generator().manual_seed(0))
    zeroed = out == 0
    assert zeroed.any() and torch.all(out[~zeroed] == 1)
    side = 8  # 0.125 × 64
    ys, xs = torch.nonzero(zeroed[0, 0], as_tuple=True)
    # Every zeroed pixel lies within a patch around the chosen joint, moved by at most side/4.
    assert (xs - 20).abs().max() < side / 2 + side / 4 and (ys - 20).abs().max() < side / 2 + side / 4
    assert torch.equal(zeroed[:, 0], zeroed[:, 2])  # every channel alike
    assert torch.equal(cons.joint_cutout(images, centres, num_joints=0), images)


def test_heatmap_argmax_finds_the_peak() -> None:
    heatmaps = torch.zeros(1, 2, 8, 10)
    heatmaps[0, 0, 3, 7] = 1.0
    heatmaps[0, 1, 6, 1] = 2.0
    assert cons.heatmap_argmax(heatmaps).tolist() == [[[7.0, 3.0], [1.0, 6.0]]]


def _batch(config, identical: bool) -> dict:
    records = [_person(i) for i in range(4)]
    dataset = _views_dataset(config, records)
    items = [dataset[i] for i in range(len(records))]
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    batch["annotated"] = torch.tensor([1.0, 1.0, 0.0, 0.0])
    if identical:
        batch["views"][:, 1] = batch["views"][:, 0]
        batch["view_heatmap_affines"][:, 1] = batch["view_heatmap_affines"][:, 0]
        batch["view_joint_orders"][:, 1] = batch["view_joint_orders"][:, 0]
    return batch


def test_the_consistency_term_is_zero_for_identical_views_and_a_deterministic_net(monkeypatch) -> None:
    monkeypatch.setattr(cons, "CUTOUT_JOINTS", 0)
    config = load_config(TINY)
    torch.manual_seed(0)
    model = build_model(config).eval()
    same = float(cons.consistency(model, _batch(config, identical=True), config, 0.0)["consistency"].detach())
    other = float(cons.consistency(model, _batch(config, identical=False), config, 0.0)["consistency"].detach())
    assert other < 0  # different views: the student disagrees with the warped teacher
    assert abs(same) <= 1e-6 * abs(other)


def test_the_teacher_gets_no_gradient() -> None:
    config = load_config(TINY)
    torch.manual_seed(0)
    model = build_model(config)
    batch = _batch(config, identical=False)
    hard, target = cons._hard_targets(model.recognize, batch, batch["annotated"] < 0.5)
    assert not target.requires_grad and not hard.requires_grad
    # The term's gradient is the student's only: the same as with a constant target.
    stacks = model.recognize(hard)
    logvar = model.pose_logvar(stacks[-1].float())
    grad = torch.autograd.grad(cons.agreement(stacks, target, logvar, "all_outputs").sum(),
                               list(model.alpha.parameters()), allow_unused=True)
    fixed = target.clone()
    stacks = model.recognize(hard)
    grad_fixed = torch.autograd.grad(cons.agreement(stacks, fixed, logvar, "all_outputs").sum(),
                                     list(model.alpha.parameters()), allow_unused=True)
    for a, b in zip(grad, grad_fixed):
        if a is not None:
            torch.testing.assert_close(a, b)


WEIGHT_KEYS = ("plausibility_weight", "fidelity_weight", "consistency_weight")


@pytest.mark.parametrize("key, term", [("plausibility_weight", "plausibility"), ("fidelity_weight", "fidelity"),
                                       ("consistency_weight", "consistency")])
def test_each_weight_scales_only_its_term(key: str, term: str) -> None:
    # Every weight non-zero, so that both mirrors run in both configs; ``key`` goes 0.1 → 0.2.
    base = load_config(TINY, [f"train.{k}=0.1" for k in WEIGHT_KEYS])
    torch.manual_seed(0)
    model = build_model(base)
    batch = _batch(base, identical=False)

    def run(config) -> dict:
        torch.manual_seed(1)  # the same draws of s ~ q_α and of the cutout
        return {k: float(v.detach()) for k, v in cons.consistency_mirrors(model, batch, config, 0.0).items()}

    off = run(base)
    on = run(load_config(TINY, [f"train.{k}={0.2 if k == key else 0.1}" for k in WEIGHT_KEYS]))
    for name in off:
        if name != "total":
            assert on[name] == pytest.approx(off[name], rel=1e-5), name
    assert on["total"] - off["total"] == pytest.approx(0.1 * off[term], rel=1e-3, abs=1e-3)


def test_without_fidelity_weight_the_image_mirror_is_not_run() -> None:
    config = load_config(TINY, ["train.plausibility_weight=0.1", "train.fidelity_weight=0"])
    torch.manual_seed(0)
    model = build_model(config)
    batch = _batch(config, identical=False)
    terms = cons.consistency_mirrors(model, batch, config, 0.0)
    assert float(terms["fidelity"].detach()) == 0.0 and float(terms["plausibility"].detach()) != 0.0
    terms["total"].backward()
    image_side = [p for m in (model.beta, model.gamma, model.theta, model.psi) for p in m.parameters()]
    assert all(p.grad is None for p in image_side)  # neither ψ nor the image VAE ran
    pose_side = [p for m in (model.delta, model.phi) for p in m.parameters()]
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in pose_side)
    # The annotated rows' heatmap loss is the same with the image mirror run (α's forward is shared).
    with_image = load_config(TINY, ["train.plausibility_weight=0.1", "train.fidelity_weight=0.1"])
    torch.testing.assert_close(cons.consistency_mirrors(model, batch, with_image, 0.0)["supervised"],
                               terms["supervised"])


def test_the_forward_can_skip_the_image_mirror() -> None:
    config = load_config(TINY)
    torch.manual_seed(0)
    model = build_model(config).eval()
    x = torch.randn(2, 3, 64, 64)
    full, pose_only = model(x), model(x, image_mirror=False)
    assert pose_only.image is None and full.image is not None
    torch.testing.assert_close(pose_only.s_mean, full.s_mean)
    from mirrornet.bounds import mirror_terms

    terms = mirror_terms(pose_only, "fixed", 0.01)
    assert all(float(terms[k].abs().sum()) == 0.0 for k in ("fidelity", "kl_a", "kl_g"))
    assert terms["plausibility"].shape == (2,)


def test_recognizer_terms_on_given_stacks_are_the_recognizer_objective() -> None:
    from mirrornet.stage_objectives import recognizer, recognizer_terms

    config = load_config(TINY)
    torch.manual_seed(0)
    model = build_model(config).eval()
    batch = _batch(config, identical=False)
    given = recognizer_terms(model, model.recognize(batch["image"]), batch, config)
    for name, value in recognizer(model, batch, config, 0.0).items():
        torch.testing.assert_close(given[name], value)


def test_the_consistency_stages_are_optional_methods() -> None:
    assert "consistency" not in METHODS
    assert {"consistency", "consistency_dual", "consistency_mirrors"} <= set(ALL_METHODS)
    assert all(not s.optional for s in resolve_stages(None))
    assert [s.name for s in resolve_stages(["consistency"])] == ["pretrain_alpha", "consistency"]
    assert stage_by_name("consistency_mirrors").init_from == "pretrain_vaes"


def test_a_tiny_consistency_run_trains_and_reports(tmp_path) -> None:
    from mirrornet.training import run_experiment

    config = load_config(TINY, ["train.n_annotated=4", "train.n_unannotated=4"])
    results = run_experiment(config, tmp_path, stages=["consistency"], progress=False)
    row = results["consistency"]
    assert row["final"]["test"]["metrics"]["PCK@0.2"]["Total"] >= 0.0
    history = torch.load(tmp_path / "checkpoints" / "consistency.ckpt", weights_only=True)["history"]
    assert all(r["train"]["consistency/consistency"] < 0 for r in history)  # a real disagreement term
    assert all(r["unannotated_draws"] > 0 for r in history)


# --- PoseDual: two networks, each the other's teacher -----------------------------------------


def test_a_dual_peer_is_alpha_s_architecture_from_another_seed() -> None:
    config = load_config(TINY)
    torch.manual_seed(0)
    model = build_model(config)
    rng = torch.get_rng_state()
    peer = dual_peer(model, config)
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is left alone
    alpha, other = model.alpha.state_dict(), peer.peer.state_dict()
    assert {k: v.shape for k, v in alpha.items()} == {k: v.shape for k, v in other.items()}
    weights = [k for k, v in alpha.items() if v.is_floating_point() and v.dim() > 1]
    assert weights and all(not torch.equal(alpha[k], other[k]) for k in weights)
    again = dual_peer(model, config).peer.state_dict()  # the same seed, the same peer
    assert all(torch.equal(again[k], v) for k, v in other.items())
    reseeded = dual_peer(model, load_config(TINY, ["train.seed=1"])).peer.state_dict()
    assert any(not torch.equal(reseeded[k], other[k]) for k in weights)
    assert peer.trained and peer.train().training and not peer.eval().training


def test_a_recognizer_of_the_user_s_own_gets_a_reset_copy() -> None:
    alpha = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 1))
    before = {k: v.clone() for k, v in alpha.state_dict().items()}
    peer = fresh_recognizer(alpha, None, 16, seed=3)
    assert all(torch.equal(v, before[k]) for k, v in alpha.state_dict().items())  # α untouched
    assert all(not torch.equal(v, before[k]) for k, v in peer.state_dict().items())
    assert all(torch.equal(v, fresh_recognizer(alpha, None, 16, seed=3).state_dict()[k])
               for k, v in peer.state_dict().items())


def _dual_terms(model, peer, config, identical: bool) -> dict:
    return cons.consistency_dual(model, _batch(config, identical=identical), config, 0.0, state=peer)


def test_posedual_teaches_each_network_by_the_other(monkeypatch) -> None:
    monkeypatch.setattr(cons, "CUTOUT_JOINTS", 0)
    config = load_config(TINY)
    torch.manual_seed(0)
    model = build_model(config).eval()
    peer = dual_peer(model, config).eval()
    terms = _dual_terms(model, peer, config, identical=True)
    # Same view, no cutout: each term is −Σ (α − peer)² / 2σ², the same squared disagreement.
    assert float(terms["consistency"].detach()) < 0
    torch.testing.assert_close(terms["consistency"], terms["peer_consistency"])
    # A peer that is α's copy agrees with it exactly: both terms vanish.
    import copy

    twin = DualPeer(copy.deepcopy(model.alpha)).eval()
    same = _dual_terms(model, twin, config, identical=True)
    scale = abs(float(terms["consistency"].detach()))
    assert abs(float(same["consistency"].detach())) <= 1e-6 * scale
    assert abs(float(same["peer_consistency"].detach())) <= 1e-6 * scale


def test_posedual_s_teacher_gets_no_gradient() -> None:
    config = load_config(TINY)
    torch.manual_seed(0)
    model = build_model(config)
    peer = dual_peer(model, config)
    torch.manual_seed(1)
    terms = _dual_terms(model, peer, config, identical=False)
    # α's consistency term reaches α only (the peer is its teacher), the peer's the peer only.
    alpha_params, peer_params = list(model.alpha.parameters()), list(peer.parameters())
    for term, student, teacher in (("consistency", alpha_params, peer_params),
                                   ("peer_consistency", peer_params, alpha_params)):
        grads = torch.autograd.grad(terms[term], student + teacher, allow_unused=True, retain_graph=True)
        assert any(g is not None and bool(g.abs().sum() > 0) for g in grads[:len(student)]), term
        assert all(g is None or not bool(g.abs().sum() > 0) for g in grads[len(student):]), term


def test_a_tiny_posedual_run_trains_both_networks_and_resumes(tmp_path) -> None:
    from mirrornet.training import run_experiment

    config = load_config(TINY, ["train.n_annotated=4", "train.n_unannotated=4", "train.epochs.baseline=2"])
    results = run_experiment(config, tmp_path / "whole", stages=["consistency_dual"], progress=False)
    assert results["consistency_dual"]["final"]["test"]["metrics"]["PCK@0.2"]["Total"] >= 0.0
    whole = torch.load(tmp_path / "whole" / "checkpoints" / "consistency_dual.ckpt", weights_only=True)
    assert all(r["train"]["consistency_dual/peer_consistency"] < 0 for r in whole["history"])
    start = dual_peer(build_model(config), config).state_dict()
    peer = whole["stage_state"]
    assert peer.keys() == start.keys()
    assert any(not torch.equal(peer[k], v) for k, v in start.items())  # the peer was trained
    # Its Adam moments are saved by name with α's, so that a resumed stage continues them.
    names = whole["optimizer_param_names"]
    assert any(n.startswith("stage_state.peer.") for n in names) and any(n.startswith("alpha.") for n in names)

    resumed = interrupted_and_resumed(config, tmp_path / "cut", "consistency_dual")
    for key, value in whole["stage_state"].items():
        torch.testing.assert_close(resumed["stage_state"][key], value, msg=key)
    for key, value in whole["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value, msg=key)
