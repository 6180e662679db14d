"""Long inputs and long runs stay in bounded memory, with correct results.

Long inputs: a 1-hour 16 kHz wav (silence with a spoken sentence at a known time) is
written in blocks, never held whole. ``sound.identify``, ``sound.classify`` and
``speech.transcribe`` run on it in a child process that reports its peak RSS
(``VmHWM``), so the figure is this analysis alone and not the test runner's.

Long runs (soak): 10,000 ``Model.predict`` on silero-vad and thousands of task-level
calls on real media; RSS after a warm-up must not grow by more than ``SOAK_GROWTH_MB``.
``SENSEKIT_SOAK_SCALE`` multiplies the soak counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest
import summary

from sensekit.core.audio import load_audio

RATE = 16_000
HOUR_S = 3600.0
SPEECH_AT_S = 1234.5  # where the sentence starts in the long file
SENTENCE = "the quick brown fox jumps over the lazy dog"
PEAK_BOUND_MB = 600.0  # whole-process peak RSS (models, runtime and all)
CHILD_TIMEOUT_S = 600
SCALE = float(os.environ.get("SENSEKIT_SOAK_SCALE", "1"))
SOAK_GROWTH_MB = 50.0  # RSS growth allowed after the warm-up
SOAK_TASK_BUDGET_S = 15.0  # a slow task-level soak is cut to about this many seconds

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np

    def peak_mb():
        # VmHWM: this process's own peak (ru_maxrss would include the forked parent's)
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    verb, path = sys.argv[1], sys.argv[2]
    if verb == "transcribe":
        from sensekit import speech
        run = lambda audio, **kw: speech.transcribe(audio, beam_size=1, **kw)
    else:
        from sensekit import sound
        run = getattr(sound, verb)
    run(np.zeros(16000 * 3, np.float32), sample_rate=16000)  # load the model(s)
    loaded = peak_mb()
    start = time.perf_counter()
    result = run(path)
    seconds = time.perf_counter() - start
    as_json = result.to_dict() if hasattr(result, "to_dict") else [r.to_dict() for r in result]
    print(json.dumps({"result": as_json, "peak_mb": peak_mb(), "loaded_mb": loaded,
                      "seconds": seconds}))
""")


def write_long_wav(path: Path, seconds: float, inserts: dict[float, np.ndarray]) -> Path:
    """A 16-bit mono wav of silence with ``inserts`` (start second -> float samples),
    written one minute at a time."""
    block = RATE * 60
    total = int(seconds * RATE)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for first in range(0, total, block):
            count = min(block, total - first)
            chunk = np.zeros(count, np.float32)
            for at, samples in inserts.items():
                lo, hi = int(at * RATE), int(at * RATE) + len(samples)
                a, b = max(lo, first), min(hi, first + count)
                if a < b:
                    chunk[a - first : b - first] = samples[a - lo : b - lo]
            out.writeframes((np.clip(chunk, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def sentence(tts):
    return load_audio(tts(SENTENCE, "fox"), target_rate=RATE)


@pytest.fixture(scope="module")
def hour_wav(tmp_path_factory, sentence):
    path = tmp_path_factory.mktemp("long") / "hour_with_speech.wav"
    return write_long_wav(path, HOUR_S, {SPEECH_AT_S: sentence})


def run_child(verb: str, path: Path) -> dict:
    process = subprocess.run(
        [sys.executable, "-c", CHILD, verb, str(path)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    report = json.loads(process.stdout.strip().splitlines()[-1])
    summary.note(
        f"long input {verb} 1 h wav: peak RSS {report['peak_mb']:.0f} MB (after "
        f"model load {report['loaded_mb']:.0f} MB), {report['seconds']:.1f} s"
    )
    return report


def test_identify_hour_file_in_bounded_memory(hour_wav, sentence):
    report = run_child("identify", hour_wav)
    speech = [e for e in report["result"] if e["label"] == "Speech"]
    end = SPEECH_AT_S + len(sentence) / RATE
    assert speech, report["result"][:20]
    assert all(e["start"] >= SPEECH_AT_S - 1.0 and e["end"] <= end + 1.0 for e in speech), speech
    assert max(e["end"] for e in report["result"]) <= HOUR_S + 1e-6
    assert report["peak_mb"] < PEAK_BOUND_MB


def test_classify_hour_file_in_bounded_memory(hour_wav):
    report = run_child("classify", hour_wav)
    assert report["result"] and report["result"][0]["label"] == "Silence", report["result"]
    assert report["peak_mb"] < PEAK_BOUND_MB


def test_transcribe_hour_file_in_bounded_memory(hour_wav, sentence):
    report = run_child("transcribe", hour_wav)
    segments = report["result"]["segments"]
    words = report["result"]["text"].lower()
    assert "quick" in words and "lazy dog" in words, words
    assert all(
        SPEECH_AT_S - 2.0 <= s["start"] <= SPEECH_AT_S + len(sentence) / RATE + 1.0
        for s in segments
    ), segments
    assert report["peak_mb"] < PEAK_BOUND_MB


def test_long_file_path_equals_whole_clip_analysis(monkeypatch, tmp_path, media, sentence):
    """The block-by-block path (forced on a short file) gives the whole-clip results,
    also for a 44.1 kHz stereo file that the streaming resampler has to convert."""
    import importlib

    import soundfile

    identify_module = importlib.import_module("sensekit.sound.identify")
    from sensekit.sound.identify import SoundClassifier

    alarm = load_audio(media("alarm-clock-elapsed.oga"), target_rate=44100)
    speech = load_audio(media("jfk.wav"), target_rate=44100)
    mono = np.concatenate([np.zeros(44100), speech, np.zeros(30000), alarm, np.zeros(5000)])
    path = tmp_path / "mixed.wav"
    soundfile.write(path, np.stack([mono, 0.5 * mono], axis=1), 44100, subtype="PCM_16")
    classifier = SoundClassifier.from_model("yamnet")
    whole_events, whole_top = classifier.identify(path), classifier.classify(path, top_k=5)
    monkeypatch.setattr(identify_module, "LONG_FILE_S", 2.0)
    monkeypatch.setattr(identify_module, "FILE_BLOCK_S", 3.3)
    streamed = []
    analyzer = SoundClassifier._analyzer
    monkeypatch.setattr(
        SoundClassifier,
        "_analyzer",
        lambda self, options: streamed.append(1) or analyzer(self, options),
    )
    block_events, block_top = classifier.identify(path), classifier.classify(path, top_k=5)
    assert len(streamed) == 2 and {e.label for e in whole_events} >= {"Speech"}
    assert [(e.label, e.start, e.end) for e in block_events] == [
        (e.label, e.start, e.end) for e in whole_events
    ]
    np.testing.assert_allclose(
        [e.score for e in block_events], [e.score for e in whole_events], atol=1e-6
    )
    assert [c.label for c in block_top] == [c.label for c in whole_top]
    np.testing.assert_allclose(
        [c.score for c in block_top], [c.score for c in whole_top], atol=1e-5
    )


# -- soak: memory stays flat over many predictions ---------------------------------------------
def soak(name: str, call, count: int, warmup: int) -> float:
    """Runs ``call(i)`` ``warmup`` then ``count`` times; returns RSS growth in MB after the
    warm-up (the largest of samples taken every tenth of the run) and notes it."""
    import time

    import psutil

    process = psutil.Process()
    for i in range(warmup):
        call(i)
    base = process.memory_info().rss
    growth, start = 0.0, time.perf_counter()
    step = max(1, count // 10)
    for i in range(count):
        call(i)
        if (i + 1) % step == 0:
            growth = max(growth, (process.memory_info().rss - base) / 2**20)
    summary.note(
        f"soak {name}: {count} calls after {warmup} warm-up in "
        f"{time.perf_counter() - start:.1f} s, RSS growth {growth:+.1f} MB "
        f"(base {base / 2**20:.0f} MB)"
    )
    return growth


def test_silero_vad_predict_soak_memory_is_flat():
    from sensekit.core.model import Model

    model = Model.load("silero-vad", progress=False)
    spec = model.manifest.preprocess
    rng = np.random.default_rng(7)
    size = int(spec["chunk"]) + int(spec["context"])
    audio = (0.1 * rng.standard_normal((64, 1, size))).astype(np.float32)
    state = {"value": np.zeros(spec["state_shape"], np.float32)}
    rate = np.array(int(spec["sample_rate"]), np.int64)

    def call(i: int) -> None:  # carries the recurrent state, as streaming VAD does
        out = model.predict(
            {spec["input"]: audio[i % 64], spec["state"]: state["value"], spec["rate"]: rate}
        )
        state["value"] = out["stateN"]

    assert soak("silero-vad Model.predict", call, int(10_000 * SCALE), 1000) < SOAK_GROWTH_MB


def _task_count(call, wanted: int) -> int:
    """``wanted`` calls (scaled), fewer if they would take over SOAK_TASK_BUDGET_S."""
    import time

    start = time.perf_counter()
    for i in range(5):
        call(i)
    single = (time.perf_counter() - start) / 5
    return max(100, int(min(wanted, SOAK_TASK_BUDGET_S / single) * SCALE))


def test_task_level_soak_memory_is_flat(media):
    from sensekit import sound, vision

    photos = [media("chelsea.png"), media("coffee.png")]
    clip = load_audio(media("phone-incoming-call.oga"), target_rate=RATE)[:RATE]

    def classify(i: int) -> None:
        assert vision.classify(photos[i % 2], top_k=1)[0].label

    def identify(i: int) -> None:
        sound.identify(clip, sample_rate=RATE)

    growth = {
        "vision.classify": soak(
            "vision.classify (real photos)", classify, _task_count(classify, 2000), 50
        ),
        "sound.identify": soak(
            "sound.identify (1 s real clip)", identify, _task_count(identify, 2000), 50
        ),
    }
    assert all(g < SOAK_GROWTH_MB for g in growth.values()), growth
