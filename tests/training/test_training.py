"""End-to-end curriculum on configs/cpu/tiny.yaml, the batch sampler, NaN detection, data errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mirrornet.config import load_config
from mirrornet.curriculum import CURRICULUM, METHODS, NETS, StageData
from mirrornet.checkpoints import load_checkpoint, read_checkpoint
from mirrornet.data.builders import DataError
from mirrornet.training import run_experiment
from mirrornet.training.datamodule import CompositionBatchSampler

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "cpu" / "tiny.yaml"
GROUPS = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny_run")
    config = load_config(TINY)
    results = run_experiment(config, out, progress=False)
    return out, results


def test_whole_curriculum_writes_results(tiny_run) -> None:
    out, results = tiny_run
    saved = json.loads((out / "results.json").read_text())
    assert set(saved) == set(METHODS)
    for method in METHODS:
        row = saved[method]
        assert row["metric"] == "PCK@0.2"
        assert list(row["groups"]) == GROUPS
        for value in row["groups"].values():
            assert 0.0 <= value <= 100.0
        # tiny.yaml: α 2 pretrain epochs + 2 more in every method; the last 2 are averaged.
        assert row["alpha_epochs"] == [3, 4]
        assert Path(row["checkpoint"]).name == f"{method}.ckpt"  # the method's own final stage
    for stage in [s for s in CURRICULUM if not s.optional]:  # the tiny run's default curriculum
        payload = read_checkpoint(out / "checkpoints" / f"{stage.name}.ckpt")
        assert payload["completed"] and payload["stage"] == stage.name
        if stage.init_from is None:
            continue
        # Each stage changed exactly the nets it trains: its frozen nets (weights and batch-norm
        # statistics) are those it started from, every net it trains moved.
        start = read_checkpoint(out / "checkpoints" / f"{stage.init_from}.ckpt")["state_dict"]
        end = payload["state_dict"]
        for net in NETS:
            keys = [k for k in end if k.startswith(f"{net}.")]
            same = all(torch.equal(end[k], start[k]) for k in keys)
            assert keys and same is (net not in stage.trains), f"{stage.name}: {net}"
    assert (out / "config.yaml").is_file()
    assert (out / "figures" / "learning_curves.png").stat().st_size > 1000
    assert list((out / "logs" / "tensorboard").rglob("events.out.tfevents*"))


def test_results_are_the_mean_of_the_last_epochs(tiny_run) -> None:
    out, results = tiny_run
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    for method, last_stage in [("baseline", "baseline"), ("supervised", "supervised")]:
        if method == "baseline":
            chain = [r for r in rows if r["stage"] in ("pretrain_alpha", "baseline")]
        else:
            chain = [r for r in rows if r["stage"] in ("pretrain_alpha", "supervised_first", "supervised")]
        last = chain[-2:]
        for group in GROUPS:
            expected = np.mean([float(r[f"eval/{group}"]) for r in last])
            assert results[method]["groups"][group] == pytest.approx(expected)


def test_every_objective_term_is_logged(tiny_run) -> None:
    out, _ = tiny_run
    header = next(csv.reader(open(out / "metrics.csv")))
    for term in [
        "train/recognizer/log_q_alpha",
        "train/mask/mse",
        "train/image_vae/fidelity",
        "train/image_vae/kl_a",
        "train/pose_vae/plausibility",
        "train/pose_vae/kl_z",
        "train/labeled/log_q_alpha",
        "train/semi_supervised/unlabeled/entropy",
        "train/semi_supervised/labeled/log_q_alpha",
    ]:
        assert any(h.startswith(term) for h in header), term
    lightning_csv = list((out / "logs" / "csv" / "supervised").rglob("metrics.csv"))
    assert lightning_csv and "train/labeled/fidelity" in lightning_csv[0].read_text().splitlines()[0]


def test_stages_train_only_their_nets(tiny_run) -> None:
    out, _ = tiny_run
    state = {s.name: read_checkpoint(out / "checkpoints" / f"{s.name}.ckpt")["state_dict"]
             for s in CURRICULUM if not s.optional}

    def same(a: str, b: str, prefix: str) -> bool:
        keys = [k for k in state[a] if k.startswith(prefix + ".") and state[a][k].is_floating_point()]
        return all(torch.equal(state[a][k], state[b][k]) for k in keys)

    # Baseline: only α moves; ψ never moves after its pretraining; the VAEs do in joint stages.
    assert not same("pretrain_alpha", "baseline", "alpha")
    assert same("pretrain_mask", "semi_supervised", "psi")
    assert same("pretrain_alpha", "pretrain_vaes", "alpha")
    assert not same("pretrain_mask", "pretrain_vaes", "theta")
    assert not same("pretrain_vaes", "supervised_first", "phi")


def test_checkpoint_rebuilds_its_model(tiny_run) -> None:
    out, _ = tiny_run
    model, config = load_checkpoint(out / "checkpoints" / "semi_supervised.ckpt")
    assert config.model.recognizer == "hourglass_1x32"
    x = torch.zeros(1, 3, 64, 64)
    assert model.recognize(x)[-1].shape == (1, 16, 16, 16)


def test_composition_sampler_exact_counts_and_ranks() -> None:
    annotated = np.arange(0, 10)
    unannotated = np.arange(10, 50)
    sampler = CompositionBatchSampler([annotated, unannotated], [6, 2], num_batches=7, seed=3, epoch=1)
    batches = list(sampler)
    assert len(batches) == 7
    for batch in batches:
        idx = [i for _, i in batch]
        assert len(idx) == 8
        assert sum(i < 10 for i in idx) == 6 and sum(i >= 10 for i in idx) == 2
        assert all(e == 1 for e, _ in batch)
    # Two ranks split every global batch into disjoint halves of the same composition.
    halves = [
        list(CompositionBatchSampler([annotated, unannotated], [6, 2], 7, seed=3, epoch=1, rank=r, world_size=2))
        for r in (0, 1)
    ]
    for b, batch in enumerate(batches):
        assert sorted(halves[0][b] + halves[1][b]) == sorted(batch)
        assert sum(i < 10 for _, i in halves[0][b]) == 3
    # Another epoch, another order; the same epoch, the same order.
    sampler.set_epoch(2)
    assert list(sampler) != batches
    sampler.set_epoch(1)
    assert list(sampler) == batches
    with pytest.raises(DataError, match="divisible"):
        CompositionBatchSampler([annotated, unannotated], [5, 3], 7, seed=0, world_size=2)


def test_nan_loss_stops_naming_stage_epoch_term(tmp_path, monkeypatch) -> None:
    from mirrornet import bounds
    from mirrornet.training import lightning_module

    real = bounds.labeled_elbo

    def poisoned(*args, **kwargs):
        out = dict(real(*args, **kwargs))
        out["kl_z"] = out["kl_z"] * float("nan")
        out["total"] = out["total"] + out["kl_z"]
        return out

    # The labelled bound that stage_objectives.labeled (supervised_first) maximises turns NaN.
    monkeypatch.setattr(bounds, "labeled_elbo", poisoned)
    config = load_config(TINY)
    with pytest.raises(lightning_module.NonFiniteLossError) as info:
        run_experiment(config, tmp_path, stages=["supervised_first"], progress=False)
    message = str(info.value)
    assert "supervised_first" in message and "epoch 1" in message and "labeled/kl_z" in message
    # The earlier stages' checkpoints are kept, the failing stage wrote none.
    assert (tmp_path / "checkpoints" / "pretrain_vaes.ckpt").is_file()
    assert not (tmp_path / "checkpoints" / "supervised_first.ckpt").exists()


def test_no_annotated_image_is_a_clear_error(tmp_path) -> None:
    config = load_config(TINY, ["data.synthetic_num_train=4", "data.annotated_ratio=0.1"])
    with pytest.raises(DataError, match="no annotated image"):
        run_experiment(config, tmp_path, stages=["pretrain_alpha"], progress=False)


def test_missing_dataset_folder_is_a_clear_error(tmp_path) -> None:
    config = load_config(TINY, ["data.format=lsp", f"data.root={tmp_path / 'nowhere'}"])
    with pytest.raises(DataError, match="nowhere"):
        run_experiment(config, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_a_joints_mat_of_the_wrong_layout_stops_the_run_naming_the_file(tmp_path) -> None:
    import scipy.io

    from mirrornet.data.images import DatasetFormatError

    root = tmp_path / "lsp"
    (root / "images").mkdir(parents=True)
    scipy.io.savemat(root / "joints.mat", {"joints": np.zeros((14, 3, 4))})  # LSPET's layout
    config = load_config(TINY, ["data.format=lsp", f"data.root={root}"])
    with pytest.raises(DatasetFormatError, match="joints.mat"):
        run_experiment(config, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_bf16_mixed_and_learned_alpha_variance(tmp_path) -> None:
    overrides = ["train.precision=bf16-mixed", "model.learn_alpha_variance=true", "model.pose_source=recognizer"]
    config = load_config(TINY, overrides)
    results = run_experiment(config, tmp_path, stages=["semi_supervised"], progress=False)
    assert all(math.isfinite(v) for v in results["semi_supervised"]["groups"].values())
    before = read_checkpoint(tmp_path / "checkpoints" / "pretrain_vaes.ckpt")["state_dict"]["alpha_logvar"]
    after = read_checkpoint(tmp_path / "checkpoints" / "semi_supervised.ckpt")["state_dict"]["alpha_logvar"]
    assert before.dtype == after.dtype == torch.float32
    assert not torch.equal(before, after)  # log σ²_α is learned in the joint stages


# ---------------------------------------------------------------------------------------------
# The faithful-curriculum settings: optimiser treatment of α, exposure records, gradient norms.
def test_alpha_starts_baseline_and_supervised_first_with_the_same_adam_state(tiny_run) -> None:
    """α continues its Adam state from pretrain_alpha in every method (moments and step count),
    the VAE nets continue theirs from pretrain_vaes; nothing is fresh that had a state."""
    from mirrornet.config import config_from_dict
    from mirrornet.curriculum import stage_by_name
    from mirrornet.checkpoints import build_model
    from mirrornet.training.lightning_module import StageModule
    from mirrornet.training.run import continued_optimizer_state

    out, _ = tiny_run

    def payload_of(name):
        return read_checkpoint(out / "checkpoints" / f"{name}.ckpt")

    config = config_from_dict(payload_of("pretrain_alpha")["config"])
    optimizers = {}
    for name in ("baseline", "supervised_first"):
        stage = stage_by_name(name)
        module = StageModule(
            build_model(config), config, stage, data=None, total_epochs=1,
            optimizer_state=continued_optimizer_state(stage, payload_of),
        )
        optimizers[name] = (module.configure_optimizers(), dict(module.model.named_parameters()))
    alpha_names = [n for n, _ in build_model(config).named_parameters() if n.startswith("alpha.")]
    assert alpha_names
    for n in alpha_names:
        states = [opt.state[params[n]] for opt, params in optimizers.values()]
        assert states[0] and states[1], n  # neither method starts α afresh
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(states[0][key], states[1][key]), (n, key)
    # α's step count is that of its pretraining (2 epochs of at most 2 steps).
    first = alpha_names[0]
    assert float(optimizers["baseline"][0].state[optimizers["baseline"][1][first]]["step"]) == sum(
        r["steps"] for r in payload_of("pretrain_alpha")["history"]
    )
    # β … φ continue from the VAE pretraining.
    opt, params = optimizers["supervised_first"]
    vae_states = read_checkpoint(out / "checkpoints" / "pretrain_vaes.ckpt")
    phi_name = next(n for n in vae_states["optimizer_param_names"] if n.startswith("phi."))
    assert opt.state[params[phi_name]], phi_name


def test_records_count_steps_and_annotated_draws(tiny_run) -> None:
    out, results = tiny_run
    history = read_checkpoint(out / "checkpoints" / "semi_supervised.ckpt")["history"]
    for record in history:
        # tiny.yaml: 6 annotated + 2 non-annotated per batch of 8, at most 2 steps per epoch
        assert record["steps"] == 2
        assert record["annotated_draws"] == 12 and record["unannotated_draws"] == 4
    for method in METHODS:
        row = results[method]
        assert row["alpha_steps"] == 8  # α: 4 epochs of 2 steps in every method
        assert row["annotated_draws"] > 0
    assert results["baseline"]["unannotated_draws"] == 0
    assert results["semi_supervised"]["unannotated_draws"] == 4
    header = next(csv.reader(open(out / "metrics.csv")))
    assert {"steps", "annotated_draws", "unannotated_draws"} <= set(header)


def test_kl_z_and_gradient_norms_into_alpha_are_logged(tiny_run) -> None:
    out, _ = tiny_run
    header = next(csv.reader(open(out / "metrics.csv")))
    for term in ("fidelity", "plausibility", "lambda_log_q_alpha"):
        assert f"train/alpha_grad/{term}" in header, term
    assert "train/labeled/kl_z" in header and "train/semi_supervised/unlabeled/kl_z" in header
    supervised = read_checkpoint(out / "checkpoints" / "supervised.ckpt")["history"][-1]["train"]
    # s = annotation (the default): the mirrors do not reach α on annotated images, λ·log q_α does.
    assert supervised["alpha_grad/fidelity"] == 0.0 and supervised["alpha_grad/plausibility"] == 0.0
    assert supervised["alpha_grad/lambda_log_q_alpha"] > 0.0
    semi = read_checkpoint(out / "checkpoints" / "semi_supervised.ckpt")["history"][-1]["train"]
    # On non-annotated images s ~ q_α, so both mirrors send gradients into α.
    assert semi["alpha_grad/fidelity"] > 0.0 and semi["alpha_grad/plausibility"] > 0.0
    baseline = read_checkpoint(out / "checkpoints" / "baseline.ckpt")["history"][-1]["train"]
    assert not any(k.startswith("alpha_grad/") for k in baseline)
    # ... and drawn per joint-stage epoch.
    assert (out / "figures" / "joint_diagnostics.png").stat().st_size > 1000


def test_mixed_epoch_length() -> None:
    from mirrornet.training.datamodule import epoch_batches

    config = load_config(TINY, ["train.batch_size=8", "train.n_annotated=6", "train.n_unannotated=2"])
    # 10 annotated, 40 non-annotated images.
    assert epoch_batches(config, StageData.MIXED, [10, 40], [6, 2]) == 2  # ⌈10 / 6⌉: one pass over the annotated
    assert epoch_batches(config, StageData.ANNOTATED, [10], [8]) == 2
    every = load_config(TINY, ["train.mixed_epoch=all_images"])
    assert epoch_batches(every, StageData.MIXED, [10, 40], [6, 2]) == 7  # ⌈50 / 8⌉


@pytest.mark.parametrize("source", ["psi", "silhouette"])
def test_pretrain_mask_source(source, monkeypatch) -> None:
    """Image-VAE pretraining splits x* with ψ's estimate (Sec. 4.2, the default) or with the
    ground-truth silhouette where an image has one."""
    from mirrornet import stage_objectives
    from mirrornet.checkpoints import build_model

    config = load_config(TINY, [f"model.pretrain_mask_source={source}"])
    model = build_model(config)
    gen = torch.Generator().manual_seed(0)
    silhouette = (torch.rand(2, 1, 16, 16, generator=gen) > 0.5).float()
    batch = {
        "x_star": torch.randn(2, 3, 16, 16, generator=gen),
        "heatmaps": torch.rand(2, 16, 16, 16, generator=gen),
        "silhouette": silhouette,
        "has_silhouette": torch.tensor([1.0, 0.0]),
    }
    seen = {}
    real = model.image_vae

    def spy(x_star, s, mask):
        seen["mask"] = mask
        return real(x_star, s, mask)

    monkeypatch.setattr(model, "image_vae", spy)
    stage_objectives.image_vae(model, batch, config, 0.0)
    with torch.no_grad():
        estimate = model.estimate_mask(batch["x_star"], batch["heatmaps"], mask_pose_gradient=False)
    # The image without a silhouette always gets ψ's estimate.
    torch.testing.assert_close(seen["mask"][1], estimate[1])
    if source == "psi":
        torch.testing.assert_close(seen["mask"][0], estimate[0])
    else:
        torch.testing.assert_close(seen["mask"][0], silhouette[0])


def test_faithful_keys_are_checked_and_saved(tiny_run) -> None:
    import yaml

    from mirrornet.config import ConfigError

    for key, bad in [
        ("model.generator_variance", "free"),
        ("model.alpha_supervision", "first_output"),
        ("model.pretrain_mask_source", "ground_truth"),
        ("train.mixed_epoch", "some_images"),
        ("train.alpha_grad_norm_every", "-1"),
    ]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(TINY, [f"{key}={bad}"])
    out, _ = tiny_run
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["generator_variance"] == "fixed"
    assert saved["model"]["alpha_supervision"] == "all_outputs"
    assert saved["model"]["pretrain_mask_source"] == "psi"
    assert saved["train"]["mixed_epoch"] == "annotated_images"


def test_validation_split_is_held_out_and_final_figures_cover_the_whole_test_split(tmp_path) -> None:
    from mirrornet.data.splits import validation_split
    from mirrornet.training.datamodule import build_training_data

    overrides = ["data.val_ratio=0.25", "eval.epoch_split=val", "data.synthetic_num_test=12"]
    config = load_config(TINY, overrides)
    data = build_training_data(config)
    assert len(data.val) == 8 and len(data.train) == 24
    val_ids = {id(r) for r in data.val.records}
    assert not val_ids & {id(r) for r in data.train.records}  # out of both pools
    assert int(data.annotated.sum()) == 12  # 50 % of the 24 remaining images
    # The validation draw does not depend on the annotation split or the training seed.
    np.testing.assert_array_equal(validation_split(32, 0.25, 0), validation_split(32, 0.25, 0))
    # (synthetic people are drawn with the split seed, so compare their numbers)
    other = build_training_data(load_config(TINY, overrides + ["data.split_seed=3", "train.seed=5"]))
    number = lambda records: [r.image_id.rsplit("_", 1)[-1] for r in records]  # noqa: E731
    assert number(other.val.records) == number(data.val.records)

    results = run_experiment(config, tmp_path, stages=["baseline"], progress=False)
    final = results["baseline"]["final"]
    assert set(final) == {"test", "test_flip", "val", "val_flip"}
    assert final["test"]["people"] == 12 and final["val"]["people"] == 8  # no max_eval_batches cap
    assert final["test_flip"]["flip_test"] and not final["test"]["flip_test"]
    assert 0.0 <= final["test"]["groups"]["Total"] <= 100.0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["baseline"]["final"]["test"]["people"] == 12


def test_validation_split_settings_are_checked() -> None:
    from mirrornet.config import ConfigError

    with pytest.raises(ConfigError, match="data.val_ratio"):
        load_config(TINY, ["eval.epoch_split=val"])
    with pytest.raises(ConfigError, match="data.val_ratio"):
        load_config(TINY, ["data.val_ratio=1.0"])
    with pytest.raises(ConfigError, match="eval.epoch_split"):
        load_config(TINY, ["eval.epoch_split=train"])


def test_fresh_optimizer_stages_restart_adam(tiny_run, tmp_path) -> None:
    from mirrornet.training.optimizer_state import named_adam_states

    def alpha_step(payload) -> float:
        states = named_adam_states(payload)
        name = next(n for n in payload["optimizer_param_names"] if n.startswith("alpha."))
        return float(states[name]["step"])

    out, _ = tiny_run
    continued = read_checkpoint(out / "checkpoints" / "supervised_first.ckpt")
    assert alpha_step(continued) == 4 + 2  # pretrain_alpha's 4 steps, then its own 2
    config = load_config(TINY, ["train.fresh_optimizer_stages=[supervised_first]"])
    run_experiment(config, tmp_path, stages=["supervised_first"], progress=False)
    fresh = read_checkpoint(tmp_path / "checkpoints" / "supervised_first.ckpt")
    assert alpha_step(fresh) == 2


def test_a_stage_without_its_data_stops_the_run_before_training(tmp_path, monkeypatch) -> None:
    """No silhouette for ψ: refused before α trains a single step, and nothing is written."""
    import mirrornet.training.run as run_module
    from mirrornet.training.datamodule import build_training_data, stage_pools

    config = load_config(TINY)
    data = build_training_data(config)
    data.has_silhouette[:] = False
    with pytest.raises(DataError, match="silhouette"):
        stage_pools(config, data, StageData.SILHOUETTES)

    def without_silhouettes(cfg):
        d = build_training_data(cfg)
        d.has_silhouette[:] = False
        return d

    monkeypatch.setattr(run_module, "build_training_data", without_silhouettes)
    with pytest.raises(DataError, match="mask estimator"):
        run_experiment(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_persistent_worker_processes_train_exactly_as_the_main_process(tmp_path) -> None:
    """Workers kept across epochs (persistent_workers) draw each epoch's augmentation from the key
    they receive, so two epochs with two workers give the weights of two epochs without any."""
    from mirrornet.training.datamodule import build_training_data, train_loader

    weights = {}
    for workers in (0, 2):
        config = load_config(TINY, [f"data.num_workers={workers}", "train.epochs.alpha_pretrain=2"])
        run_experiment(config, tmp_path / f"workers{workers}", stages=["pretrain_alpha"], progress=False)
        payload = read_checkpoint(tmp_path / f"workers{workers}" / "checkpoints" / "pretrain_alpha.ckpt")
        weights[workers] = payload["state_dict"]
    assert weights[0].keys() == weights[2].keys()
    assert all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    config = load_config(TINY, ["data.num_workers=2"])
    loader = train_loader(config, build_training_data(config), StageData.ANNOTATED, 0, 0, 1)
    assert loader.persistent_workers and loader.num_workers == 2
