"""sound.train_classifier: a head on YAMNet embeddings, loaded back by sound.identify."""

from __future__ import annotations

import pytest
from sound_media import RATE, tone

from sensekit import sound
from sensekit.core.errors import InvalidInput


def test_train_and_identify(yamnet, media, tmp_path):
    clips = {
        "voice": [media(n) for n in ("Front_Center.wav", "Front_Left.wav", "Rear_Right.wav")],
        "beep": [tone(hz, 1.5) for hz in (500, 900, 1500, 2500)],
    }
    result = sound.train_classifier(
        clips, name="beeps-and-voices", destination=tmp_path / "beeps.skmodel", base=yamnet
    )
    assert result.labels == ("beep", "voice") and result.train_accuracy == 1.0
    path = str(result.path)
    heard = sound.classify(media("Side_Left.wav"), model=path, top_k=1)
    assert heard[0].label == "voice" and heard[0].score > 0.8
    beep = sound.classify(tone(1200, 2.0), model=path, sample_rate=RATE, top_k=1)
    assert beep[0].label == "beep"
    events = sound.identify(tone(700, 3.0), model=path, sample_rate=RATE)
    assert [e.label for e in events] == ["beep"] and events[0].end == pytest.approx(3.0)


def test_needs_two_labels(yamnet, media):
    with pytest.raises(InvalidInput):
        sound.train_classifier({"voice": [media("Front_Center.wav")]}, base=yamnet)
    with pytest.raises(InvalidInput):
        sound.train_classifier({"a": [], "b": [media("Front_Center.wav")]}, base=yamnet)
