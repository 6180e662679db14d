"""YAMNet's front end in accelerate.dsp against TensorFlow's and librosa's math."""

from __future__ import annotations

import numpy as np
import pytest

from sensekit.accelerate import dsp


@pytest.fixture(scope="module")
def noise():
    return (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32)


def test_filterbank_and_log_mel_match_tensorflow(noise):
    tf = pytest.importorskip("tensorflow")
    weights = tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125.0, 7500.0).numpy()
    assert np.max(np.abs(dsp.mel_filterbank_tf(16000, 512, 64, 125.0, 7500.0) - weights.T)) < 1e-4
    magnitude = tf.abs(tf.signal.stft(noise, 400, 160, 512)).numpy()
    reference = np.log(magnitude @ weights + 0.001)
    assert np.max(np.abs(dsp.log_mel_frames(noise) - reference)) < 1e-4


def test_log_mel_matches_librosa_stft(noise):
    librosa = pytest.importorskip("librosa")
    # librosa centres the 400-sample window in the 512 FFT frame: shift by 56 samples
    shifted = np.pad(noise, (56, 56))
    spectrum = np.abs(librosa.stft(shifted, n_fft=512, hop_length=160, win_length=400,
                                   window="hann", center=False))
    frames = dsp.log_mel_frames(noise)
    reference = np.log(dsp.mel_filterbank_tf(16000, 512, 64, 125.0, 7500.0)
                       @ spectrum[:, :len(frames)] + 0.001).T
    assert np.max(np.abs(frames - reference)) < 1e-4


def test_patches_are_strided_views():
    features = np.arange(200 * 64, dtype=np.float32).reshape(200, 64)
    out = dsp.patches(features, 96, 48)
    assert out.shape == (3, 96, 64) and np.array_equal(out[1], features[48:144])
