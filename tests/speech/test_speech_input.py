"""Audio input for speech: streamed file blocks, resampling across blocks, bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from sensekit.accelerate import dsp
from sensekit.core.errors import InvalidInput
from sensekit.speech.audio_input import audio_blocks


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_blocks_join_like_one_resample(tmp_path, rng, rate) -> None:
    audio = (0.3 * rng.standard_normal(int(rate * 65.3))).astype(np.float32)
    path = tmp_path / "x.wav"
    sf.write(path, audio, rate, subtype="FLOAT")
    blocks = list(audio_blocks(path))
    assert len(blocks) == 3 and all(len(b) <= 30 * 16000 for b in blocks)
    joined, whole = np.concatenate(blocks), dsp.resample(audio, rate, 16000)
    assert abs(len(joined) - len(whole)) <= 1
    n = min(len(joined), len(whole))
    assert np.max(np.abs(joined[:n] - whole[:n])) < 1e-4


def test_mp3_goes_through_ffmpeg(tmp_path, media) -> None:
    mp3 = tmp_path / "jfk.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(media("jfk.wav")), str(mp3)], check=True)
    audio = np.concatenate(list(audio_blocks(mp3)))
    assert abs(len(audio) / 16000 - 11.0) < 0.1


def test_bad_files(tmp_path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "bad.flac").write_bytes(b"fLaC" + bytes(100))
    for name in ("empty.wav", "bad.flac", "missing.ogg"):
        with pytest.raises(InvalidInput):
            list(audio_blocks(tmp_path / name))


def test_ten_minutes_of_silence_in_bounded_memory(tmp_path) -> None:
    """10 min at 48 kHz (the float32 array alone would be 115 MB) peaks far below that."""
    path = tmp_path / "silence.wav"
    with sf.SoundFile(path, "w", 48000, 1, "PCM_16") as handle:
        for _ in range(20):
            handle.write(np.zeros(48000 * 30, np.int16))
    code = textwrap.dedent(f"""
        import tracemalloc, warnings, time
        warnings.simplefilter("ignore")
        from sensekit.speech import Transcriber
        t = Transcriber.from_model("whisper-tiny.en")
        tracemalloc.start()
        start = time.perf_counter()
        result = t.transcribe({str(path)!r})
        print(repr(result.text), result.duration, tracemalloc.get_traced_memory()[1] / 2**20,
              time.perf_counter() - start)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    text, duration, peak_mb, seconds = out.stdout.split()
    assert text == "''" and float(duration) == pytest.approx(600.0)
    assert float(peak_mb) < 40, f"peak traced memory {peak_mb} MB"
    assert float(seconds) < 120  # generous: the CPU is shared
