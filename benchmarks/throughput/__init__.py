"""Throughput of MirrorNet training and inference, measured side by side in one run.

Run it as ``python -m benchmarks.throughput`` from the repository root; :mod:`benchmarks.throughput.cli`
describes the sections, the options and what is written. The package: :mod:`~benchmarks.throughput.plan`
(what is measured), :mod:`~benchmarks.throughput.timing`, the sections
(:mod:`~benchmarks.throughput.training`, :mod:`~benchmarks.throughput.pipeline`),
:mod:`~benchmarks.throughput.report` (targets and markdown) and :mod:`~benchmarks.throughput.cli`.
"""

from __future__ import annotations

from benchmarks.throughput.cli import build_parser, main, run, workers_needed
from benchmarks.throughput.pipeline import alpha_gflops, best_data_row, lspet_root, run_data, run_inference, run_predict
from benchmarks.throughput.plan import (
    BASELINE_KIND,
    DEVICE_PEAKS,
    MIRRORNET_KIND,
    SECTIONS,
    STAGE_KINDS,
    VARIANTS,
    Plan,
    TrainSetup,
    Variant,
    device_peak_tflops,
    make_plan,
    paper_flop_ratio,
    variant_skip_reason,
    verdict,
)
from benchmarks.throughput.report import busy_note, evaluate_targets, render_markdown
from benchmarks.throughput.timing import profile_top, timed_calls
from benchmarks.throughput.training import count_step_flops, measure_training, run_training, training_ratios

__all__ = [
    "BASELINE_KIND", "DEVICE_PEAKS", "MIRRORNET_KIND", "SECTIONS", "STAGE_KINDS", "VARIANTS", "Plan", "TrainSetup",
    "Variant", "alpha_gflops", "best_data_row", "build_parser", "busy_note", "count_step_flops", "device_peak_tflops",
    "evaluate_targets", "lspet_root", "main", "make_plan", "measure_training", "paper_flop_ratio", "profile_top",
    "render_markdown", "run", "run_data", "run_inference", "run_predict", "run_training", "timed_calls",
    "training_ratios", "variant_skip_reason", "verdict", "workers_needed",
]
