"""Typed configs: YAML with extends, checked overrides, clear errors, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mirrornet.config import Config, ConfigError, config_from_dict, load_config, save_config

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_papers() -> None:
    c = Config()
    assert (c.train.lr, c.train.batch_size, c.train.n_annotated, c.train.n_unannotated) == (1e-3, 128, 96, 32)
    e = c.train.epochs
    # α sees 200 epochs in every method.
    assert e.alpha_pretrain + e.baseline == 200
    assert e.alpha_pretrain + e.supervised_first + e.supervised_second == 200
    assert e.alpha_pretrain + e.supervised_first + e.semi_supervised == 200
    assert e.vae_pretrain == 200 and c.model.lam == 0.01 and c.model.alpha_variance == 0.01
    assert c.eval.last_k_epochs == 10


def test_extends_and_overrides(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text("data:\n  input_size: [64, 64]\n  annotated_ratio: 0.2\ntrain:\n  lr: 0.002\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ndata:\n  annotated_ratio: 0.6\n")
    c = load_config(tmp_path / "child.yaml", ["train.epochs.baseline=3", "train.lr=5e-4", "model.pose_source=recognizer"])
    assert c.data.input_size == (64, 64)  # from the base, as a tuple
    assert c.data.annotated_ratio == 0.6  # the child wins
    assert c.train.lr == 5e-4  # YAML 1.1's "5e-4" string is read as a float
    assert c.train.epochs.baseline == 3 and c.train.epochs.alpha_pretrain == 100
    assert c.model.pose_source == "recognizer"


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.learning_rate=0.1"])
    message = str(info.value)
    assert "train.learning_rate" in message and "train.lr" in message and "train.batch_size" in message
    with pytest.raises(ConfigError, match="valid keys in the top level: data, model, train, eval"):
        load_config(None, ["optim.lr=1"])


@pytest.mark.parametrize(
    "override,words",
    [
        ("train.batch_size=big", ["train.batch_size", "big", "int"]),
        ("train.epochs.baseline=1.5", ["train.epochs.baseline", "1.5"]),
        ("data.augment=maybe", ["data.augment", "maybe", "bool"]),
        ("data.input_size=[64]", ["data.input_size", "2 values"]),
        ("model.lam=[1]", ["model.lam", "float"]),
    ],
)
def test_wrong_type_names_key_and_value(override, words) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["train.n_annotated=100"], "train.n_annotated"),
        (["data.format=lsp"], "data.root"),
        (["data.input_size=[60, 64]"], "data.input_size"),
        (["model.pose_source=truth"], "model.pose_source"),
        (["data.annotated_ratio=0"], "data.annotated_ratio"),
        (["train.epochs.baseline=-1"], "train.epochs.baseline"),
    ],
)
def test_invalid_values(overrides, key) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, overrides)


def test_missing_file_and_cycle(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["train.lr"])


def test_extends_merges_sections_key_by_key_and_replaces_other_mappings(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text(
        "model:\n  vae_preset: small\n  vae_widths: {latent_channels: 8, encoder_width: 4}\n"
        "train:\n  epochs: {baseline: 3, vae_pretrain: 7}\n"
    )
    (tmp_path / "child.yaml").write_text(
        "extends: base.yaml\nmodel:\n  vae_widths: {encoder_width: 2}\ntrain:\n  epochs: {baseline: 5}\n"
    )
    c = load_config(tmp_path / "child.yaml")
    assert c.model.vae_preset == "small"  # the section merged key by key
    assert (c.train.epochs.baseline, c.train.epochs.vae_pretrain) == (5, 7)  # so did the sub-section
    assert c.model.vae_widths == {"encoder_width": 2}  # a mapping value replaced whole
    # A dotted override reaches into the mapping instead.
    assert load_config(tmp_path / "child.yaml", ["model.vae_widths.theta_width=3"]).model.vae_widths == {
        "encoder_width": 2,
        "theta_width": 3,
    }


def test_choices_are_checked_from_the_field_metadata() -> None:
    for key, bad in [("data.format", "coco"), ("data.test_format", "coco"), ("model.pose_source", "oracle"),
                     ("model.pose_bottleneck", "pixels"), ("eval.metric", "auc")]:
        with pytest.raises(ConfigError, match=rf"config key '{key}' must be one of .*; got '\w+'"):
            load_config(None, [f"{key}={bad}"])
    assert load_config(None, ["data.test_format=null"]).data.test_format is None


def test_round_trip_through_yaml(tmp_path) -> None:
    c = load_config(ROOT / "configs" / "cpu" / "tiny.yaml", ["model.vae_widths={latent_channels: 8}"])
    save_config(c, tmp_path / "config.yaml")
    again = config_from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text()))
    assert again == c
    assert again.model.vae_widths == {"latent_channels": 8}


def test_every_shipped_config_loads() -> None:
    files = sorted((ROOT / "configs").rglob("*.yaml"))
    assert len(files) >= 32  # 24 of Tables 2-7, 5 of Table 9, the bases, the CPU presets
    for path in files:
        c = load_config(path)
        assert c.train.n_annotated + c.train.n_unannotated == c.train.batch_size, path


def test_paper_configs_cover_the_tables() -> None:
    paper = ROOT / "configs" / "paper"
    for dataset in ("lsp", "mpii"):
        for recognizer in ("hourglass", "resnet50", "hrnet_w32"):
            for pct in (20, 40, 60, 80):
                c = load_config(paper / dataset / f"{recognizer}_{pct}.yaml")
                assert c.model.recognizer == recognizer
                assert c.data.annotated_ratio == pytest.approx(pct / 100)
                assert c.data.format == dataset
                assert tuple(c.data.input_size) == ((256, 256) if dataset == "lsp" else (256, 192))
    for n_annotated in (32, 48, 64, 80, 96):
        c = load_config(paper / "table9" / f"hrnet_lsp_20_{n_annotated}+{128 - n_annotated}.yaml")
        assert (c.train.n_annotated, c.train.n_unannotated) == (n_annotated, 128 - n_annotated)
        assert c.data.annotated_ratio == pytest.approx(0.2) and c.model.recognizer == "hrnet_w32"
