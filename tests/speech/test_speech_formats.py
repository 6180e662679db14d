"""Output formats and small pure helpers of the speech domain (no model needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.core.types import Segment, Transcript
from sensekit.speech.formats import format_transcript, to_srt, to_text, to_vtt, write_transcript
from sensekit.speech.metrics import word_error_rate
from sensekit.speech.whisper.decode import compression_ratio, cut_repetition, sample_rows
from sensekit.speech.whisper.windows import window_mel

TRANSCRIPT = Transcript(
    "Hello there. General --> Kenobi!",
    "en",
    1.0,
    (
        Segment(0.0, 1.5, " Hello there."),
        Segment(3661.25, 3662.0, " General --> Kenobi!"),
        Segment(4.0, 4.5, "  "),
    ),
    3662.0,
)


def test_srt_numbers_cues_and_uses_commas() -> None:
    srt = to_srt(TRANSCRIPT)
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n")
    assert "01:01:01,250 --> 01:01:02,000\nGeneral -> Kenobi!\n" in srt
    assert srt.count("-->") == 2  # the empty segment is dropped, the arrow in text escaped


def test_vtt_has_header_and_dots() -> None:
    vtt = to_vtt(TRANSCRIPT)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")


def test_text_json_and_writer(tmp_path) -> None:
    assert to_text(TRANSCRIPT) == "Hello there.\nGeneral --> Kenobi!\n"
    data = json.loads(format_transcript(TRANSCRIPT, "json"))
    assert data["segments"][1]["start"] == 3661.25 and data["language"] == "en"
    path = write_transcript(TRANSCRIPT, tmp_path / "out.srt")
    assert path.read_text().startswith("1\n")
    with pytest.raises(InvalidInput):
        format_transcript(TRANSCRIPT, "docx")


def test_word_error_rate_ignores_case_and_punctuation() -> None:
    assert word_error_rate("Ask not, what", "ask NOT what!") == 0.0
    assert word_error_rate("a b c d", "a x c") == pytest.approx(0.5)
    assert word_error_rate("", "") == 0.0


def test_repetition_is_cut_and_compresses() -> None:
    loop = [1, 2] + [5, 6, 7, 8] * 8
    assert cut_repetition(loop) == [1, 2, 5, 6, 7, 8]
    assert cut_repetition([1, 2, 3, 1, 2, 3]) == [1, 2, 3, 1, 2, 3]  # too short to be a loop
    assert compression_ratio("na " * 100) > 2.4 > compression_ratio("a normal sentence here")


def test_a_loop_with_moving_timestamps_is_a_loop() -> None:
    # " The <|t|><|t|>" with t growing each turn: equal only when timestamps count as one
    begin = 50363
    loop = [440] + [t for i in range(8) for t in (464, begin + 2 * i, begin + 2 * i + 1)]
    assert cut_repetition(loop) == loop
    assert cut_repetition(loop, timestamp_begin=begin) == loop[:4]


def test_sampling_follows_the_distribution() -> None:
    rng = np.random.default_rng(5)
    logprobs = np.log(np.array([[0.5, 0.3, 0.2, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    draws = np.array([sample_rows(logprobs, 1.0, rng) for _ in range(20_000)])
    assert set(draws[:, 1]) == {2}  # a certain token is always drawn
    np.testing.assert_allclose(
        np.bincount(draws[:, 0], minlength=4) / 20_000, [0.5, 0.3, 0.2, 0.0], atol=0.015
    )
    # a low temperature sharpens: 0.5^4 : 0.3^4 : 0.2^4 = 0.86 : 0.11 : 0.02
    cold = np.array([sample_rows(logprobs[:1], 0.25, rng)[0] for _ in range(5_000)])
    assert 0.82 < np.mean(cold == 0) < 0.90


def test_window_mel_zeroes_frames_after_the_audio(rng) -> None:
    audio = (0.1 * rng.standard_normal(16000 * 5)).astype(np.float32)
    mel = window_mel(audio)
    assert mel.shape == (80, 3000)
    assert np.all(mel[:, 500:] == 0) and np.abs(mel[:, :499]).sum() > 0
    assert np.all(window_mel(np.zeros(0, np.float32)) == 0)
