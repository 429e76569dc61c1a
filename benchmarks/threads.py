"""PyTorch's intra-op threads against training speed on this machine (``train.threads``).

Times training steps of the demo's networks (``configs/cpu/demo.yaml``: hourglass_1x32 and the
small VAE nets at 64×64, batch 32, the labelled bound of Eqs. 26–28 with Adam) with each number
of threads, in turn, a few seconds each, and writes the images per second to the ``threads``
section of ``benchmarks/RESULTS.md``. The settings alternate (1, 2, ..., 1, 2, ...) so that a
change in the machine's load falls on all of them alike.

Usage:
    .venv/bin/python benchmarks/threads.py                    # 1 and every core, 3 rounds of 4 s
    .venv/bin/python benchmarks/threads.py --threads 1 2 --seconds 3 --rounds 2
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

import torch

from benchmarks import lsp_table
from benchmarks.common import machine_description

REPO = Path(__file__).resolve().parents[1]


def _step_rate(model, optimizer, batch: int, seconds: float) -> float:
    """Training steps for ``seconds``: images per second."""
    from mirrornet.bounds import BoundSettings, labeled_elbo

    x = torch.randn(batch, 3, 64, 64)
    target = torch.rand(batch, 16, 16, 16)
    weights = torch.ones(batch, 16)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 2:
        out = model(x, s_annotated=target, pose_source="annotation")
        loss = -labeled_elbo(out, target, weights, BoundSettings(lam=0.01))["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done += 1
    return done * batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    from mirrornet.checkpoints import build_model
    from mirrornet.config import load_config
    from mirrornet.threads import available_cores, default_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", help="settings to time (default: 1 and every core)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per setting and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "RESULTS.md"))
    args = parser.parse_args(argv)
    cores = available_cores()
    settings = args.threads or sorted({1, cores})
    torch.manual_seed(0)
    model = build_model(load_config(REPO / "configs" / "cpu" / "demo.yaml"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates: dict[int, list[float]] = {n: [] for n in settings}
    machine = machine_description()  # before the loop changes PyTorch's threads
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for n in settings:
            torch.set_num_threads(n)
            rates[n].append(_step_rate(model, optimizer, args.batch, args.seconds))
    load_after = os.getloadavg()[0]
    os.environ.pop("OMP_NUM_THREADS", None)  # the default as a user without the variable gets it
    chosen = default_threads(0, cores)
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"`{' '.join(['python benchmarks/threads.py', *(argv if argv is not None else sys.argv[1:])])}` "
        f"({when}, {machine}, {cores} cores available, load average {load_before:.1f} before and "
        f"{load_after:.1f} after): training steps of the demo's networks (hourglass_1x32 + small VAE nets, 64×64, "
        f"batch {args.batch}, labelled bound + Adam), {args.rounds} rounds of {args.seconds:g} s per setting.",
        "",
        "| threads | images/s per round | median |",
        "|---:|---|---:|",
    ]
    for n in settings:
        median = sorted(rates[n])[len(rates[n]) // 2]
        lines.append(f"| {n} | {' / '.join(f'{r:.0f}' for r in rates[n])} | {median:.0f} |")
    lines += ["", f"The default of `train.threads` here (no `OMP_NUM_THREADS`, no data workers): {chosen}."]
    text = "\n".join(lines)
    print(text)
    lsp_table.replace_section(Path(args.results), "threads", "Threads (`train.threads`)", text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
