"""core.audio: load_audio and iter_audio_blocks on real files and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sensekit.core.audio import iter_audio_blocks, load_audio
from sensekit.core.errors import InvalidInput


def test_wav_and_oga(media):
    wav = load_audio(media("Front_Center.wav"))
    oga = load_audio(media("phone-incoming-call.oga"))
    assert wav.dtype == np.float32 and wav.ndim == 1 and 1.3 < len(wav) / 16000 < 1.5
    assert oga.dtype == np.float32 and 0 < np.abs(oga).max() <= 1.0


def test_rates_channels_and_dtypes(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1) * 0.5
    path = tmp_path / "stereo.flac"
    sf.write(path, stereo, 44100)
    audio = load_audio(path)
    assert len(audio) == 16000 and abs(np.abs(audio).max() - 0.25) < 0.01
    as_int = load_audio((stereo * 32767).astype(np.int16), 44100)
    assert np.max(np.abs(as_int - audio)) < 1e-3
    assert len(load_audio(stereo.T.astype(np.float32), 44100, target_rate=None)) == 44100
    assert np.allclose(load_audio(path.read_bytes()), audio)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(0),
        np.array([0.0, np.nan]),
        np.array([np.inf]),
        np.array(["x"]),
        np.array([True, False]),
        np.zeros((2, 2, 2)),
    ],
)
def test_bad_arrays(bad):
    with pytest.raises(InvalidInput):
        load_audio(bad, 16000)


def test_bad_sources(tmp_path):
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS but not really")
    for source in (tmp_path / "missing.wav", bad, b"", b"\x00\x01\x02", object()):
        with pytest.raises(InvalidInput):
            load_audio(source)
    for rate in (None, 0, 10, 16000.5, "16000"):
        with pytest.raises(InvalidInput):
            load_audio(np.zeros(100, np.float32), rate)


def test_blocks_cover_the_file(media):
    path = media("jfk.wav")
    blocks = list(iter_audio_blocks(path, seconds=2.0))
    assert len(blocks) == 6 and all(len(b) == 32000 for b in blocks[:-1])
    assert np.array_equal(np.concatenate(blocks), load_audio(path))
    with pytest.raises(InvalidInput):
        list(iter_audio_blocks(path, seconds=0))
