"""Resampling of a stream in blocks, equal to resampling the whole signal at once.

The one block resampler of sensekit: the streaming sound :class:`~sensekit.sound.stream.Analyzer`,
speech's file reader and ``Transcriber.stream`` all push their audio through
:class:`StreamResampler`, so a file read in blocks, a live stream and a whole array give
the same samples (to float rounding, < 1e-6) as :func:`sensekit.accelerate.dsp.resample`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from sensekit.accelerate import dsp

BLOCK_S = 0.25  # seconds of input resampled at a time; the latency the resampler adds


class StreamResampler:
    """Polyphase resampling of a stream, equal to ``dsp.resample`` of the whole signal.

    Input is processed in blocks that are a multiple of the rate ratio's denominator,
    each with ``context`` samples (the filter's half length) on both sides so the filter
    sees what it would see offline; the stream's start and end are zero-padded like
    scipy's resample_poly.
    """

    def __init__(self, source_rate: int, target_rate: int) -> None:
        ratio = Fraction(int(target_rate), int(source_rate))
        self.up, self.down = ratio.numerator, ratio.denominator
        self.rates = (int(source_rate), int(target_rate))
        half = dsp.resample_half_width(*self.rates) + 1
        self.context = self.down * math.ceil(half / self.down)
        self.block = self.down * max(1, math.ceil(source_rate * BLOCK_S / self.down))
        self._pending = np.zeros(self.context, np.float32)  # input not yet resampled
        self._seen = self._given = 0

    @property
    def identity(self) -> bool:
        return self.up == self.down

    def _resample(self, segment: np.ndarray, inputs: int) -> np.ndarray:
        out = dsp.resample(segment, *self.rates)
        first = self.context * self.up // self.down
        return out[first : first + inputs * self.up // self.down].astype(np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Adds input samples; returns the output samples that are now final."""
        self._seen += len(samples)
        if self.identity:
            self._given += len(samples)
            return samples
        if len(samples):
            self._pending = np.concatenate([self._pending, samples.astype(np.float32)])
        count = (len(self._pending) - 2 * self.context) // self.block * self.block
        if count <= 0:
            return np.empty(0, np.float32)
        out = self._resample(self._pending[: count + 2 * self.context], count)
        self._pending = self._pending[count:]
        self._given += len(out)
        return out

    def flush(self) -> np.ndarray:
        """The remaining output, with the input zero-padded at its end."""
        total = math.ceil(self._seen * self.up / self.down)
        if self.identity or total <= self._given:
            return np.empty(0, np.float32)
        pending = len(self._pending) - self.context
        padded = self.down * math.ceil(pending / self.down)
        segment = np.pad(self._pending, (0, padded - pending + self.context))
        out = self._resample(segment, padded)[: total - self._given]
        self._given += len(out)
        return out
