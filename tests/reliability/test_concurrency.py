"""Threads sharing one model instance get exactly the results of a sequential run.

Core level: every graph of every default model runs ``Model.predict`` on a few fixed,
realistic inputs (a real photo through the manifest's image preprocessing, else seeded
random normals with small dynamic dimensions), first sequentially (the reference), then
from 8 threads at once on one shared ``Model``; every output must be bitwise equal to
the reference (ONNX Runtime on CPU is deterministic for a given input and session).

Task level: ``vision.classify``, ``sound.identify``, ``language.answer`` and
``speech.transcribe`` from 8 threads on their shared default instance equal the
sequential results.

Call counts: the full 8 x 500 where a graph is cheap; otherwise scaled down so one
model's test stays near ``BUDGET_S`` seconds (from the measured single-run time).
``SENSEKIT_SOAK_SCALE`` multiplies the counts. The counts actually run are printed in
the reliability summary.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import summary

from sensekit.core.model import Model

SCALE = float(os.environ.get("SENSEKIT_SOAK_SCALE", "1"))
THREADS = 8
FULL_CALLS = 500  # per thread, for cheap graphs
BUDGET_S = 10.0  # seconds of threaded predictions per model at scale 1
TASK_BUDGET_S = 8.0  # the same per task-level verb
MIN_CALLS = 1  # per thread, however slow the graph
INPUTS = 3  # distinct fixed inputs per graph, cycled by the threads
DEFAULT_MODELS = (
    "efficientnet-lite0",
    "nanodet-m",
    "blazepose",
    "yamnet",
    "silero-vad",
    "whisper-tiny.en",
    "minilm-embed",
    "minilm-qa",
)
PHOTO = "chelsea.png"
# Small sizes for dynamic dimensions (ONNX names or -1) that are not a batch axis.
DYNAMIC = {"steps": 3, "past": 2, "tokens": 16}


# -- fixed inputs built from the model description ------------------------------------------
def _shape(spec_shape: tuple[Any, ...], name: str) -> tuple[int, ...]:
    dims = []
    for i, dim in enumerate(spec_shape):
        if isinstance(dim, int) and dim > 0:
            dims.append(dim)
        elif i == 0 or "batch" in str(dim):
            dims.append(1)
        else:
            dims.append(DYNAMIC.get(str(dim), 4))
    return tuple(dims)


def _image_spec(model: Model, graph: str) -> dict[str, Any] | None:
    spec = model.manifest.preprocess
    spec = spec.get(graph, spec) if isinstance(spec.get(graph), dict) else spec
    return spec if spec.get("kind", "image") == "image" and "size" in spec else None


def _photo_tensor(spec: dict[str, Any], seed: int) -> np.ndarray | None:
    """A real photo (flipped/rolled per seed) through the manifest's preprocessing."""
    from sensekit.samples import media_path
    from sensekit.vision.image_input import load_image, preprocess

    image = np.roll(load_image(media_path(PHOTO)), 37 * seed, axis=1)
    if spec.get("resize") == "rotated_roi":  # second-stage crop: take a plain fit
        spec = dict(spec, resize="scale_fit")
    tensor, _ = preprocess(image, spec)
    return tensor.astype(np.float32)


def graph_inputs(model: Model, graph: str, seed: int) -> dict[str, np.ndarray]:
    """Realistic fixed feeds for one graph (the same for the same seed)."""
    rng = np.random.default_rng(1000 + seed)
    spec = model.manifest.preprocess
    image = _image_spec(model, graph)
    feeds: dict[str, np.ndarray] = {}
    for arg in model.description_of(graph).inputs:
        shape = _shape(arg.shape, arg.name)
        dtype = np.dtype(arg.dtype)
        if image is not None and len(shape) == 4:
            feeds[arg.name] = _photo_tensor(image, seed)
        elif arg.name == spec.get("input") and "chunk" in spec:  # silero-vad: audio chunk
            size = int(spec["chunk"]) + int(spec.get("context", 0))
            feeds[arg.name] = (0.1 * rng.standard_normal((1, size))).astype(dtype)
        elif arg.name == spec.get("state"):
            feeds[arg.name] = np.zeros(spec["state_shape"], dtype)
        elif arg.name == spec.get("rate"):
            feeds[arg.name] = np.array(int(spec["sample_rate"]), dtype)
        elif arg.name == "attention_mask":
            feeds[arg.name] = np.ones(shape, dtype)
        elif arg.name == "token_type_ids":
            feeds[arg.name] = np.zeros(shape, dtype)
        elif dtype.kind in "iu":
            high = 255 if dtype == np.uint8 else 1000
            feeds[arg.name] = rng.integers(1, high, shape).astype(dtype)
        else:
            feeds[arg.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


# -- harness ---------------------------------------------------------------------------------
def calls_per_thread(single_s: float, budget_s: float, graphs: int = 1) -> int:
    """Calls each thread makes so THREADS threads stay near ``budget_s`` (full 500 if cheap)."""
    affordable = int(budget_s / max(single_s * THREADS * graphs, 1e-6))
    return max(MIN_CALLS, min(int(FULL_CALLS * SCALE), int(affordable * SCALE)))


def sequential(run: Callable[[int], Any]) -> tuple[list[Any], float]:
    """Reference results of every input (after a warm-up call) and seconds per call."""
    run(0)  # warm-up: sessions, caches
    start = time.perf_counter()
    results = [run(i) for i in range(INPUTS)]
    return results, (time.perf_counter() - start) / INPUTS


def run_threads(
    calls: int, work: Callable[[int], Any], check: Callable[[int, Any], None]
) -> list[str]:
    """THREADS threads each call ``work(i)`` ``calls`` times; returns their failures."""
    failures: list[str] = []
    barrier = threading.Barrier(THREADS)

    def worker(thread: int) -> None:
        barrier.wait()
        for call in range(calls):
            index = (thread + call) % INPUTS
            try:
                check(index, work(index))
            except Exception as e:
                failures.append(
                    f"thread {thread} call {call} input {index}: {type(e).__name__}: {str(e)[:300]}"
                )
                return

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return failures


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    for key, value in want.items():
        if not np.array_equal(got[key], value):
            diff = np.max(np.abs(got[key].astype(np.float64) - value.astype(np.float64)))
            raise AssertionError(
                f"output {key!r} differs from the sequential run (max abs diff {diff:.3g})"
            )


def check_graph(model: Model, graph: str) -> list[str]:
    """Threads vs sequential on one graph; notes the counts and returns the failures."""
    feeds = [graph_inputs(model, graph, seed) for seed in range(INPUTS)]
    reference, single = sequential(lambda i: model.predict(feeds[i], graph))
    calls = calls_per_thread(single, BUDGET_S, len(model.graphs))
    start = time.perf_counter()
    failures = run_threads(
        calls,
        lambda i: model.predict(feeds[i], graph),
        lambda i, out: _assert_same(out, reference[i]),
    )
    summary.note(
        f"concurrency {model.name}/{graph}: {THREADS} threads x {calls} predict "
        f"(single {single * 1000:.1f} ms) in {time.perf_counter() - start:.1f} s, "
        f"bitwise equal: {'yes' if not failures else 'NO'}"
    )
    return failures


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_shared_model_threads_match_sequential(name):
    model = Model.load(name, progress=False)  # a default model that fails to build fails here
    for graph in model.graphs:
        failures = check_graph(model, graph)
        assert not failures, failures[:3]


# -- task level ------------------------------------------------------------------------------
def _tone_with_noise(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(16000 * 2) / 16000
    return (
        0.3 * np.sin(2 * np.pi * (440 + 220 * seed) * t) + 0.02 * rng.standard_normal(len(t))
    ).astype(np.float32)


def _task_cases(
    verb: str, media: Callable[[str], Path], tts: Callable[..., Path]
) -> tuple[Callable[[Any], Any], list[Any]]:
    if verb == "vision.classify":
        from sensekit import vision

        return vision.classify, [media(n) for n in ("chelsea.png", "coffee.png", "dog.jpg")]
    if verb == "sound.identify":
        from sensekit import sound

        clips = [_tone_with_noise(0), _tone_with_noise(1), media("phone-incoming-call.oga")]
        return (
            lambda a: (
                sound.identify(a, sample_rate=16000)
                if isinstance(a, np.ndarray)
                else sound.identify(a)
            )
        ), clips
    if verb == "language.answer":
        from sensekit import language

        doc = (
            "The Corvell lighthouse was built in 1874 by the engineer Tamsin Hale. It stands "
            "forty metres tall on the northern cape of Aldery Island."
        )
        questions = [
            "Who built the lighthouse?",
            "When was the lighthouse built?",
            "How tall is the lighthouse?",
        ]
        return (lambda q: language.answer(q, doc)), questions
    from sensekit import speech

    clips = [
        tts("the quick brown fox jumps over the lazy dog", "fox"),
        tts("please call me back tomorrow morning", "call_back"),
        media("Front_Center.wav"),
    ]
    return (lambda a: speech.transcribe(a, beam_size=1)), clips


def _comparable(result: Any) -> Any:
    if isinstance(result, list):
        return [_comparable(r) for r in result]
    return result.to_dict() if hasattr(result, "to_dict") else result


@pytest.mark.parametrize(
    "verb", ["vision.classify", "sound.identify", "language.answer", "speech.transcribe"]
)
def test_task_verbs_from_threads_match_sequential(verb, media, tts):
    function, inputs = _task_cases(verb, media, tts)
    reference, single = sequential(lambda i: _comparable(function(inputs[i])))
    calls = calls_per_thread(single, TASK_BUDGET_S)
    start = time.perf_counter()

    def check(index: int, result: Any) -> None:
        if _comparable(result) != reference[index]:
            raise AssertionError(f"{_comparable(result)} != {reference[index]}")

    failures = run_threads(calls, lambda i: function(inputs[i]), check)
    summary.note(
        f"concurrency {verb}: {THREADS} threads x {calls} calls "
        f"(single {single * 1000:.0f} ms) in {time.perf_counter() - start:.1f} s, "
        f"equal: {'yes' if not failures else 'NO'}"
    )
    assert not failures, failures[:3]
