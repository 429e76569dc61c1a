"""Speed of SyntheticPeople generation in memory, on one CPU thread.

Generates `--num` samples at each image size (default 64, 128 and 256 px) and reports samples per
second (best of `--repeats` runs, to be robust to other load on the machine). The target is
>= 500 samples/s at 128 px on one core. Run it as

    OMP_NUM_THREADS=1 python -m benchmarks.synthetic_speed
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from mirrornet.data.synthetic import SyntheticPeople  # noqa: E402


def measure(size: int, num: int, difficulty: float, repeats: int, seed: int = 0) -> dict[str, float]:
    """Best samples/s over `repeats` passes of `num` samples of `size` px.

    Returns both the wall-clock rate and the rate per second of CPU time of this process (the
    latter is what one core delivers when other jobs share the machine).
    """
    people = SyntheticPeople(num, image_size=size, seed=seed, difficulty=difficulty)
    people[0]  # warm-up: imports, lookup tables, the noise pool
    wall = cpu = 0.0
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(num):
            people[i]
        wall = max(wall, num / (time.perf_counter() - w0))
        cpu = max(cpu, num / max(time.process_time() - c0, 1e-9))
    return {"wall": wall, "cpu": cpu}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Print and return {size: {"wall": samples/s, "cpu": samples per CPU second}}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--difficulty", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print machine-readable output")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = {str(s): measure(s, args.num, args.difficulty, args.repeats) for s in args.sizes}
    if args.json:
        print(json.dumps(results))
    else:
        print(f"SyntheticPeople, difficulty {args.difficulty}, {args.num} samples, best of {args.repeats}, 1 thread")
        for size, rate in results.items():
            print(f"  {size:>4} px: {rate['wall']:8.1f} samples/s wall clock, {rate['cpu']:8.1f} per CPU second")
    return results


if __name__ == "__main__":
    main()
