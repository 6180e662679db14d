"""Synthetic and composed test audio for the sound tests (kept apart from the shared media)."""

from __future__ import annotations

import numpy as np

RATE = 16_000


def pink_noise(seconds: float, seed: int = 0, amplitude: float = 0.3) -> np.ndarray:
    """1/f noise shaped in the frequency domain."""
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    return (amplitude * noise / np.abs(noise).max()).astype(np.float32)


def tone(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def embed(clip: np.ndarray, before: float, after: float) -> tuple[np.ndarray, float, float]:
    """Silence + clip + silence; returns audio and the clip's audible start/end (s)."""
    audible = np.flatnonzero(np.abs(clip) > 0.01)
    pad_a, pad_b = np.zeros(int(before * RATE), np.float32), np.zeros(int(after * RATE), np.float32)
    start = before + audible[0] / RATE
    end = before + (audible[-1] + 1) / RATE
    return np.concatenate([pad_a, clip, pad_b]), start, end
