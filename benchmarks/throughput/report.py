"""The targets met or missed, and the RESULTS.md section of a run."""

from __future__ import annotations

import math
import os
from typing import Any

from benchmarks.throughput.pipeline import best_data_row
from benchmarks.throughput.plan import (
    BASELINE_KIND,
    MIRRORNET_KIND,
    STAGE_KINDS,
    TARGET_DATA,
    TARGET_GPU_INFERENCE,
    TARGET_GPU_STEP,
    TARGET_ORT_LATENCY,
    TARGET_PREDICT,
    TARGET_PREDICT_DEFAULT_MODEL,
    TARGET_RATIO_SLACK,
    VARIANTS,
    verdict,
)
from benchmarks.throughput.timing import _top_text

def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the speed issue: the measured value, met / missed by how much, what bounds it."""
    device = results["meta"]["device"]
    targets: list[dict[str, Any]] = []

    def add(name: str, value: float | None, target: float, unit: str, higher: bool = True, bound: str = "",
            note: str = "") -> None:
        met, text = verdict(value, target, higher)
        targets.append({"target": name, "value": value, "goal": target, "unit": unit, "met": met, "verdict": text,
                        "bound": bound if met is False else "", "note": note})

    training = results.get("training") or {}
    rows = training.get("rows", [])
    if device == "cuda":
        hrnet = [r for r in rows if r["recognizer"] == "hrnet_w32" and r["kind"] == MIRRORNET_KIND and VARIANTS[r["variant"]].bf16]
        best = max(hrnet, key=lambda r: r["images_per_s"], default=None)
        add("GPU bf16: MirrorNet-HRNet labelled step at 256×256 ≥ 1,500 images/s",
            best["images_per_s"] if best else None, TARGET_GPU_STEP, "images/s",
            bound=_top_text(best.get("profile")) if best else "",
            note=(f"{best['variant']}, batch {best['batch']}" + (f", MFU {100 * best['mfu']:.1f} %" if best and best.get("mfu") else ""))
            if best else "")
        ratios = [r for r in training.get("ratios", []) if r["recognizer"] == "hrnet_w32" and r["time_over_flops"]]
        ratio = min(ratios, key=lambda r: r["time_over_flops"], default=None)
        add("GPU: MirrorNet ÷ baseline step-time ratio ≤ 1.1 × their FLOP ratio (HRNet)",
            ratio["time_over_flops"] if ratio else None, TARGET_RATIO_SLACK, "× FLOP ratio", higher=False,
            bound="the VAE nets' small convolutions and elementwise densities run below the recognizer's FLOP rate",
            note=(f"{ratio['variant']}: step ratio {ratio['time_ratio']:.2f}, FLOP ratio {ratio['flop_ratio']:.2f}, "
                  f"Table 8 {ratio['table8_ratio']:.2f}") if ratio else "")
        inf = [(row, b, v) for row in (results.get("inference") or {}).get("rows", []) if row["recognizer"] == "hrnet_w32"
               for b, v in row["batches"].items()]
        best_inf = max(inf, key=lambda t: t[2]["images_per_s"], default=None)
        add("GPU: α (HRNet) inference ≥ 5,000 images/s", best_inf[2]["images_per_s"] if best_inf else None,
            TARGET_GPU_INFERENCE, "images/s",
            note=f"{best_inf[0]['backend']}, batch {best_inf[1]}" if best_inf else "")
    if "data" in results:
        data = results["data"]
        row256 = best_data_row(data)
        slowest = max(row256["ms_per_image"].items(), key=lambda kv: kv[1]) if row256 else None
        add("data pipeline ≥ 500 images/s per worker at 256×256 (real LSPET)", row256["images_per_s"] if row256 else None,
            TARGET_DATA, "images/s",
            bound=("per image: " + ", ".join(f"{k} {v:.2f} ms" for k, v in row256["ms_per_image"].items())
                   + f"; the largest part is {slowest[0]}") if row256 else "",
            note=data.get("skipped") or (f"image backend {row256.get('image_backend', 'pillow')}" if row256 else ""))
    if device == "cpu":
        inference = (results.get("inference") or {}).get("rows", [])
        by = {(r["recognizer"], r["backend"]): r for r in inference}
        for (recognizer, backend), row in by.items():
            if backend != "onnx" or (recognizer, "torch") not in by:
                continue
            eager = by[(recognizer, "torch")]["batches"].get("1")
            ort = row["batches"].get("1")
            if not eager or not ort:
                continue
            add(f"CPU {results['meta']['threads']} threads: ONNX Runtime α latency at batch 1 ≤ ½ PyTorch eager's ({recognizer})",
                ort["latency_ms"] / eager["latency_ms"], TARGET_ORT_LATENCY, "× eager", higher=False,
                bound=_top_text(by[(recognizer, "torch")].get("profile")),
                note=f"{ort['latency_ms']:.1f} ms against {eager['latency_ms']:.1f} ms")
        predict = results.get("predict") or {}
        if predict.get("backends"):
            best = max(predict["backends"].items(), key=lambda kv: kv[1]["images_per_s"])
            parts = best[1]["ms_per_image"]
            gflops = predict.get("gflops_per_image")
            default_model = predict.get("checkpoint") == "default"
            target = TARGET_PREDICT_DEFAULT_MODEL if default_model else TARGET_PREDICT
            what = "the default model, " if default_model else ""
            compute = ""
            if gflops and parts.get("alpha"):
                compute = (f"; α is {gflops:.1f} GFLOP per image, run at {gflops * 1e3 / parts['alpha']:.0f} GFLOP/s: "
                           f"{target:g} images/s needs {target * gflops:.0f} GFLOP/s from "
                           f"{results['meta']['threads']} threads")
            add(f"CPU: mirrornet predict ≥ {target:g} images/s ({what}{predict['recognizer']} at "
                f"{predict['input']}×{predict['input']}, decode included, drawing off)", best[1]["images_per_s"], target, "images/s",
                bound="per image: " + ", ".join(f"{k} {v:.1f} ms" for k, v in parts.items()) + compute,
                note=f"backend {best[0]}")
    return targets


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _significant(value: float) -> str:
    """Three significant digits, thousands separated (1,470; 88.3; 0.0331)."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def busy_note(meta: dict[str, Any]) -> str:
    """A warning when other jobs already loaded the machine's cores before the run."""
    try:
        load = float(str(meta.get("load_average", "")).split("/")[0])
    except ValueError:
        return ""
    cores = meta.get("cores") or os.cpu_count() or 1
    if load < cores - 0.5:
        return ""
    return (f"- Note: other jobs loaded the machine (load average {load:.1f} on {cores} cores) before the run: "
            "multi-threaded CPU figures suffer most (PyTorch's threads wait on each other while the other jobs hold "
            "the cores); compare figures within this section only, and rerun on an idle machine for absolute speeds")


def _section_start(lines: list[str], section: dict[str, Any], figures: str, title: str) -> bool:
    """Append the title of a section that has ``figures`` or was skipped (and then the reason);
    True when its figures follow."""
    if not (section.get(figures) or section.get("skipped")):
        return False
    lines += [f"### {title}", ""]
    if section.get("skipped"):
        lines += [f"Not measured: {section['skipped']}.", ""]
        return False
    return True


def render_markdown(results: dict[str, Any]) -> str:
    """The RESULTS.md section of a run."""
    lines: list[str] = []
    for part in (_meta_md, _training_md, _data_md, _inference_md, _predict_md, _targets_md):
        part(lines, results)
    return "\n".join(lines)


def _meta_md(lines: list[str], results: dict[str, Any]) -> None:
    """The section's title and the run's date, machine, versions and command."""
    meta = results["meta"]
    lines += [f"## Throughput: `{meta['command']}` ({meta['date']})", ""]
    lines += [
        f"- Date: {meta['date']}",
        f"- Machine: {meta['machine']}; load average before the run {meta['load_average']}",
        f"- Versions: torch {meta['torch']}, onnxruntime {meta['onnxruntime']}, Python {meta['python']}",
        f"- Command: `{meta['command']}` ({meta['wall_s'] / 60:.1f} min wall clock)",
        f"- Device: {meta['device_name']}; CPU threads: {meta['threads']} for inference and predict"
        + (f", {meta['train_threads']} for the training steps" if meta.get("train_threads") else "")
        + ", 1 per data worker",
    ]
    note = busy_note(meta) if meta.get("device") == "cpu" else ""
    lines += ([note] if note else []) + [""]


def _training_md(lines: list[str], results: dict[str, Any]) -> None:
    """The training steps' table, then their FLOPs, ratios, options and profile."""
    training = results.get("training") or {}
    rows = training.get("rows", [])
    if rows:
        lines += ["### Training steps (synthetic tensors, no data pipeline)", "",
                  "Images/s of one optimiser step (median of interleaved rounds; MFU against the device's dense "
                  "peak where known). Every stage kind's step reads back its loss and terms as the Lightning "
                  "module does; `train.alpha_grad_norm_every` diagnostics are off.", ""]
        kinds = [(k, label) for k, label in STAGE_KINDS if any(r["kind"] == k for r in rows)]
        lines.append("| network | input | batch | variant | " + " | ".join(label for _, label in kinds) + " |")
        lines.append("|---|---:|---:|---|" + "---:|" * len(kinds))
        keys = list(dict.fromkeys((r["setup"], r["variant"]) for r in rows))
        for setup, variant in keys:
            sub = {r["kind"]: r for r in rows if r["setup"] == setup and r["variant"] == variant}
            first = next(iter(sub.values()))
            cells = []
            for k, _ in kinds:
                r = sub.get(k)
                if r is None:
                    cells.append("")
                    continue
                mfu = f" ({100 * r['mfu']:.1f} %)" if r.get("mfu") is not None else ""
                cells.append(_fmt(r["images_per_s"]) + mfu)
            lines.append(f"| {setup} | {first['input']} | {first['batch']} | {variant} | " + " | ".join(cells) + " |")
        lines.append("")
        _training_extras_md(lines, training, rows)


def _training_extras_md(lines: list[str], training: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """FLOPs per image, the MirrorNet ÷ baseline ratios, the speed options and the profile."""
    flops = training.get("flops", {})
    if flops:
        lines += ["FLOPs per image of one step (forward + backward, FlopCounterMode):", ""]
        lines.append("| network | " + " | ".join(label for _, label in STAGE_KINDS) + " |")
        lines.append("|---|" + "---:|" * len(STAGE_KINDS))
        for setup, f in flops.items():
            lines.append(f"| {setup} | " + " | ".join(f"{f[k] / 1e9:.2f} G" if f.get(k) else "–" for k, _ in STAGE_KINDS) + " |")
        lines.append("")
    ratios = training.get("ratios", [])
    if ratios:
        lines += ["MirrorNet (labelled bound) ÷ baseline (α alone), per image:", "",
                  "| network | variant | step-time ratio | FLOP ratio (measured) | Table 8 ratio (forward MACs) | step ÷ FLOP ratio |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in ratios:
            lines.append(f"| {r['setup']} | {r['variant']} | {_fmt(r['time_ratio'], 2)} | {_fmt(r['flop_ratio'], 2)} | "
                         f"{_fmt(r['table8_ratio'], 2)} | {_fmt(r['time_over_flops'], 2)} |")
        lines.append("")
    options = [r for r in rows if r["kind"] in (BASELINE_KIND, MIRRORNET_KIND)]
    variants = list(dict.fromkeys(r["variant"] for r in options))
    if len(variants) > 1:
        lines += ["Speed options, α alone / labelled bound, images/s (× fp32):", "",
                  "| network | variant | α alone | × fp32 | labelled bound | × fp32 |", "|---|---|---:|---:|---:|---:|"]
        index = {(r["setup"], r["variant"], r["kind"]): r for r in options}
        for setup in dict.fromkeys(r["setup"] for r in options):
            for variant in variants:
                a = index.get((setup, variant, BASELINE_KIND))
                m = index.get((setup, variant, MIRRORNET_KIND))
                if not a and not m:
                    continue
                fa = index.get((setup, "fp32", BASELINE_KIND))
                fm = index.get((setup, "fp32", MIRRORNET_KIND))
                sa = a["images_per_s"] / fa["images_per_s"] if a and fa else None
                sm = m["images_per_s"] / fm["images_per_s"] if m and fm else None
                lines.append(f"| {setup} | {variant} | {_fmt(a['images_per_s'] if a else None)} | {_fmt(sa, 2)} | "
                             f"{_fmt(m['images_per_s'] if m else None)} | {_fmt(sm, 2)} |")
        lines.append("")
    profiled = next((r for r in rows if r.get("profile")), None)
    if profiled:
        lines += [f"Profile of the labelled-bound step ({profiled['setup']}, {profiled['variant']}): "
                  f"{_top_text(profiled['profile'], 5)}.", ""]


def _data_md(lines: list[str], results: dict[str, Any]) -> None:
    """The data pipeline's table and the workers it needs."""
    data = results.get("data") or {}
    if _section_start(lines, data, "rows", "Data pipeline (real LSPET photos, one worker process, one thread)"):
        parts = list(data["rows"][0]["ms_per_image"])
        lines.append("| input | image backend | images | images/s per worker | " + " | ".join(f"{p} ms" for p in parts) + " |")
        lines.append("|---:|---|---:|---:|" + "---:|" * len(parts))
        for r in data["rows"]:
            lines.append(f"| {r['input']}×{r['input']} | {r.get('image_backend', 'pillow')} | {r['images']} | "
                         f"{_fmt(r['images_per_s'], 0)} | "
                         + " | ".join(f"{r['ms_per_image'][p]:.2f}" for p in parts) + " |")
        lines.append("")
        workers = data.get("workers_needed")
        if workers:
            lines += [f"Workers needed to feed the fastest measured MirrorNet-HRNet step: {workers['workers']} "
                      f"({workers['images_per_s']:.0f} images/s ÷ {workers['per_worker']:.0f} per worker; "
                      f"{workers['cores']} cores on this machine).", ""]


def _inference_md(lines: list[str], results: dict[str, Any]) -> None:
    """α alone per backend and batch."""
    inference = results.get("inference") or {}
    if inference.get("rows"):
        batches = sorted({int(b) for r in inference["rows"] for b in r["batches"]})
        lines += ["### Inference: α alone", "",
                  "Milliseconds per batch / images/s (median); GFLOP: one forward pass per image; best GFLOP/s: "
                  "the fastest batch's arithmetic rate.", "",
                  "| network | input | GFLOP | backend | threads | " + " | ".join(f"batch {b}" for b in batches)
                  + " | best GFLOP/s | export s |", "|---|---:|---:|---|---:|" + "---:|" * len(batches) + "---:|---:|"]
        for r in inference["rows"]:
            cells = []
            for b in batches:
                v = r["batches"].get(str(b))
                cells.append(f"{v['latency_ms']:.1f} / {v['images_per_s']:.1f}" if v else "–")
            rate = max((v["images_per_s"] for v in r["batches"].values()), default=None)
            g = r.get("gflops_per_image")
            lines.append(f"| {r['recognizer']} | {r['input']} | {_fmt(g, 2)} | {r['backend']} | {r.get('threads') or '–'} | "
                         + " | ".join(cells) + f" | {_fmt(g * rate if g and rate else None, 0)} | {_fmt(r.get('export_s'))} |")
        lines.append("")


def _predict_md(lines: list[str], results: dict[str, Any]) -> None:
    """``mirrornet predict`` per backend and as a whole command."""
    predict = results.get("predict") or {}
    if _section_start(lines, predict, "backends", "`mirrornet predict` on real photos (drawing off)"):
        parts = list(next(iter(predict["backends"].values()))["ms_per_image"])
        lines += [f"{predict['images']} LSPET photos, {predict['recognizer']} ({predict.get('checkpoint', 'random weights')}) at {predict['input']}×{predict['input']}, "
                  "one box per photo (the whole photo); the checkpoint loaded and α exported beforehand.", "",
                  "| backend | images/s | " + " | ".join(f"{p} ms" for p in parts) + " |",
                  "|---|---:|" + "---:|" * len(parts)]
        for backend, v in predict["backends"].items():
            lines.append(f"| {backend} | {v['images_per_s']:.2f} | " + " | ".join(f"{v['ms_per_image'][p]:.1f}" for p in parts) + " |")
        cmd = predict.get("command")
        if cmd:
            lines += ["", f"The whole command in a fresh process (`--backend {cmd['backend']}`; Python's start, the imports and the checkpoint load included, the export cached): "
                      f"{cmd['wall_s']:.1f} s for {predict['images']} photos, {cmd['images_per_s']:.2f} images/s."]
        lines.append("")


def _targets_md(lines: list[str], results: dict[str, Any]) -> None:
    """What was not measured and each target met or missed."""
    skipped = [s for key in ("training", "inference") for s in (results.get(key) or {}).get("skipped", [])]
    if skipped:
        lines += ["Not measured:", ""] + [f"- {s['what']}: {s['reason']}" for s in skipped] + [""]
    targets = results.get("targets", [])
    if targets:
        lines += ["### Targets", "", "| target | measured | verdict | what bounds it / notes |", "|---|---:|---|---|"]
        for t in targets:
            value = "–" if t["value"] is None else f"{_significant(t['value'])} {t['unit']}"
            notes = "; ".join(x for x in (t.get("note"), t.get("bound")) if x)
            lines.append(f"| {t['target']} | {value} | {t['verdict']} | {notes} |")
        if results["meta"]["device"] == "cpu":
            lines += ["", "The GPU targets (HRNet step ≥ 1,500 images/s in bf16, MirrorNet ÷ baseline ≤ 1.1 × the FLOP "
                      "ratio, α ≥ 5,000 images/s) are measured by `--device cuda`."]
        lines.append("")
