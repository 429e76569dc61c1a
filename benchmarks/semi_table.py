"""Does consistency training beat the baseline, and do MirrorNet's mirrors add to it?

On the label-scarce LSP testbed (``configs/cpu/lsp_scarce.yaml``: 45 or 90 annotated LSP images,
the rest of LSP and all of LSPET unannotated, the step budget the baseline's label curve chose on
validation, ``benchmarks.label_curve``), every arm gives α the same optimizer steps S from the same
fresh initialisation (``pretrain_alpha``'s) and is paired with the others on the same annotated
pool and seed:

1. ``baseline``: α on the annotated images (``pretrain_alpha`` for S steps);
2. ``consistency``: PoseCons (``mirrornet.consistency``), batches of 16 annotated + 16 unannotated;
   ``dual``: PoseDual, the same with a second network trained beside α (``consistency_dual``; twice
   a consistency run's passes);
3. ``plausibility``: consistency + the pose VAE's bound of α's pose (σ²_φ = 0.01, the informative
   pose VAE of the mirror ablation), weight chosen from {0.01, 0.1, 1} on validation;
4. ``fidelity``: consistency + the image VAE's bound with ψ's mask, weight chosen likewise;
5. ``both``: consistency + both terms at their chosen weights;
6. ``mirrornet``: MirrorNet as the paper writes it (α S/2 steps, then the labelled bound S/4 and the
   semi-supervised bound S/4), and ``plus``, the mirror ablation's every-change variant;
   ``supervised`` and ``plus_supervised``, their controls: the same stages and steps with the labelled
   bound in place of the semi-supervised one (no unannotated image), so that ``mirrornet −
   supervised`` is what the unannotated images add and ``supervised − baseline`` what MirrorNet's
   curriculum does to α on the annotated images alone.

The VAEs of arms 3–6 are pretrained first (``pretrain_mask`` in epochs, ``pretrain_vaes`` for
1,000 steps; α untouched). Weights are chosen on seed 0 by the validation PCK@0.1 of the selected round; the
test split is evaluated once per run. Reported: PCK@0.1 (primary) and PCK@0.2 on LSP's test split
with the floor, the paired differences with 95 % intervals (Student t over seeds) and the seeds
that agree, and (``--report --bones``) the share of test poses that break the bone-ratio statistics of
the run's annotated poses, from each run's selected checkpoint (``lsp_table``'s plausibility measure).

Resumable: each run lives in ``--out/n<labels>_<arm>[_w<weight>]_s<seed>`` with its JSON in
``benchmarks/results/semi/``, keyed by its settings; the section ``semi`` of
``benchmarks/RESULTS.md`` is rewritten after every run.

Usage:
    python -m benchmarks.semi_table --root ../shared/data
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._runs import run_script
from benchmarks.cli_runs import REPO, finished_run, load_record
from benchmarks.label_curve import T975
from benchmarks.lsp_table import checkpoint_violations, replace_section

CONFIG = REPO / "configs" / "cpu" / "lsp_scarce.yaml"
RESULTS = REPO / "benchmarks" / "results" / "semi"
CURVE = REPO / "benchmarks" / "results" / "label-curve"
#: Each run's bone-ratio violations (%), by run folder name (``--report --bones`` fills it).
BONES_FILE = "bone-violations.json"
LABELS = (45, 90)
WEIGHTS = (0.01, 0.1, 1.0)
SEEDS = 5
ARMS = ("baseline", "consistency", "dual", "plausibility", "fidelity", "both", "mirrornet", "plus", "supervised",
        "plus_supervised")
#: Each MirrorNet reference and its control without unannotated images (the paper's claim B).
CONTROLS = {"mirrornet": "supervised", "plus": "plus_supervised"}
PLUS = ["model.lam=1", "model.pose_source=recognizer", "model.pose_bottleneck=coordinates",
        "model.pose_variance=0.01", "train.unlabeled_rampup_epochs=4"]


def chosen_budget(labels: int) -> int:
    """The step budget the baseline's label curve chose on validation for ``labels``."""
    runs = [json.loads(p.read_text()) for p in CURVE.glob(f"n{labels}_t*_s0.json")]
    if not runs:
        raise SystemExit(f"no label-curve run for {labels} labels in {CURVE}: run benchmarks.label_curve first")
    return max(runs, key=lambda r: r["results"]["baseline"]["groups"]["Total"])["steps"]


def arm(name: str, steps: int, weights: tuple[float, float]) -> tuple[list[str], list[str]]:
    """(stages, overrides) of an arm with the add-on weights (plausibility, fidelity)."""
    mixed = ["train.n_annotated=16", "train.n_unannotated=16"]
    if name == "baseline":
        return ["baseline"], [f"train.steps.alpha_pretrain={steps}", "train.steps.baseline=0"]
    if name in ("consistency", "dual"):
        stage = "consistency" if name == "consistency" else "consistency_dual"
        return [stage], ["train.steps.alpha_pretrain=0", f"train.steps.baseline={steps}", *mixed]
    # The mirrors' VAEs learn the annotated poses and images first (α untouched, 1,000 steps).
    vaes = ["train.steps.vae_pretrain=1000"]
    if name in ("plausibility", "fidelity", "both"):
        return ["consistency_mirrors"], [
            "train.steps.alpha_pretrain=0", f"train.steps.baseline={steps}", *mixed, *vaes, "model.pose_variance=0.01",
            f"train.plausibility_weight={weights[0]}", f"train.fidelity_weight={weights[1]}"]
    # The controls spend the semi-supervised stage's steps on the labelled bound instead.
    control = name in CONTROLS.values()
    budget = [f"train.steps.alpha_pretrain={steps // 2}", f"train.steps.supervised_first={steps // 4}",
              f"train.steps.semi_supervised={0 if control else steps // 4}",
              f"train.steps.supervised_second={steps // 4 if control else 0}", *vaes,
              # Rounds of 100 steps, so that a quarter of every budget of the label curve is whole rounds.
              "train.eval_every_steps=100"]
    return ["supervised" if control else "semi_supervised"], budget + (PLUS if name.startswith("plus") else [])


def run(root: Path, out: Path, labels: int, name: str, steps: int, weights: tuple[float, float], seed: int,
        tag: str = "") -> dict[str, Any]:
    """One arm's run (trained, or read back when it exists with the same settings)."""
    stages, overrides = arm(name, steps, weights)
    overrides = [f"data.root={root / 'lsp'}", f"data.lspet_root={root / 'lspet'}", f"data.annotated_count={labels}",
                 f"data.split_seed={seed}", f"train.seed={seed}", *overrides]
    label = f"n{labels}_{name}{tag}_s{seed}"
    # The baseline arm is the label curve's run of the same settings: read back, not retrained.
    curve = CURVE / f"n{labels}_t{steps}_s{seed}.json" if name == "baseline" else None
    return finished_run(RESULTS / f"{label}.json", CONFIG, out / label, overrides, stages, read_from=curve,
                        labels=labels, arm=name, steps=steps, seed=seed)


def figures(record: dict[str, Any]) -> dict[str, float]:
    """The run's method row: validation and test figures and minutes."""
    row = next(iter(record["results"].values()))
    test = row["final"]["test"]
    return {"val@0.1": float(row.get("totals", {}).get("PCK@0.1", float("nan"))),
            "test@0.1": float(test["metrics"]["PCK@0.1"]["Total"]), "test@0.2": float(test["metrics"]["PCK@0.2"]["Total"]),
            "floor@0.1": float(test["floor"]["PCK@0.1"]), "floor@0.2": float(test["floor"]["PCK@0.2"]),
            "minutes": float(record["seconds"]) / 60}


def interval(diffs: Sequence[float]) -> str:
    """mean ± 95 % half-width (t over seeds), and the seeds above 0."""
    if len(diffs) < 2:
        return f"{diffs[0]:+.2f} (1 seed)" if diffs else "-"
    half = T975.get(len(diffs) - 1, 1.96) * float(np.std(diffs, ddof=1)) / math.sqrt(len(diffs))
    return f"{np.mean(diffs):+.2f} ± {half:.2f} ({sum(d > 0 for d in diffs)}/{len(diffs)} > 0)"


def run_name(record: dict[str, Any]) -> str:
    """The run's folder name (``n45_plausibility_w0.1_s0``), from its selected checkpoint's path."""
    return Path(next(iter(record["results"].values())).get("checkpoint", "")).parent.parent.name


def bone_violations(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each run's share (%) of LSP test poses that break the bone-ratio statistics of its annotated
    poses (and the test annotation's own share), by :func:`run_name`: computed once from the run's
    selected checkpoint and kept in ``RESULTS / BONES_FILE``; runs whose checkpoint is gone are
    left out (the baselines' label-curve folders, for one)."""
    from mirrornet.config import load_config
    from mirrornet.fileio import write_text_atomic

    path = RESULTS / BONES_FILE
    known = json.loads(path.read_text()) if path.is_file() else {}
    for record in records:
        checkpoint = Path(next(iter(record["results"].values())).get("checkpoint", ""))
        if run_name(record) in known or not checkpoint.is_file():
            continue
        shares = checkpoint_violations(load_config(CONFIG, record["overrides"]), {"run": checkpoint})
        known[run_name(record)] = shares
        write_text_atomic(path, json.dumps(known, indent=1, sort_keys=True) + "\n")
    return known


def _violations_cell(records: Sequence[dict[str, Any]], bones: dict[str, dict[str, float]]) -> str:
    """Mean bone-ratio violations (%) over the runs that have them, with their count."""
    shares = [bones[run_name(r)]["run"] for r in records if run_name(r) in bones]
    return f"{np.mean(shares):.1f} ({len(shares)})" if shares else "-"


def report(runs: dict[tuple[int, str, int], dict], chosen: dict[tuple[int, str], float],
           bones: dict[str, dict[str, float]] | None = None) -> str:
    """The section's markdown: per label count, each arm's test figures, the paired differences and
    (where ``bones`` has them) the bone-ratio violations."""
    bones = bones or {}
    lines = ["Weights chosen on validation (seed 0, PCK@0.1): "
             + (", ".join(f"{n} labels {a} {w:g}" for (n, a), w in sorted(chosen.items())) or "none yet") + ".",
             "Violations: share (%) of LSP test poses breaking the bone-ratio statistics of the run's "
             "annotated poses, mean over the runs measured (their count).", ""]
    for labels in LABELS:
        lines += [f"**{labels} labels** (LSP test, mean ± sd over seeds):", "",
                  "| arm | seeds | PCK@0.1 | PCK@0.2 | − baseline @0.1 | − consistency @0.1 | − consistency @0.2 "
                  "| violations % | min/run |",
                  "|---|---|---|---|---|---|---|---|---|"]
        arm_records = {a: [r for (n, aa, _), r in runs.items() if n == labels and aa == a] for a in ARMS}
        by_arm = {a: {s: figures(r) for (n, aa, s), r in runs.items() if n == labels and aa == a} for a in ARMS}
        for a in ARMS:
            rows = by_arm[a]
            if not rows:
                continue
            col = {k: [r[k] for r in rows.values()] for k in next(iter(rows.values()))}

            def diff(ref: str, key: str) -> str:
                seeds = [s for s in rows if s in by_arm[ref]]
                return interval([rows[s][key] - by_arm[ref][s][key] for s in seeds]) if a != ref else "-"
            lines.append(f"| {a} | {len(rows)} | {np.mean(col['test@0.1']):.2f} ± {np.std(col['test@0.1'], ddof=1) if len(rows) > 1 else 0.0:.2f} | "
                         f"{np.mean(col['test@0.2']):.2f} | {diff('baseline', 'test@0.1')} | "
                         f"{diff('consistency', 'test@0.1')} | {diff('consistency', 'test@0.2')} | "
                         f"{_violations_cell(arm_records[a], bones)} | {np.mean(col['minutes']):.1f} |")
        floors = [figures(r) for (n, _, _), r in runs.items() if n == labels]
        if floors:
            annotation = [bones[run_name(r)]["annotation"] for (n, _, _), r in runs.items()
                          if n == labels and run_name(r) in bones]
            lines.append(f"| floor (image-blind) | | {np.mean([f['floor@0.1'] for f in floors]):.2f} | "
                         f"{np.mean([f['floor@0.2'] for f in floors]):.2f} | | | | | |")
            if annotation:
                lines.append(f"| test annotation | | | | | | | {np.mean(annotation):.1f} | |")
        for reference, control in CONTROLS.items():
            seeds = sorted(s for s in by_arm[reference] if s in by_arm[control])
            if seeds:
                paired = {k: [by_arm[reference][s][k] - by_arm[control][s][k] for s in seeds]
                          for k in ("test@0.1", "test@0.2")}
                lines += ["", f"What the unannotated images add, {reference} − {control} paired by seed: "
                          f"PCK@0.1 {interval(paired['test@0.1'])}, PCK@0.2 {interval(paired['test@0.2'])}."]
        lines.append("")
    return "\n".join(lines)


def add_ons_needed(arms: Sequence[str]) -> list[str]:
    """The add-ons whose weight the ``arms`` need chosen (``both`` needs each)."""
    return [a for a in ("plausibility", "fidelity") if a in arms or "both" in arms]


def choose_weights(root: Path, out: Path, labels: int, steps: int, chosen: dict, runs: dict, write,
                   add_ons: Sequence[str] = ("plausibility", "fidelity")) -> None:
    """Each add-on's weight from WEIGHTS by seed 0's validation PCK@0.1, into ``chosen``."""
    for add_on, index in (("plausibility", 0), ("fidelity", 1)):
        if add_on not in add_ons:
            continue
        def weighted(w: float) -> dict[str, Any]:
            weights = (w, 0.0) if index == 0 else (0.0, w)
            return run(root, out, labels, add_on, steps, weights, 0, tag=f"_w{w:g}")

        scores = {w: figures(weighted(w))["val@0.1"] for w in WEIGHTS}
        chosen[(labels, add_on)] = best = max(WEIGHTS, key=lambda w: scores[w])
        runs[(labels, add_on, 0)] = weighted(best)
        write()


def _weight(record: dict[str, Any], add_on: str) -> float:
    """The ``train.<add_on>_weight`` a run was made with (0 when it sets none)."""
    key = f"train.{add_on}_weight="
    return next((float(o[len(key):]) for o in record["overrides"] if o.startswith(key)), 0.0)


def finished_runs(runs: dict, chosen: dict) -> None:
    """Fill ``runs`` and ``chosen`` from the per-run JSON alone (``--report``): every arm's runs, the
    add-ons at the weight seed 0's validation chose, the baselines from the label curve."""
    records = [r for r in (load_record(p, None) for p in sorted(RESULTS.glob("n*_s*.json"))) if r]
    for labels in LABELS:
        for add_on in ("plausibility", "fidelity"):
            scored = [r for r in records if (r["labels"], r["arm"], r["seed"]) == (labels, add_on, 0)]
            if scored:
                chosen[(labels, add_on)] = _weight(max(scored, key=lambda r: figures(r)["val@0.1"]), add_on)
    for r in records:
        add_on = r["arm"] if r["arm"] in ("plausibility", "fidelity") else None
        if add_on is None or _weight(r, add_on) == chosen.get((r["labels"], add_on)):
            runs[(r["labels"], r["arm"], r["seed"])] = r
    for labels, _, seed in list(runs):
        baseline = load_record(CURVE / f"n{labels}_t{chosen_budget(labels)}_s{seed}.json", None)
        if baseline is not None:
            runs.setdefault((labels, "baseline", seed), baseline)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder holding lsp/ and lspet/")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "semi")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--labels", type=int, nargs="+", default=list(LABELS), choices=LABELS)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS,
                        help="the arms to run (all by default)")
    parser.add_argument("--report", action="store_true", help="write the table from the finished runs only")
    parser.add_argument("--bones", action="store_true",
                        help="with --report: measure the bone-ratio violations of runs not measured yet")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    runs: dict[tuple[int, str, int], dict] = {}
    chosen: dict[tuple[int, str], float] = {}

    def write() -> None:
        # From every run on disk, not this process's alone: two processes (one per label count) then
        # leave one table with both.
        on_disk: dict[tuple[int, str, int], dict] = {}
        weights: dict[tuple[int, str], float] = {}
        finished_runs(on_disk, weights)
        path = RESULTS / BONES_FILE
        bones = bone_violations(list(on_disk.values())) if args.bones else (
            json.loads(path.read_text()) if path.is_file() else {})
        replace_section(REPO / "benchmarks" / "RESULTS.md", "semi", "Consistency training and the mirrors on the "
                        "label-scarce LSP testbed", report(on_disk, weights, bones) + "\n")

    if args.report:
        write()
        return 0
    add_ons = add_ons_needed(args.arms)
    for labels in args.labels if add_ons else ():
        choose_weights(root, args.out, labels, chosen_budget(labels), chosen, runs, write, add_ons)
    # Seed by seed, so that the paired differences at both label counts grow together.
    for seed in range(args.seeds):
        for labels in args.labels:
            steps = chosen_budget(labels)
            both = (chosen.get((labels, "plausibility"), 0.0), chosen.get((labels, "fidelity"), 0.0))
            for name in (a for a in ARMS if a in args.arms):
                weights = {"plausibility": (both[0], 0.0), "fidelity": (0.0, both[1])}.get(name, both)
                tag = {"plausibility": f"_w{both[0]:g}", "fidelity": f"_w{both[1]:g}"}.get(name, "")
                runs[(labels, name, seed)] = run(root, args.out, labels, name, steps, weights, seed, tag)
                write()
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main, "semi_table"))
