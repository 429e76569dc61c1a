"""Tests of mirrornet.nets.summary: MAC counting conventions and the Table 8 rows."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
import torch
from torch import nn

from mirrornet.nets import RECOGNIZERS, VAENetsConfig, build_recognizer, build_vae_nets, format_summary, network_summary
from mirrornet.nets.summary import PAPER_TABLE8, PAPER_TRAINING_TOTALS, count_macs

ROW_KEYS = ["alpha", "beta", "gamma", "delta", "theta", "psi", "phi", "training_total", "runtime_total"]
NET_KEYS = ROW_KEYS[:7]


def _conv_output_side(side: int, kernel: int, stride: int, padding: int) -> int:
    return (side + 2 * padding - kernel) // stride + 1


@pytest.mark.parametrize(
    ("c_in", "c_out", "kernel", "stride", "padding", "hw"),
    [(3, 8, (3, 3), 1, (1, 1), (10, 10)), (4, 6, (5, 3), 2, (2, 1), (17, 12)), (16, 2, (1, 1), 1, (0, 0), (7, 9))],
)
def test_count_macs_of_a_convolution_by_hand(c_in, c_out, kernel, stride, padding, hw) -> None:
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding)
    ho, wo = (_conv_output_side(s, k, stride, p) for s, k, p in zip(hw, kernel, padding, strict=True))
    # k·k·Cin·Cout per output pixel and image; the bias is not counted.
    macs = kernel[0] * kernel[1] * c_in * c_out * ho * wo
    assert count_macs(conv, torch.zeros(1, c_in, *hw)) == macs
    assert count_macs(conv, torch.zeros(3, c_in, *hw)) == 3 * macs


def test_count_macs_of_a_transposed_convolution_both_conventions() -> None:
    up = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)  # 5×5 → 10×10
    x = torch.zeros(1, 4, 5, 5)
    assert count_macs(up, x) == 4 * 2 * 16 * 100  # Table 8: weight × output pixels
    assert count_macs(up, x, transposed_at_output=False) == 4 * 2 * 16 * 25  # true MACs


def test_count_macs_of_a_linear_layer() -> None:
    assert count_macs(nn.Linear(10, 5), torch.zeros(3, 10)) == 3 * 50


def test_summary_command_reports_the_sizes_of_the_built_nets(capsys) -> None:
    from mirrornet.cli import main

    args = ["summary", "--recognizer", "resnet10_w8", "--vae", "small", "--dataset", "lsp", "mpii"]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    text = capsys.readouterr().out

    with torch.device("meta"):
        nets = {"alpha": build_recognizer("resnet10_w8"), **build_vae_nets(VAENetsConfig.small())}
        alpha_macs = {size: count_macs(nets["alpha"], torch.zeros(1, 3, *size)) for size in ((256, 256), (256, 192))}
    params = {key: sum(p.numel() for p in net.parameters()) for key, net in nets.items()}
    params["training_total"] = sum(params[k] for k in NET_KEYS)  # β and γ counted separately, as in Table 8
    params["runtime_total"] = params["alpha"]

    assert [r["key"] for r in rows] == ROW_KEYS * 2
    assert [r["dataset"] for r in rows] == ["lsp"] * 9 + ["mpii"] * 9
    for r in rows:
        assert r["params"] == params[r["key"]], r["key"]
        # Neither net has Table 8 figures: nothing to compare with.
        assert r["paper_params"] is r["paper_macs"] is r["params_rel_diff"] is r["macs_rel_diff"] is None
    for dataset_rows in (rows[:9], rows[9:]):
        by = {r["key"]: r for r in dataset_rows}
        assert by["alpha"]["macs"] == alpha_macs[tuple(by["alpha"]["input_size"])]  # at the dataset's input size
        assert by["training_total"]["macs"] == sum(by[k]["macs"] for k in NET_KEYS)
        assert by["runtime_total"]["macs"] == by["alpha"]["macs"]
        # φ is made of stride-2 transposed convolutions only: Table 8's count is 4× the true one;
        # ResNet-10's head has them too, θ and ψ some, β, γ and δ none.
        assert by["phi"]["macs"] == 4 * by["phi"]["macs_exact"]
        assert by["alpha"]["macs"] > by["alpha"]["macs_exact"]
        for key in ("beta", "gamma", "delta"):
            assert by[key]["macs"] == by[key]["macs_exact"], key

    # The table prints those figures, row by row, in millions and billions.
    # (one block per dataset: the lines under each dashed rule, up to a blank line or the note)
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("-")]
    body = [line for i in rules for line in itertools.takewhile(lambda t: t and not t.startswith("GMACs"), lines[i + 1:])]
    for r, line in zip(rows, body, strict=True):
        assert line.startswith(r["network"])
        cells = line[len(r["network"]):].split()
        assert cells == [f"{r['params'] / 1e6:.2f}", "—", "—", f"{r['macs'] / 1e9:.2f}", "—", "—",
                         f"{r['macs_exact'] / 1e9:.2f}"], line


def test_changing_phi_width_changes_its_row_by_the_analytic_amount() -> None:
    def phi_counts(width: int, latent: int, k: int = 16) -> tuple[int, int, int]:
        # φ on LSP: z (latent, 8, 8) → 4×4/2 transposed convs to w (16×16), w (32×32), then
        # mean and logvar, K each (64×64); BN after the first two; every layer has a bias.
        params = 16 * latent * width + width + 2 * width + 16 * width**2 + width + 2 * width + 2 * (16 * width * k + k)
        weights_and_pixels = [(16 * latent * width, 16 * 16), (16 * width**2, 32 * 32), (2 * 16 * width * k, 64 * 64)]
        macs = sum(n * px for n, px in weights_and_pixels)  # Table 8: at the output resolution
        exact = sum(n * px // 4 for n, px in weights_and_pixels)  # true: at the input resolution
        return params, macs, exact

    small = VAENetsConfig.small()
    rows = {}
    for width in (small.phi_width, small.phi_width + 1):
        config = dataclasses.replace(small, phi_width=width)
        rows[width] = {r["key"]: r for r in network_summary("resnet10_w8", "lsp", vae_config=config)}
        phi = rows[width]["phi"]
        assert (phi["params"], phi["macs"], phi["macs_exact"]) == phi_counts(width, small.latent_channels)
    narrow, wide = rows[small.phi_width], rows[small.phi_width + 1]
    for key in ("alpha", "beta", "gamma", "delta", "theta", "psi"):
        assert narrow[key] == wide[key], key
    for field in ("params", "macs", "macs_exact"):
        grown = wide["phi"][field] - narrow["phi"][field]
        assert wide["training_total"][field] - narrow["training_total"][field] == grown > 0


def test_table8_comparison_flags_a_recognizer_whose_size_is_off(monkeypatch) -> None:
    # Table 8's HRNet-W32: 28.54M parameters, 9.49 GMACs on LSP. A stand-in with 10% more
    # parameters (one 4×4/4 convolution to the heatmaps and unused weights) and known MACs.
    paper_params, paper_macs = 28.54e6, 9.49e9
    params = round(1.1 * paper_params)

    class StandIn(nn.Module):
        def __init__(self, num_joints: int = 16) -> None:
            super().__init__()
            self.head = nn.Conv2d(3, num_joints, 4, stride=4)
            self.unused = nn.Parameter(torch.zeros(params - sum(p.numel() for p in self.head.parameters())))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(x)

    monkeypatch.setitem(RECOGNIZERS, "hrnet_w32", dataclasses.replace(RECOGNIZERS["hrnet_w32"], builder=StandIn))
    rows = network_summary("hrnet_w32", "lsp", vae_config=VAENetsConfig.small())
    alpha = rows[0]
    macs = 16 * 3 * 16 * 64 * 64
    assert (alpha["params"], alpha["macs"]) == (params, macs)
    assert alpha["params_rel_diff"] == pytest.approx(0.10, abs=1e-7)
    assert alpha["macs_rel_diff"] == pytest.approx(macs / paper_macs - 1)
    line = next(line for line in format_summary(rows).splitlines() if line.startswith(alpha["network"]))
    assert line[len(alpha["network"]):].split()[:6] == [f"{params / 1e6:.2f}", "28.54", "+10.0%", "0.00", "9.49", "-100.0%"]


def test_table8_figures_as_transcribed_add_up() -> None:
    # Each training total is α + β + γ + δ + θ + ψ + φ, and MPII's 256×192 input costs 3/4 of
    # LSP's 256×256 for every net; both to the paper's two decimals (a typo breaks one of them).
    vae = [PAPER_TABLE8[k] for k in ("beta", "gamma", "delta", "theta", "psi", "phi")]
    assert set(PAPER_TRAINING_TOTALS) == {"hourglass", "resnet50", "hrnet_w32"}
    for recognizer, total in PAPER_TRAINING_TOTALS.items():
        for column in range(3):
            parts = PAPER_TABLE8[recognizer][column] + sum(row[column] for row in vae)
            assert parts == pytest.approx(total[column], abs=0.011 * (1e6 if column == 0 else 1e9)), (recognizer, column)
    for name, (_, lsp, mpii) in PAPER_TABLE8.items():
        assert mpii == pytest.approx(0.75 * lsp, abs=0.0101e9), name


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


def test_two_datasets_print_two_titled_blocks(capsys) -> None:
    """Rows of two datasets share the network names: each dataset gets its own titled block."""
    from mirrornet.cli import main

    assert main(["summary", "--recognizer", "hourglass_1x32", "--vae", "small", "--dataset", "mpii", "lsp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    titles = [i for i, text in enumerate(lines) if "input 256×" in text]
    assert [lines[i].split()[0] for i in titles] == ["MPII", "LSP"]  # in the order asked
    mpii_block, lsp_block = lines[titles[0]:titles[1]], lines[titles[1]:]
    for block in (mpii_block, lsp_block):
        assert sum(text.startswith("α recognizer") for text in block) == 1
    # MPII's 256×192 input costs α fewer MACs than LSP's 256×256.
    gmacs = [float(next(t for t in b if t.startswith("α recognizer")).split()[-4]) for b in (mpii_block, lsp_block)]
    assert gmacs[0] < gmacs[1]
