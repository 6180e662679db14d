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


@pytest.mark.parametrize(
    "bad",
    [
        {"threshold": 0.0},
        {"threshold": 1.0},
        {"threshold": "0.5"},
        {"min_speech": -0.1},
        {"min_silence": -1},
        {"speech_pad": -0.01},
        {"neg_threshold_offset": True},
    ],
)
def test_vad_options_reject_bad_values(bad):
    with pytest.raises(ValueError):
        sound.VadOptions(**bad)


def test_options_come_from_the_manifest(vad):
    post = vad.model.manifest.postprocess
    assert vad.options == sound.VadOptions.from_manifest(post)
    assert vad.options.min_speech == post["min_speech"] and vad.options.threshold == 0.5


def test_per_call_overrides_leave_the_shared_options(vad, media):
    samples = load_audio(media("jfk.wav"))
    default = vad.options
    joined = vad.detect(samples, min_silence=0.8)  # bridges the 0.5 s pause at 7.7 s
    assert len(joined) < len(vad.detect(samples)) and vad.options is default
    assert vad.speech_mask(samples, 0.05).sum() > vad.speech_mask(samples, 0.995).sum()


def test_lanes_agree_with_one_pass(vad, media):
    """The lane-batched probabilities (transcription gating) restart the state every 2 s:
    their decisions agree with one sequential pass on nearly every chunk."""
    samples = load_audio(media("jfk.wav"))
    lanes, sequential = vad.lane_probabilities(samples), vad.probabilities(samples)
    assert len(lanes) == len(samples) // 512 and len(sequential) == -(-len(samples) // 512)
    assert np.mean((lanes > 0.5) == (sequential[: len(lanes)] > 0.5)) > 0.95
