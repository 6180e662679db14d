"""sound.identify / sound.classify: options, event merging, and YAMNet on real clips."""

from __future__ import annotations

import numpy as np
import pytest
from sound_media import RATE, pink_noise, tone

from sensekit import sound
from sensekit.accelerate import dsp, nn
from sensekit.core.audio import load_audio
from sensekit.core.errors import InvalidInput
from sensekit.sound.events import EventMerger, merge_events, window_votes
from sensekit.sound.identify import SoundOptions


# -- options and pure helpers ---------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        {"window": 0},
        {"overlap": 1.0},
        {"overlap": -0.1},
        {"top_k": 0},
        {"score_threshold": 1.5},
        {"max_gap": -1},
        {"allow": ["Speech"], "deny": ["speech"]},
    ],
)
def test_options_reject_bad_values(bad):
    with pytest.raises(ValueError):
        SoundOptions(**bad)


def test_quantize_matches_onnx_rounding():
    x = np.array([-10.0, -0.024, 0.024, 0.0719, 1.0, 10.0], np.float32)
    q = nn.quantize(x, 0.047937885, 144)
    assert q.dtype == np.uint8 and q[0] == 0 and q[-1] == 255
    back = nn.dequantize(q, 0.047937885, 144)
    assert np.all(np.abs(back[1:-1] - x[1:-1]) <= 0.024)


def test_pad_for_windows_covers_the_tail():
    assert len(dsp.pad_for_windows(np.ones(100, np.float32), 15600, 7680)) == 15600
    assert len(dsp.pad_for_windows(np.ones(15601, np.float32), 15600, 7680)) == 15600 + 7680
    assert len(dsp.pad_for_windows(np.ones(15600 + 7680, np.float32), 15600, 7680)) == 23280


def test_window_votes_top_k_and_threshold():
    scores = np.array([[0.9, 0.5, 0.05], [0.2, 0.05, 0.6]], np.float32)
    votes = window_votes(scores, 2, 0.1)
    assert sorted(votes[0].tolist()) == [0, 1] and votes[1].tolist() in ([2, 0], [0, 2])
    masked = window_votes(scores, 2, 0.1, mask=np.array([False, True, True]))
    assert sorted(masked[0].tolist()) == [1] and masked[1].tolist() == [2]


YAMNET_FRAMES = {"frame_s": 0.025, "frame_hop_s": 0.010}  # its STFT: 25 ms frames, 10 ms hop


def test_events_join_consecutive_windows_and_bridge_short_gaps():
    starts = np.arange(8) * 0.48
    scores = np.zeros((8, 2), np.float32)
    scores[[0, 1, 2, 5, 6], 0] = [0.5, 0.9, 0.6, 0.7, 0.7]  # gap of 2 windows at hop 0.48
    scores[7, 1] = 0.8
    votes = window_votes(scores, 1, 0.1)
    energy = np.zeros(500, np.float32)  # flat: no trimming
    clip = {"labels": ["a", "b"], "window_s": 0.96, "hop_s": 0.48, "duration": 4.3, **YAMNET_FRAMES}
    events = merge_events(starts, scores, votes, max_gap=0.5, energy_db=energy, **clip)
    assert [(e.label, e.start, e.end) for e in events] == [("a", 0.0, 3.84), ("b", 3.36, 4.3)]
    assert events[0].score == pytest.approx(0.9)
    split = merge_events(starts, scores, votes, max_gap=0.0, energy_db=energy, **clip)
    assert [(e.start, e.end) for e in split if e.label == "a"] == [(0.0, 1.92), (2.4, 3.84)]


def test_event_ends_are_trimmed_to_the_loud_frames():
    merger = EventMerger(["x"], window_s=0.96, hop_s=0.48, max_gap=0.5, **YAMNET_FRAMES)
    energy = np.full(300, -100.0, np.float32)
    energy[120:170] = -20.0  # loud from 1.2 s to 1.7 s (+ one 25 ms frame)
    merger.add_energy(0, energy)
    scores = np.ones((5, 1), np.float32)
    merger.push(np.arange(5) * 0.48, scores, [np.array([0])] * 5)
    (event,) = merger.flush(3.0)
    assert (event.start, event.end) == (1.2, 1.715)


# -- the real model on real clips -------------------------------------------------------
def _top_labels(categories, k=3):
    return [c.label for c in categories[:k]]


def test_speech_clip_is_speech(yamnet, media):
    top = yamnet.classify(media("Front_Center.wav"))
    assert top[0].label == "Speech" and top[0].score > 0.8


def test_phone_ringing(yamnet, media):
    labels = _top_labels(yamnet.classify(media("phone-incoming-call.oga")))
    assert {"Telephone bell ringing", "Telephone", "Ringtone"} & set(labels)


def test_camera_shutter(yamnet, media):
    labels = _top_labels(yamnet.classify(media("camera-shutter.oga")), 4)
    assert {"Camera", "Single-lens reflex camera", "Clicking", "Mechanisms"} & set(labels)


def test_silence(yamnet):
    (event,) = yamnet.identify(np.zeros(3 * RATE, np.float32), RATE)
    assert event.label == "Silence" and event.start == 0.0 and event.end == 3.0


def test_pink_noise(yamnet):
    labels = _top_labels(yamnet.classify(pink_noise(4.0), RATE), 2)
    assert {"Pink noise", "Noise", "White noise", "Static"} & set(labels)


def test_speech_event_has_true_bounds(speech_in_silence):
    audio, start, end = speech_in_silence
    speech = [e for e in sound.identify(audio, sample_rate=RATE) if e.label == "Speech"]
    assert len(speech) == 1, speech
    assert abs(speech[0].start - start) < 0.5 and abs(speech[0].end - end) < 0.5
    assert speech[0].score > 0.5


def test_batched_patches_equal_one_at_a_time(yamnet, media):
    samples = load_audio(media("jfk.wav"))
    layout = yamnet.layout(yamnet.options)
    batch, _, _ = yamnet._preprocess(samples, layout)
    assert len(batch) > 10 and batch.dtype == np.uint8
    together = yamnet._forward(batch)
    alone = np.concatenate([yamnet._forward(batch[i : i + 1]) for i in range(len(batch))])
    assert np.array_equal(together, alone)


def test_quantization_comes_from_the_manifest(yamnet):
    pre, post = yamnet.model.manifest.preprocess, yamnet.model.manifest.postprocess
    assert pre["quantization"]["zero_point"] == 144
    assert post["quantization"]["scale"] == pytest.approx(0.7565417, rel=1e-6)
    assert yamnet.model.manifest.conversion["max_abs_diff"] == 0.0


def test_longer_windows_average_patches(yamnet, media):
    starts, scores = yamnet.window_scores(media("jfk.wav"), window=2.0, overlap=0.25)
    assert np.allclose(np.diff(starts), 1.5) and scores.shape[1] == 521
    assert scores.mean(axis=0).argmax() == 0  # Speech
    with pytest.raises(InvalidInput):
        yamnet.window_scores(media("jfk.wav"), window=0.5)


def test_allow_and_deny(yamnet, media):
    events = yamnet.identify(media("jfk.wav"), deny=("Speech",))
    assert events and all(e.label != "Speech" for e in events)
    # The ringtone's top-4 is Telephone bell ringing, Telephone, Alarm, Ringtone: the allowed
    # labels are really there, the top one is not allowed, and Music is not heard at all.
    ringing = media("phone-incoming-call.oga")
    scores = {c.label: c.score for c in yamnet.classify(ringing, top_k=5)}
    only = yamnet.classify(ringing, allow=("Telephone", "Alarm", "Music"), top_k=5)
    assert [c.label for c in only] == ["Telephone", "Alarm"], (only, scores)
    assert [c.score for c in only] == [scores["Telephone"], scores["Alarm"]]
    assert max(scores, key=scores.get) not in {"Telephone", "Alarm"}


# -- inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_any_sample_rate(yamnet, media, rate):
    clip = load_audio(media("Front_Center.wav"), target_rate=rate)
    assert yamnet.classify(clip, rate)[0].label == "Speech"


def test_stereo_int16_and_bytes(yamnet, media):
    path = media("Front_Center.wav")
    mono = load_audio(path)
    stereo = (np.stack([mono, mono], axis=1) * 32767).astype(np.int16)
    assert yamnet.classify(stereo, RATE)[0].label == "Speech"
    assert yamnet.classify(path.read_bytes())[0].label == "Speech"


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(0, np.float32),
        np.array([0.1, np.nan], np.float32),
        np.array([np.inf] * 100, np.float32),
        np.array(["a", "b"]),
        np.zeros((2, 2, 2), np.float32),
    ],
)
def test_bad_arrays(yamnet, bad):
    with pytest.raises(InvalidInput):
        yamnet.identify(bad, RATE)


def test_bad_sources(yamnet, tmp_path):
    corrupt = tmp_path / "bad.wav"
    corrupt.write_bytes(b"RIFF not really a wav")
    for source in (tmp_path / "missing.wav", corrupt, b"", 42):
        with pytest.raises(InvalidInput):
            yamnet.identify(source)
    with pytest.raises(InvalidInput):
        yamnet.identify(tone(440, 1.0))  # an array needs its sample_rate
    with pytest.raises(InvalidInput):
        yamnet.identify(tone(440, 1.0), 10)
