"""Size, CPU latency and accuracy of every compression method on the zoo's default models.

Run: ``python bench/compress.py [--models yamnet ...] [--variants fp16 pal-6bit-pc ...]``.

Accuracy is measured on real media through the domain APIs (bench/compress_suites.py):
image models on 108 deterministic views (crops, flips, gray, dark, rotated) of the nine
sample photos; YAMNet per 0.96 s window (75 % overlap) of the twelve sample clips; Silero
VAD per 32 ms chunk of the same clips; Whisper greedy transcripts of the five voice clips
(headline: WER against the shipped model's transcripts; also WER of jfk against its
text); MiniLM-QA F1 on the QA dev split; MiniLM-embed cosine to the fp32 embeddings and
question->passage retrieval.
int8-static calibrates on *other* data (random crops, shifted/attenuated clips, training
split text). The baseline row ("shipped") is the package as its recipe builds it: fp32
for most models, already int8 for whisper (dynamic int8 MatMuls), minilm-qa and YAMNet.
Latency is the main graph's median, interleaved with the shipped graph in the
same loop (``speed`` = shipped ms / variant ms), on whatever else the machine runs: the load
average is printed. "goal" marks >= 2x smaller on disk with < 1 point loss of the
headline metric. "mixed" is float16 plus 8-bit for the least sensitive layers (ranked
on the calibration data) to 2.5x, or a suite's own per-graph targets. Models not built yet or whose domain does not import are skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sensekit.accelerate import cpu
from sensekit.core import registry
from sensekit.core.errors import SensekitError
from sensekit.core.model import Model
from sensekit.tools.compress import compress

DEFAULT_MODELS = [
    "efficientnet-lite0",
    "yamnet",
    "silero-vad",
    "whisper-tiny.en",
    "minilm-embed",
    "minilm-qa",
    "nanodet-m",
    "blazepose",
]
SENSITIVE = ["first", "last", "depthwise"]
VARIANTS = {
    "fp16": ("fp16", {}),
    "fp16-w": ("fp16", {"weights_only": True}),
    "int8-dyn": ("int8-dynamic", {}),
    "int8-dyn-pc": ("int8-dynamic", {"per_channel": True}),
    "int8-static": ("int8-static", {}),
    "int8-st-pct": ("int8-static", {"calibrate": "percentile"}),
    "int8-st-u8": ("int8-static", {"weight_type": "uint8"}),
    "int8-st-x": ("int8-static", {"exclude": SENSITIVE}),
    "pal-4bit": ("palettize", {"nbits": 4}),
    "pal-4bit-pc": ("palettize", {"nbits": 4, "granularity": "per_channel"}),
    "pal-6bit": ("palettize", {"nbits": 6}),
    "pal-6bit-pc": ("palettize", {"nbits": 6, "granularity": "per_channel"}),
    "pal-8bit": ("palettize", {"nbits": 8}),
    "lin-6bit": ("palettize", {"nbits": 6, "clustering": "uniform"}),
    "lin-8bit": ("palettize", {"nbits": 8, "clustering": "uniform"}),
    "mixed": ("mixed", {}),
    "mixed-3": ("mixed", {"target_ratio": 3.0}),
    "prune-50": ("prune", {"sparsity": 0.5}),
    "prune-50-x": ("prune", {"sparsity": 0.5, "exclude": SENSITIVE}),
}
HEADER = (
    f"{'model':<18} {'variant':<12} {'MB':>6} {'zipMB':>6} {'smaller':>7} {'ms':>8} "
    f"{'speed':>6}  {'metric':<26} {'loss':>6} goal  other"
)


def _headline(scores: dict[str, float]) -> tuple[str, float]:
    name = next(iter(scores))
    return name, scores[name]


def _loss(name: str, value: float, reference: float) -> float:
    return value - reference if "WER" in name else reference - value


def _format(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in list(scores.items())[1:])


def _row(
    name: str,
    variant: str,
    sizes: tuple[int, int, int],
    ms: float,
    speed: float,
    scores: dict[str, float],
    reference: dict[str, float],
) -> str:
    metric, value = _headline(scores)
    loss = _loss(metric, value, reference[metric])
    smaller = sizes[2] / max(sizes[0], 1)
    goal = "yes" if smaller >= 2 and loss < 1 else ""
    return (
        f"{name:<18} {variant:<12} {sizes[0] / 1e6:>6.2f} {sizes[1] / 1e6:>6.2f} "
        f"{smaller:>6.2f}x {ms:>8.2f} {speed:>5.2f}x  {metric + f' {value:.2f}':<26} "
        f"{loss:>6.2f} {goal:<4}  {_format(scores)}"
    )


def _repeats(model: Model, feeds: dict[str, np.ndarray], budget_s: float) -> int:
    key = model._graph_key(None)
    model.predict(feeds, graph=key)
    start = time.perf_counter()
    model.predict(feeds, graph=key)
    return int(np.clip(budget_s / 2 / max(time.perf_counter() - start, 1e-4), 5, 40))


def bench_model(name: str, variants: list[str], workdir: Path, budget_s: float) -> list[str]:
    from compress_suites import SUITES

    model = Model.load(name)
    try:
        suite = SUITES[model.manifest.task](model)
        reference = suite.evaluate(model.package.root)
    except ImportError as e:
        return [f"{name:<18} skipped: domain not importable ({e})"]
    except (SensekitError, ValueError, TypeError, KeyError) as e:
        return [f"{name:<18} skipped: evaluation failed ({type(e).__name__}: {e})"]
    ref_scores = suite.score(reference, reference)
    repeats = _repeats(model, suite.sample_inputs[0], budget_s)
    rows, base = [], None
    for label in variants:
        method, params = VARIANTS[label]
        if label == "mixed" and suite.mixed_ratio is not None:
            params = dict(params, target_ratio=suite.mixed_ratio)
        target = workdir / f"{name}-{label}.skmodel"
        try:
            report = compress(
                model,
                method,
                target,
                sample_inputs=suite.sample_inputs,
                calibration=suite.calibration,
                graph_inputs=suite.graph_inputs,
                fixed_inputs=suite.fixed_inputs,
                repeats=repeats,
                **params,
            )
            scores = suite.score(suite.evaluate(report.path), reference)
        except (SensekitError, ValueError, RuntimeError) as e:
            rows.append(f"{name:<18} {label:<12} FAILED: {str(e).splitlines()[0][:100]}")
            print(rows[-1], flush=True)
            continue
        finally:
            shutil.rmtree(target, ignore_errors=True)
        if base is None:
            base = (report.size_before, report.zipped_before, report.latency_before_ms)
            rows.append(
                _row(
                    name,
                    "shipped",
                    (base[0], base[1], base[0]),
                    base[2],
                    1.0,
                    ref_scores,
                    ref_scores,
                )
                + f"  [{suite.data}]"
            )
            print(rows[-1], flush=True)
        sizes = (report.size_after, report.zipped_after, report.size_before)
        rows.append(
            _row(name, label, sizes, report.latency_after_ms, report.speedup, scores, ref_scores)
        )
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--time-budget",
        type=float,
        default=4.0,
        help="seconds of timed runs per variant (sets the repeats)",
    )
    args = parser.parse_args(argv)
    print(cpu.describe())  # every figure says which CPU it came from
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization's chatter
    print(f"CPU: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    print(HEADER, flush=True)
    table = [HEADER]
    with tempfile.TemporaryDirectory() as work:
        for name in args.models:
            if name not in registry.recipes() or not registry.is_built(name):
                table.append(f"{name:<18} skipped (not built: sensekit models build {name})")
                print(table[-1], flush=True)
                continue
            table += bench_model(name, args.variants, Path(work), args.time_budget)
            table.append(f"{'':<18} (load average {os.getloadavg()[0]:.2f})")
            print(table[-1], flush=True)
    print("\n" + "\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
