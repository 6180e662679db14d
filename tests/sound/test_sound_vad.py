"""sound.speech_activity (Silero VAD) on real speech."""

from __future__ import annotations

import numpy as np
import pytest
from sound_media import RATE

from sensekit import sound
from sensekit.core.audio import load_audio
from sensekit.core.errors import InvalidInput

# silero_vad.get_speech_timestamps(jfk, return_seconds=True) with silero-vad 6.2.3
JFK_SILERO = [(0.3, 2.3), (3.3, 4.4), (5.4, 7.7), (8.2, 10.6)]


def test_jfk_matches_silero_reference(media):
    ranges = sound.speech_activity(media("jfk.wav"))
    assert len(ranges) == len(JFK_SILERO)
    for got, (start, end) in zip(ranges, JFK_SILERO):
        assert abs(got.start - start) <= 0.06 and abs(got.end - end) <= 0.06


def test_float32_16k_array_without_rate(speech_in_silence):
    audio, start, end = speech_in_silence
    ranges = sound.speech_activity(audio)
    assert ranges and abs(ranges[0].start - start) < 0.3 and abs(ranges[-1].end - end) < 0.3


def test_silence_and_noise_have_no_speech():
    assert sound.speech_activity(np.zeros(3 * RATE, np.float32)) == []


def test_probabilities_equal_silero_wrapper(vad, media):
    import silero_vad as silero
    import torch

    samples = load_audio(media("Front_Center.wav"))
    model = silero.load_silero_vad(onnx=True)
    reference = [
        float(model(torch.from_numpy(samples[i : i + 512]), RATE))
        for i in range(0, len(samples) - 511, 512)
    ]
    ours = vad.probabilities(samples)[: len(reference)]
    assert np.max(np.abs(ours - np.array(reference))) < 1e-5


def test_bad_options(vad):
    with pytest.raises(InvalidInput):
        vad.detect(np.zeros(RATE, np.float32), threshold=1.5)
    with pytest.raises(InvalidInput):
        vad.detect(np.zeros(0, np.float32))
