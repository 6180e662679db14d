"""Whisper base (multilingual): language detection and transcription."""

from __future__ import annotations

import subprocess
import warnings

import pytest

from sensekit import speech
from sensekit.core.errors import InvalidInput
from sensekit.speech.metrics import word_error_rate

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country"
)


@pytest.fixture(scope="module")
def base():
    from sensekit.core import registry

    registry.ensure("whisper-base", progress=False)  # built here when missing (a few minutes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return speech.Transcriber.from_model("whisper-base")


def test_base_detects_english_and_transcribes(base, media) -> None:
    result = base.transcribe(media("jfk.wav"), beam_size=1)
    assert result.language == "en" and result.language_probability > 0.8
    assert word_error_rate(JFK, result.text) == 0.0, result.text


def test_base_german_detect_and_translate(base, tmp_path) -> None:
    raw, wav = tmp_path / "raw.wav", tmp_path / "de.wav"
    subprocess.run(
        ["espeak-ng", "-v", "de", "-w", str(raw), "Guten Morgen. Heute ist das Wetter sehr schön."],
        check=True,
    )
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(wav)], check=True)
    result = base.transcribe(wav, beam_size=1, temperature=0.0)
    assert result.language == "de" and result.language_probability > 0.5, result
    assert "guten morgen" in result.text.lower(), result.text
    # espeak's German is hard for base: check the task switch, not translation quality
    english = base.transcribe(wav, beam_size=1, temperature=0.0, task="translate", language="de")
    assert english.text and "guten" not in english.text.lower(), english.text
    with pytest.raises(InvalidInput):
        base.transcribe(wav, language="xx")
