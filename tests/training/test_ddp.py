"""Data-parallel training through Lightning's DDP: two CPU processes (gloo) on a tiny stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mirrornet.checkpoints import read_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def test_ddp_two_cpu_processes(tmp_path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MIRRORNET_NO_PROGRESS": "1"}
    cmd = [
        sys.executable, "-m", "mirrornet.cli", "train", str(ROOT / "configs" / "cpu" / "tiny.yaml"),
        "--set", "train.strategy=ddp", "train.devices=2", "train.accelerator=cpu",
        "--stages", "baseline", "--out", str(out), "--json",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"baseline"}
    assert results["baseline"]["metric"] == "PCK@0.2"
    payload = read_checkpoint(out / "checkpoints" / "baseline.ckpt")
    assert payload["completed"]
    # Both processes took part: the epoch records were reduced over a world of two.
    assert [r["world_size"] for r in payload["history"]] == [2, 2]
    # One global batch of 8 is split 4 + 4, two batches per epoch: each rank steps twice, and the
    # images drawn are summed over both ranks (one rank alone drew 8); every term is finite.
    for record in payload["history"]:
        assert record["steps"] == 2
        assert record["annotated_draws"] == 16 and record["unannotated_draws"] == 0
        assert record["train"] and all(abs(v) < float("inf") for v in record["train"].values())
