"""The arms of benchmarks.semi_table give α the same optimizer steps and differ where they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import semi_table
from mirrornet.config import load_config
from mirrornet.curriculum import method_chain, stage_by_name
from mirrornet.training.schedule import round_steps, stage_length

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("baseline", "consistency", "plausibility", "fidelity", "both", "mirrornet", "plus")


def _alpha_steps(stages: list[str], overrides: list[str]) -> int:
    config = load_config(ROOT / "configs" / "cpu" / "lsp_scarce.yaml", overrides)
    method = stage_by_name(stages[-1]).method
    return sum(stage_length(config, s) * round_steps(config, s) for s in method_chain(method))


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_gives_alpha_the_same_steps(arm: str) -> None:
    stages, overrides = semi_table.arm(arm, 1200, (0.1, 1.0))
    assert _alpha_steps(stages, overrides) == 1200


def test_the_add_on_arms_differ_only_in_their_weights() -> None:
    _, plausibility = semi_table.arm("plausibility", 1200, (0.1, 0.0))
    _, fidelity = semi_table.arm("fidelity", 1200, (0.0, 1.0))
    differ = set(plausibility) ^ set(fidelity)
    assert differ == {"train.plausibility_weight=0.1", "train.fidelity_weight=0.0",
                      "train.plausibility_weight=0.0", "train.fidelity_weight=1.0"}
    assert set(semi_table.arm("plus", 1200, (0, 0))[1]) - set(semi_table.arm("mirrornet", 1200, (0, 0))[1]) == set(
        semi_table.PLUS)


def test_intervals_count_the_seeds_that_agree() -> None:
    assert semi_table.interval([1.0, 2.0, 3.0]).endswith("(3/3 > 0)")
    assert semi_table.interval([1.0, -1.0]).startswith("+0.00 ± ")
