"""YAMNet's front end in accelerate.dsp against TensorFlow's and librosa's math."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sensekit.accelerate import dsp


@pytest.fixture(scope="module")
def noise():
    return (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)


def test_filterbank_and_log_mel_match_tensorflow(noise):
    import tensorflow as tf

    weights = tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125.0, 7500.0).numpy()
    assert np.max(np.abs(dsp.mel_filterbank_tf(16000, 512, 64, 125.0, 7500.0) - weights.T)) < 1e-4
    magnitude = tf.abs(tf.signal.stft(noise, 400, 160, 512)).numpy()
    reference = np.log(magnitude @ weights + 0.001)
    assert np.max(np.abs(dsp.log_mel_frames(noise) - reference)) < 1e-4


def test_log_mel_matches_librosa_stft(noise):
    import librosa

    # librosa centres the 400-sample window in the 512 FFT frame: shift by 56 samples
    shifted = np.pad(noise, (56, 56))
    spectrum = np.abs(
        librosa.stft(
            shifted, n_fft=512, hop_length=160, win_length=400, window="hann", center=False
        )
    )
    frames = dsp.log_mel_frames(noise)
    reference = np.log(
        dsp.mel_filterbank_tf(16000, 512, 64, 125.0, 7500.0) @ spectrum[:, : len(frames)] + 0.001
    ).T
    assert np.max(np.abs(frames - reference)) < 1e-4


def test_patches_are_strided_views():
    features = np.arange(200 * 64, dtype=np.float32).reshape(200, 64)
    out = dsp.patches(features, 96, 48)
    assert out.shape == (3, 96, 64) and np.array_equal(out[1], features[48:144])


_NATIVE_OFF = "SENSEKIT_NATIVE=0 turns the C kernel off"  # allow-listed in expected_skips.txt


@pytest.fixture
def kernel():
    """The C kernel module: skips only where SENSEKIT_NATIVE=0 turns it off on purpose."""
    if os.environ.get("SENSEKIT_NATIVE", "").strip() == "0":
        pytest.skip(_NATIVE_OFF)
    if not dsp.native_kernels():  # CI has a compiler: a missing kernel is a failed build
        pytest.fail("sensekit.accelerate._melkernel did not build (setup.py)")
    from sensekit.accelerate import _melkernel

    return _melkernel


def _both_paths(monkeypatch, audio, **options):
    """log_mel_frames through the C kernel and through the numpy path."""
    native = dsp.log_mel_frames(audio, **options)
    monkeypatch.setenv("SENSEKIT_NATIVE", "0")
    fallback = dsp.log_mel_frames(audio, **options)
    monkeypatch.delenv("SENSEKIT_NATIVE")
    return native, fallback


def test_native_kernel_is_built():
    # CI has a compiler: a missing kernel there means the build silently fell back.
    if os.environ.get("SENSEKIT_NATIVE", "").strip() == "0":
        pytest.skip(_NATIVE_OFF)
    assert dsp.native_kernels(), "sensekit.accelerate._melkernel did not build (setup.py)"
    from sensekit.accelerate import _melkernel

    assert _melkernel.isa() in ("avx2", "base")


def test_portable_kernel_matches_the_default(kernel, noise):
    lo, hi, starts, lengths, weights = dsp._mel_bands(16000, 512, 64, 125.0, 7500.0)
    outs = []
    for portable in (False, True):
        outs.append(np.empty((298, 64), np.float32))
        kernel.log_mel(
            noise,
            dsp.hann64(400),
            512,
            160,
            lo,
            hi,
            starts,
            lengths,
            weights,
            0.001,
            outs[-1],
            portable,
        )
    assert np.max(np.abs(outs[0] - outs[1])) < 1e-5  # FMA contraction differs, nothing else


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"sample_rate": 22050},  # 551-sample (odd) window
        {"sample_rate": 8000, "fmin": 60.0, "fmax": 3800.0, "n_mels": 40},
        {"window_s": 0.064, "hop_s": 0.005, "n_mels": 128, "log_offset": 1e-6},
    ],
)
def test_native_kernel_matches_numpy_path(kernel, monkeypatch, noise, options):
    loud = noise * np.linspace(0.0, 30.0, len(noise), dtype=np.float32)  # quiet to clipping
    native, fallback = _both_paths(monkeypatch, loud, **options)
    assert native.shape == fallback.shape and native.shape[0] > 100
    assert np.max(np.abs(native - fallback)) < 1e-5


def test_base_kernel_through_dsp(kernel, monkeypatch, noise):
    _native, fallback = _both_paths(monkeypatch, noise)
    monkeypatch.setenv("SENSEKIT_NATIVE", "base")
    assert np.max(np.abs(dsp.log_mel_frames(noise) - fallback)) < 1e-5


@pytest.mark.parametrize("samples", [0, 399, 400, 401, 720, 880, 1040, 1201])
def test_native_kernel_frame_counts(monkeypatch, noise, samples):
    native, fallback = _both_paths(monkeypatch, noise[:samples])
    assert native.shape == fallback.shape == (max(0, 1 + (samples - 400) // 160), 64)
    assert np.max(np.abs(native - fallback), initial=0.0) < 1e-5


def test_native_kernel_silence_and_nan(noise):
    silent = dsp.log_mel_frames(np.zeros(4000, np.float32))
    np.testing.assert_allclose(silent, np.log(0.001), rtol=1e-6)
    broken = noise[:4000].copy()
    broken[2000] = np.nan
    out = dsp.log_mel_frames(broken)
    hit = np.isnan(out).any(axis=1)
    assert hit.sum() == 2 and hit[11:13].all()  # frames 11-12 hold sample 2000, no others


def test_native_kernel_from_threads(noise):
    from concurrent.futures import ThreadPoolExecutor

    expected = dsp.log_mel_frames(noise)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: dsp.log_mel_frames(noise), range(16)))
    assert all(np.array_equal(r, expected) for r in results)


def test_native_kernel_rejects_bad_arguments(kernel, noise):
    lo, hi, starts, lengths, weights = dsp._mel_bands(16000, 512, 64, 125.0, 7500.0)
    window, out = dsp.hann64(400), np.empty((298, 64), np.float32)
    good = (noise, window, 512, 160, lo, hi, starts, lengths, weights, 0.001, out)
    assert kernel.log_mel(*good) == 298

    def bad(index, value, message):
        args = list(good)
        args[index] = value
        with pytest.raises(ValueError, match=message):
            kernel.log_mel(*args)

    bad(2, 500, "power of two")
    bad(2, 256, "window longer")
    bad(3, 0, "hop")
    bad(5, 300, "bins")
    bad(6, starts + 1000, "band reaches outside")
    bad(7, lengths[:10], "buffers")
    bad(8, weights[:-1], "add up")
    bad(10, out[:100], "output buffer")


@pytest.mark.parametrize("portable", [False, True])
@pytest.mark.parametrize("n_fft", [4, 8, 32, 256, 1024, 4096])
def test_native_kernel_bins_match_numpy_rfft(kernel, noise, n_fft, portable):
    # one band per FFT bin, weight 1: the kernel's output is log(|X[k]| + offset)
    bins = n_fft // 2 + 1
    width, hop = n_fft - n_fft // 4 - 1, max(1, n_fft // 3)  # odd windows, zero padding
    window = np.hanning(width)
    audio = noise[: hop * 20 + width]
    out = np.empty((21, bins), np.float32)
    assert (
        kernel.log_mel(
            audio,
            window,
            n_fft,
            hop,
            0,
            bins,
            np.arange(bins, dtype=np.int32),
            np.ones(bins, np.int32),
            np.ones(bins, np.float32),
            1e-3,
            out,
            portable,
        )
        == 21
    )
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float64), width)[::hop]
    expected = np.log(np.abs(np.fft.rfft(frames * window, n_fft)) + 1e-3)
    np.testing.assert_allclose(out, expected, atol=2e-6)
