"""Sound fixtures: the default classifier and VAD, built once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def yamnet():
    from sensekit.sound.identify import SoundClassifier

    return SoundClassifier.from_model("yamnet", compute_units="cpu")


@pytest.fixture(scope="session")
def vad():
    from sensekit.sound.vad import SpeechActivity

    return SpeechActivity.from_model()


@pytest.fixture(scope="session")
def speech_in_silence(tts):
    """5 s silence + ~3 s of espeak speech + 5 s silence, with the speech's true bounds."""
    from sound_media import embed

    from sensekit.core.audio import load_audio

    path = tts("The quick brown fox jumps over the lazy dog near the river bank.", "sound_fox")
    return embed(load_audio(path), 5.0, 5.0)
