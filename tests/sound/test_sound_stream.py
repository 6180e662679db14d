"""sound.Analyzer.stream: re-blocking, resampling and parity with identify."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from sound_media import RATE

from sensekit.accelerate import dsp
from sensekit.core.errors import InvalidInput
from sensekit.sound import Analyzer, StreamResampler


def _sorted(events):
    return sorted(events, key=lambda e: (e.start, -e.score))


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
def test_stream_resampler_equals_offline(rate):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal(rate + 123).astype(np.float32)
    resampler = StreamResampler(rate, RATE)
    cuts = np.cumsum(rng.integers(1, 2000, 200))
    parts = [resampler.push(p) for p in np.split(x, cuts[cuts < len(x)])]
    streamed = np.concatenate([*parts, resampler.flush()])
    offline = dsp.resample(x, rate, RATE)
    assert streamed.shape == offline.shape
    assert np.max(np.abs(streamed - offline)) < 1e-6


def test_one_sample_chunks_equal_identify(yamnet, media):
    samples, rate = sf.read(str(media("Front_Center.wav")), dtype="float32")
    streamed = list(
        Analyzer(yamnet).stream((samples[i : i + 1] for i in range(len(samples))), rate)
    )
    offline = yamnet.identify(samples, rate)
    assert _sorted(streamed) == offline and offline[0].label == "Speech"


def test_44k_stereo_int16_chunks_equal_identify(yamnet, media, speech_in_silence):
    audio16, _, _ = speech_in_silence
    audio = dsp.resample(audio16, RATE, 44100)
    stereo = (np.stack([audio, audio], axis=1) * 32000).astype(np.int16)
    chunks = np.array_split(stereo, 333)
    streamed = list(Analyzer(yamnet).stream(chunks, 44100))
    assert _sorted(streamed) == yamnet.identify(stereo, 44100)
    assert any(e.label == "Speech" for e in streamed)


def test_events_arrive_before_the_stream_ends(yamnet, speech_in_silence):
    audio, _, end = speech_in_silence
    chunks = np.array_split(audio, 100)
    fed = {"n": 0}

    def source():
        for chunk in chunks:
            fed["n"] += len(chunk)
            yield chunk

    for event in Analyzer(yamnet).stream(source(), RATE):
        if event.label == "Speech":
            assert fed["n"] < len(audio)  # decided while audio was still arriving
            assert fed["n"] / RATE < end + 3.0  # window + gap + hop of latency
            break
    else:
        pytest.fail("no Speech event")


def test_stream_rejects_bad_chunks(yamnet):
    analyzer = Analyzer(yamnet)
    with pytest.raises(InvalidInput):
        list(analyzer.stream([np.zeros(100, np.float32), np.array([np.nan], np.float32)], RATE))
    with pytest.raises(InvalidInput):
        list(analyzer.stream([np.array(["x"])], RATE))
    with pytest.raises(InvalidInput):
        list(analyzer.stream([], RATE))
    with pytest.raises(InvalidInput):
        list(analyzer.stream([np.zeros(10, np.float32)], 0))
