"""The packaged default model (src/mirrornet/weights/default.ckpt) against its card (default.json).

Skipped where no default model is packaged; the slice figure is also skipped without the real
LSP files (``../shared/data`` or ``MIRRORNET_DATA``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from mirrornet.pretrained import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
CARD = DEFAULT_MODEL.with_name("default.json")
DATA = Path(os.environ.get("MIRRORNET_DATA", ROOT.parent / "shared" / "data"))

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason=f"no default model packaged at {DEFAULT_MODEL}")


def _card() -> dict:
    return json.loads(CARD.read_text())["results"]


def test_the_packaged_model_is_alpha_alone_small_and_loads_with_its_cards_config() -> None:
    from mirrornet.checkpoints import load_checkpoint

    assert DEFAULT_MODEL.stat().st_size <= 25 * 2**20
    payload = torch.load(DEFAULT_MODEL, map_location="cpu", weights_only=True)
    assert payload["config"] == _card()["config"]
    assert all(k.startswith("alpha.") for k in payload["state_dict"])
    model, config = load_checkpoint(DEFAULT_MODEL)
    assert config.model.recognizer == _card()["recognizer"]
    heatmaps = model.recognize(torch.zeros(1, 3, *config.data.input_size))[-1]
    assert heatmaps.shape[1] == 16 and torch.isfinite(heatmaps).all()


@pytest.mark.skipif(not (DATA / "lsp" / "joints.mat").is_file(), reason=f"real LSP not found under {DATA}")
def test_the_packaged_model_scores_the_cards_figure_on_its_lsp_slice() -> None:
    from benchmarks.default_model import SLICE, slice_scores

    scores = slice_scores(DEFAULT_MODEL, DATA / "lsp", SLICE)
    card = _card()["slice"]
    for name, value in scores.items():
        assert value == pytest.approx(card[name], abs=0.05), name
