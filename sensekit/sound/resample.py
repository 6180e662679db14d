"""Resampling of a stream in blocks, equal to resampling the whole signal at once.

The one block resampler of sensekit: the streaming sound :class:`~sensekit.sound.stream.Analyzer`,
speech's file reader and ``Transcriber.stream`` all push their audio through
:class:`StreamResampler`, a libsoxr stream (python-soxr) with the preset of
:func:`sensekit.accelerate.dsp.resample`: blocks of any size give exactly the samples of
resampling the whole signal at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import soxr

from sensekit.accelerate import dsp


class StreamResampler:
    """Resamples a stream pushed in blocks of any size; equal to ``dsp.resample`` of the
    whole signal (soxr holds back the samples its filter still needs until they come)."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        self.rates = (int(source_rate), int(target_rate))
        self._soxr = (
            None
            if self.identity
            else soxr.ResampleStream(*self.rates, 1, dtype="float32", quality=dsp.RESAMPLE_QUALITY)
        )

    @property
    def identity(self) -> bool:
        return self.rates[0] == self.rates[1]

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Adds input samples; returns the output samples that are now final."""
        if self._soxr is None:
            return samples
        return self._soxr.resample_chunk(np.ascontiguousarray(samples, np.float32))

    def flush(self) -> np.ndarray:
        """The remaining output, at the end of the stream."""
        if self._soxr is None:
            return np.empty(0, np.float32)
        return self._soxr.resample_chunk(np.empty(0, np.float32), last=True)

    def stream(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The output of each input block as it comes, then the flushed tail."""
        for block in blocks:
            yield self.push(block)
        yield self.flush()
