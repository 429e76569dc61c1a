"""Tests of mirrornet.nets.summary: MAC counting conventions and the Table 8 rows."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mirrornet.nets import VAENetsConfig, format_summary, network_summary
from mirrornet.nets.summary import PAPER_TABLE8, PAPER_TRAINING_TOTALS, count_macs

ROW_KEYS = ["alpha", "beta", "gamma", "delta", "theta", "psi", "phi", "training_total", "runtime_total"]


def test_count_macs_of_a_convolution_by_hand() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    # 8 outputs × 3 inputs × 9 taps × 100 pixels; the bias is not counted.
    assert count_macs(conv, torch.zeros(1, 3, 10, 10)) == 8 * 3 * 9 * 100
    assert count_macs(conv, torch.zeros(2, 3, 10, 10)) == 2 * 8 * 3 * 9 * 100


def test_count_macs_of_a_transposed_convolution_both_conventions() -> None:
    up = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)  # 5×5 → 10×10
    x = torch.zeros(1, 4, 5, 5)
    assert count_macs(up, x) == 4 * 2 * 16 * 100  # Table 8: weight × output pixels
    assert count_macs(up, x, transposed_at_output=False) == 4 * 2 * 16 * 25  # true MACs


def test_count_macs_of_a_linear_layer() -> None:
    assert count_macs(nn.Linear(10, 5), torch.zeros(3, 10)) == 3 * 50


def test_summary_rows_small_recognizer_and_small_vae() -> None:
    rows = network_summary("hrnet_w8", "mpii", vae_config=VAENetsConfig.small())
    assert [r["key"] for r in rows] == ROW_KEYS
    by = {r["key"]: r for r in rows}
    for r in rows:
        assert r["dataset"] == "mpii" and r["input_size"] == [256, 192]
        assert r["params"] > 0 and r["macs"] > 0
        # Not Table 8 nets: no paper figures to compare with.
        assert r["paper_params"] is None and r["params_rel_diff"] is None and r["macs_rel_diff"] is None
    parts = ["alpha", "beta", "gamma", "delta", "theta", "psi", "phi"]
    assert by["training_total"]["params"] == sum(by[k]["params"] for k in parts)
    assert by["training_total"]["macs"] == sum(by[k]["macs"] for k in parts)
    assert by["runtime_total"]["params"] == by["alpha"]["params"]
    # β and γ are the same network on different inputs.
    assert by["beta"]["params"] == by["gamma"]["params"] and by["beta"]["macs"] == by["gamma"]["macs"]
    # φ is made of transposed convolutions only: Table 8's count is 4× the true one.
    assert by["phi"]["macs"] == 4 * by["phi"]["macs_exact"]
    # HRNet has no transposed convolution: both counts agree.
    assert by["alpha"]["macs"] == by["alpha"]["macs_exact"]


def test_summary_paper_rows_carry_table8_and_relative_differences() -> None:
    rows = {r["key"]: r for r in network_summary("hrnet_w32", "lsp")}
    assert rows["alpha"]["paper_params"] == PAPER_TABLE8["hrnet_w32"][0]
    assert rows["alpha"]["paper_macs"] == PAPER_TABLE8["hrnet_w32"][1]
    assert rows["theta"]["paper_macs"] == 3.25e9
    assert rows["training_total"]["paper_params"] == PAPER_TRAINING_TOTALS["hrnet_w32"][0] == 68.84e6
    for r in rows.values():
        assert r["params_rel_diff"] == pytest.approx((r["params"] - r["paper_params"]) / r["paper_params"])
        assert r["macs_rel_diff"] == pytest.approx((r["macs"] - r["paper_macs"]) / r["paper_macs"])


def test_mpii_costs_three_quarters_of_lsp_for_the_encoders_and_phi() -> None:
    small = VAENetsConfig.small()
    lsp = {r["key"]: r for r in network_summary("resnet10_w8", "lsp", vae_config=small)}
    mpii = {r["key"]: r for r in network_summary("resnet10_w8", "mpii", vae_config=small)}
    for key in ("beta", "delta", "phi", "alpha"):
        assert mpii[key]["macs"] * 4 == lsp[key]["macs"] * 3, key
        assert mpii[key]["params"] == lsp[key]["params"]


def test_summary_rejects_unknown_names() -> None:
    with pytest.raises(KeyError, match="dataset"):
        network_summary("hrnet_w8", "coco")
    with pytest.raises(KeyError, match="recognizer"):
        network_summary("vgg16", "lsp")


def test_format_summary_shows_ours_and_the_papers() -> None:
    rows = network_summary("hrnet_w32", "mpii")
    text = format_summary(rows)
    assert "MPII input 256×192" in text
    for r in rows:
        assert r["network"] in text
    assert "28.54" in text and "7.12" in text and "13.98" in text  # Table 8's MPII column
    alpha = rows[0]
    assert f"{alpha['macs'] / 1e9:.2f}" in text
    assert "—" in format_summary(network_summary("hrnet_w8", "lsp", vae_config=VAENetsConfig.small()))


@pytest.mark.slow
@pytest.mark.parametrize("recognizer", ["hourglass", "resnet50", "hrnet_w32"])
@pytest.mark.parametrize("dataset", ["lsp", "mpii"])
def test_paper_size_nets_match_table8(recognizer: str, dataset: str) -> None:
    rows = {r["key"]: r for r in network_summary(recognizer, dataset)}
    assert abs(rows["alpha"]["params_rel_diff"]) < 0.01
    assert abs(rows["alpha"]["macs_rel_diff"]) < 0.15
    for key in ("beta", "gamma", "delta", "theta", "psi", "phi"):
        assert abs(rows[key]["params_rel_diff"]) < 0.10, key
        assert abs(rows[key]["macs_rel_diff"]) < 0.25, key
    assert abs(rows["training_total"]["params_rel_diff"]) < 0.05
    assert abs(rows["training_total"]["macs_rel_diff"]) < 0.15
