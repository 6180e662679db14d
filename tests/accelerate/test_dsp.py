"""accelerate.dsp against librosa, openai-whisper and scipy on synthetic and real audio."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from sensekit.accelerate import dsp


def _chirp(rate: int, seconds: float, top_hz: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return scipy.signal.chirp(t, 50.0, seconds, top_hz, method="logarithmic")


def _snr_db(signal: np.ndarray, reference: np.ndarray, trim: int = 200) -> float:
    n = min(len(signal), len(reference))
    s, r = signal[trim : n - trim], reference[trim : n - trim]
    return float(10 * np.log10(np.sum(r**2) / np.sum((s - r) ** 2)))


@pytest.fixture(scope="module")
def jfk(media) -> np.ndarray:
    audio, rate = sf.read(media("jfk.wav"), dtype="float32")
    assert rate == dsp.WHISPER_SAMPLE_RATE
    return audio


@pytest.mark.parametrize(
    "source,target", [(44100, 16000), (48000, 16000), (8000, 16000), (16000, 22050)]
)
def test_resample_chirp_snr(source, target):
    """Against the analytic chirp at the target rate (measured 84-135 dB with soxr HQ;
    scipy's resample_poly gets 59-63 dB on the same chirps)."""
    top = 0.45 * min(source, target)  # 0.9 x the lower Nyquist
    x = _chirp(source, 1.0, top).astype(np.float32)
    ours = dsp.resample(x, source, target)
    assert ours.dtype == np.float32 and len(ours) == round(len(x) * target / source)
    assert _snr_db(ours, _chirp(target, 1.0, top)) >= 80.0


def test_resample_identity_and_rational_length():
    x = np.random.default_rng(0).standard_normal(44100).astype(np.float32)
    assert np.array_equal(dsp.resample(x, 16000, 16000), x)
    assert len(dsp.resample(x, 44100, 16000)) == 16000


def test_log_mel_whisper_matches_openai_whisper(jfk):
    import torch
    import whisper

    ours = dsp.log_mel_whisper(jfk)
    theirs = whisper.log_mel_spectrogram(torch.from_numpy(whisper.pad_or_trim(jfk))).numpy()
    assert ours.shape == theirs.shape == (80, 3000) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-4)  # float32 FFT rounding


def test_log_mel_whisper_matches_librosa_on_noise():
    audio = np.random.default_rng(1).standard_normal(16000 * 7).astype(np.float32) * 0.1
    mel = librosa.feature.melspectrogram(
        y=audio,
        sr=16000,
        n_fft=400,
        hop_length=160,
        n_mels=128,
        htk=False,
        norm="slaney",
        pad_mode="reflect",
    )[:, :-1]
    log = np.log10(np.maximum(mel, 1e-10))
    expected = (np.maximum(log, log.max() - 8.0) + 4.0) / 4.0
    ours = dsp.log_mel_whisper(audio, n_mels=128, frames=None)
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_log_mel_whisper_silence_and_empty():
    silent = dsp.log_mel_whisper(np.zeros(1600, np.float32), frames=None)
    assert silent.shape == (80, 10) and np.all(silent == silent[0, 0])
    assert dsp.log_mel_whisper(np.zeros(0, np.float32), frames=None).shape == (80, 0)


def test_log_mel_frames_matches_tf_style_reference(jfk):
    ours = dsp.log_mel_frames(jfk)
    frames = librosa.util.frame(jfk, frame_length=400, hop_length=160).T
    magnitude = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", 400), n=512))
    expected = np.log(magnitude @ dsp.mel_filterbank_tf(16000, 512, 64, 125.0, 7500.0).T + 0.001)
    assert ours.shape == expected.shape == (len(frames), 64)
    np.testing.assert_allclose(ours, expected, atol=1e-5)  # float64 FFT: near-silent bins too


@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("norm", [None, "slaney"])
def test_mel_filterbank_matches_librosa(htk, norm):
    ours = dsp.mel_filterbank(22050, 2048, 128, 20.0, 8000.0, htk=htk, norm=norm)
    theirs = librosa.filters.mel(
        sr=22050, n_fft=2048, n_mels=128, fmin=20.0, fmax=8000.0, htk=htk, norm=norm
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7)


def test_mel_scale_round_trip():
    hz = np.array([0.0, 500.0, 1000.0, 4000.0, 8000.0])
    for htk in (False, True):
        np.testing.assert_allclose(dsp.mel_to_hz(dsp.hz_to_mel(hz, htk), htk), hz, atol=1e-6)
        np.testing.assert_allclose(dsp.hz_to_mel(hz, htk), librosa.hz_to_mel(hz, htk=htk))


def test_stft_and_power_match_librosa():
    audio = np.random.default_rng(2).standard_normal(5000).astype(np.float32)
    ours = dsp.stft(audio, 512, 128)
    theirs = librosa.stft(audio, n_fft=512, hop_length=128, center=True, pad_mode="reflect").T
    np.testing.assert_allclose(ours, theirs, atol=2e-3)
    np.testing.assert_allclose(
        dsp.power_spectrogram(audio, 512, 128), dsp.power_spectrum(ours), rtol=1e-4, atol=1e-3
    )


def test_frame_energy_db_of_known_levels():
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    energy = dsp.frame_energy_db(np.concatenate([tone, np.zeros(16000)]))
    assert abs(np.median(energy[:90]) - 20 * np.log10(0.5 / np.sqrt(2))) < 0.1
    assert np.all(energy[-90:] < -100)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 3000), length=st.integers(1, 512), hop=st.integers(1, 300))
def test_frame_count_property(n, length, hop):
    frames = dsp.frame(np.arange(n, dtype=np.float32), length, hop)
    expected = 0 if n < length else 1 + (n - length) // hop
    assert frames.shape == (expected, length)
    if expected:
        assert frames[-1, -1] == (expected - 1) * hop + length - 1


@settings(max_examples=30, deadline=None)
@given(
    rate=st.sampled_from([8000, 16000, 22050, 44100]),
    n_fft=st.sampled_from([256, 400, 512]),
    n_mels=st.integers(8, 64),
    htk=st.booleans(),
    fmin=st.floats(0.0, 300.0),
)
def test_mel_filterbank_property(rate, n_fft, n_mels, htk, fmin):
    filters = dsp.mel_filterbank(rate, n_fft, n_mels, fmin, None, htk)
    assert filters.shape == (n_mels, n_fft // 2 + 1)
    assert np.all(filters >= 0) and np.all(np.isfinite(filters))


@settings(max_examples=30, deadline=None)
@given(seconds=st.floats(0.0, 3.0), n_mels=st.sampled_from([80, 128]))
def test_log_mel_whisper_shape_property(seconds, n_mels):
    audio = np.random.default_rng(0).standard_normal(int(16000 * seconds)).astype(np.float32)
    mel = dsp.log_mel_whisper(audio, n_mels=n_mels)
    assert mel.shape == (n_mels, 3000) and np.all(np.isfinite(mel))
    assert mel.max() - mel.min() <= 2.0 + 1e-6  # the (max - 8) floor, divided by 4


@pytest.mark.parametrize("backend", ["scipy", "ducc0"])
@pytest.mark.parametrize("threads", ["1", "3"])
def test_spectrogram_backends_and_threads_agree(jfk, monkeypatch, backend, threads):
    monkeypatch.setenv("SENSEKIT_FFT", backend)
    monkeypatch.setenv("SENSEKIT_DSP_THREADS", threads)
    assert dsp.fft_backend() == backend
    frames = librosa.util.frame(jfk, frame_length=400, hop_length=160).T
    window = scipy.signal.get_window("hann", 400)
    exact = np.abs(np.fft.rfft(frames.astype(np.float64) * window, n=512))
    magnitude = dsp.spectrogram_frames(frames, window, 512, power=1.0, bins=(5, 240), precise=True)
    np.testing.assert_allclose(magnitude, exact[:, 5:240], rtol=1e-6, atol=1e-9)
    power = dsp.spectrogram_frames(frames, dsp.hann(400), 400)
    reference = np.abs(np.fft.rfft(frames * dsp.hann(400), n=400)) ** 2
    np.testing.assert_allclose(power, reference, rtol=2e-3, atol=1e-5 * reference.max())
    with pytest.raises(ValueError, match="n_fft"):
        dsp.spectrogram_frames(frames, window, 256)
    # the mel projection fused into each block equals projecting the whole spectrogram
    filters = np.random.default_rng(3).random((235, 64)).astype(np.float32)
    projected = dsp.spectrogram_frames(
        frames, window, 512, power=1.0, bins=(5, 240), precise=True, filters=filters
    )
    np.testing.assert_allclose(projected, exact[:, 5:240] @ filters, rtol=1e-5)
    with pytest.raises(ValueError, match="filters"):
        dsp.spectrogram_frames(frames, window, 512, bins=(5, 240), filters=filters.T)


@pytest.mark.parametrize("rows", [1, 16, 17, 35, 256])
def test_mel_projection_in_single_thread_sized_products_equals_one_gemm(rows: int) -> None:
    rng = np.random.default_rng(rows)
    spectrum = rng.random((rows, 235), dtype=np.float32)
    filters = rng.random((235, 64), dtype=np.float32)
    out = np.full((rows, 64), np.nan, np.float32)
    dsp._project(spectrum, filters, out)
    np.testing.assert_allclose(out, spectrum.astype(np.float64) @ filters, rtol=1e-5)
