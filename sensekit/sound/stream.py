"""Streaming sound analysis (Apple's SNAudioStreamAnalyzer).

:class:`Analyzer` takes audio as it arrives, in chunks of any size (down to one sample)
and at any sample rate, re-blocks it into the model's windows and yields each
:class:`SoundEvent` as soon as it is decided (when no later window can extend it).
Results equal those of ``identify`` on the whole recording: resampling is done by
:class:`StreamResampler` with enough context that blocks join without seams, and the
tail is zero-padded the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from sensekit.accelerate import dsp
from sensekit.core.audio import _check_rate
from sensekit.core.errors import InvalidInput
from sensekit.core.types import SoundEvent
from sensekit.sound.events import EventMerger, window_votes
from sensekit.sound.identify import DEFAULT_MODEL, SoundClassifier, SoundOptions

_BLOCK_S = 0.25  # resampler block length; the latency it adds


class _Buffer:
    """Appends arrays cheaply (a list) and joins them only when read."""

    def __init__(self, initial: np.ndarray | None = None) -> None:
        self._parts: list[np.ndarray] = [] if initial is None else [initial]
        self.size = 0 if initial is None else len(initial)

    def append(self, part: np.ndarray) -> None:
        if len(part):
            self._parts.append(part)
            self.size += len(part)

    def joined(self) -> np.ndarray:
        if len(self._parts) != 1:
            self._parts = [np.concatenate(self._parts) if self._parts else np.empty(0, np.float32)]
        return self._parts[0]

    def drop(self, count: int) -> None:
        rest = self.joined()[count:]
        self._parts, self.size = [rest], len(rest)


class StreamResampler:
    """Polyphase resampling of a stream, equal to ``dsp.resample`` of the whole signal.

    Input is processed in blocks that are a multiple of the rate ratio's denominator,
    each with ``context`` samples (the filter's half length) on both sides so the filter
    sees what it would see offline; the stream's start and end are zero-padded like scipy's resample_poly.
    """

    def __init__(self, source_rate: int, target_rate: int) -> None:
        ratio = Fraction(int(target_rate), int(source_rate))
        self.up, self.down = ratio.numerator, ratio.denominator
        self.rates = (int(source_rate), int(target_rate))
        half = dsp.resample_half_width(*self.rates) + 1
        self.context = self.down * math.ceil(half / self.down)
        self.block = self.down * max(1, math.ceil(source_rate * _BLOCK_S / self.down))
        self._buffer = _Buffer(np.zeros(self.context, np.float32))
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
        self._buffer.append(samples)
        count = (self._buffer.size - 2 * self.context) // self.block * self.block
        if count <= 0:
            return np.empty(0, np.float32)
        data = self._buffer.joined()
        out = self._resample(data[: count + 2 * self.context], count)
        self._buffer.drop(count)
        self._given += len(out)
        return out

    def flush(self) -> np.ndarray:
        """The remaining output, with the input zero-padded at its end."""
        total = math.ceil(self._seen * self.up / self.down)
        if self.identity or total <= self._given:
            return np.empty(0, np.float32)
        data = self._buffer.joined()
        pending = len(data) - self.context
        padded = self.down * math.ceil(pending / self.down)
        segment = np.concatenate([data, np.zeros(padded - pending + self.context, np.float32)])
        out = self._resample(segment, padded)[: total - self._given]
        self._given += len(out)
        return out


def _check_chunk(chunk: Any) -> np.ndarray:
    """Cheap per-chunk checks; a 2-D chunk is mixed down to mono right away."""
    samples = chunk if isinstance(chunk, np.ndarray) else np.asarray(chunk)
    if samples.dtype.kind not in "fiu":
        raise InvalidInput(f"Audio chunks must hold float or integer samples, not {samples.dtype}")
    if samples.ndim == 1:
        return samples
    if samples.ndim == 0:
        return samples.reshape(1)
    if samples.ndim > 2:
        raise InvalidInput(
            f"An audio chunk must be [samples] or [samples, channels], got shape {samples.shape}"
        )
    if samples.shape[0] < samples.shape[1] and samples.shape[0] <= 8:
        samples = samples.T  # [channels, samples]; a 1-sample stereo chunk is [1, 2]
    return _to_float(samples).mean(axis=1, dtype=np.float32)


def _to_float(samples: np.ndarray) -> np.ndarray:
    """Integer or float samples -> float32 (integers scaled to [-1, 1]); NaN/inf refused."""
    if samples.dtype.kind == "f":
        if not np.all(np.isfinite(samples)):
            raise InvalidInput("Audio chunk contains NaN or infinite samples")
        return samples.astype(np.float32, copy=False)
    return (
        dsp.to_mono_float(samples)
        if samples.ndim == 1
        else samples.astype(np.float32) / float(np.iinfo(samples.dtype).max)
    )


class _Gather:
    """Collects small chunks and releases them together (per-chunk numpy work is slow)."""

    def __init__(self, release: int) -> None:
        self.release = release
        self.parts: list[np.ndarray] = []
        self.size = 0

    def add(self, samples: np.ndarray) -> np.ndarray | None:
        self.parts.append(samples)
        self.size += len(samples)
        return self.take() if self.size >= self.release else None

    def take(self) -> np.ndarray:
        if not self.parts:
            return np.empty(0, np.float32)
        kinds = {p.dtype for p in self.parts}
        parts = self.parts if len(kinds) == 1 else [_to_float(p) for p in self.parts]
        joined = _to_float(np.concatenate(parts))
        self.parts, self.size = [], 0
        return joined


class Analyzer:
    """Identifies sounds in a stream of audio chunks.

    Example::

        for event in sound.Analyzer().stream(microphone_chunks(), sample_rate=48000):
            print(event.label, event.start, event.end)
    """

    def __init__(
        self,
        model: str | SoundClassifier = DEFAULT_MODEL,
        options: SoundOptions | None = None,
        **overrides: Any,
    ) -> None:
        self.classifier = (
            model if isinstance(model, SoundClassifier) else SoundClassifier.from_model(model)
        )
        base = options or self.classifier.options
        from sensekit.core.tasks import with_overrides

        self.options = with_overrides(base, overrides)
        self.layout = self.classifier.layout(self.options)

    def stream(self, chunks: Iterable[Any], sample_rate: int) -> Iterator[SoundEvent]:
        """Yields events as they are decided; the rest when ``chunks`` is exhausted.

        Raises:
            InvalidInput: a bad sample rate, a chunk with NaN/inf or a non-numeric dtype,
                or a stream without any sample.
        """
        yield from self._run(chunks, sample_rate, None)

    def clip_scores(self, chunks: Iterable[Any], sample_rate: int) -> np.ndarray:
        """Mean window scores [C] of a whole stream (what ``classify`` ranks), in memory
        bounded by one chunk: window scores are summed as they are computed.

        Raises:
            InvalidInput: as :meth:`stream`.
        """
        total = np.zeros(len(self.classifier.labels), np.float64)
        count = 0

        def add(scores: np.ndarray) -> None:
            nonlocal count
            total[:] += scores.sum(axis=0, dtype=np.float64)
            count += len(scores)

        for _ in self._run(chunks, sample_rate, add):
            pass
        return (total / max(count, 1)).astype(np.float32)

    def _run(
        self, chunks: Iterable[Any], sample_rate: int, sink: Callable[[np.ndarray], None] | None
    ) -> Iterator[SoundEvent]:
        """The stream loop; ``sink`` (if any) also gets each block of window scores."""
        rate = _check_rate(sample_rate, "sample_rate")
        resampler = StreamResampler(rate, self.classifier.sample_rate)
        merger = EventMerger(
            self.classifier.labels,
            self.layout.window_s,
            self.layout.hop_s,
            self.options.max_gap,
            self.classifier.no_trim,
        )
        state = {"buffer": _Buffer(), "window": 0, "samples": 0, "sink": sink}
        gather = _Gather(max(1, rate // 50))  # 20 ms
        for chunk in chunks:
            ready = gather.add(_check_chunk(chunk))
            if ready is not None:
                yield from self._feed(state, merger, resampler.push(ready))
        yield from self._feed(state, merger, resampler.push(gather.take()))
        yield from self._feed(state, merger, resampler.flush())
        if state["samples"] == 0:
            raise InvalidInput("The audio stream held no samples")
        yield from self._finish(state, merger)

    def _feed(
        self, state: dict[str, Any], merger: EventMerger, samples: np.ndarray
    ) -> list[SoundEvent]:
        buffer: _Buffer = state["buffer"]
        buffer.append(samples)
        state["samples"] += len(samples)
        if buffer.size < self.layout.min_samples:
            return []
        ready = 1 + (buffer.size - self.layout.min_samples) // self.layout.hop_samples
        return self._windows(state, merger, ready)

    def _windows(self, state: dict[str, Any], merger: EventMerger, count: int) -> list[SoundEvent]:
        """Scores ``count`` windows from the buffer's start and pushes them to the merger."""
        layout, buffer = self.layout, state["buffer"]
        samples = buffer.joined()[: layout.min_samples + (count - 1) * layout.hop_samples]
        scores = self.classifier.analyze_windows(samples, layout)
        if state["sink"] is not None:
            state["sink"](scores)
        first = state["window"]
        merger.add_energy(
            first * layout.hop_frames,
            dsp.frame_energy_db(samples, layout.frame_length, layout.frame_hop),
        )
        votes = window_votes(
            scores,
            self.options.top_k,
            self.options.score_threshold,
            self.classifier.label_mask(self.options),
        )
        closed = merger.push(layout.start_s(first + np.arange(count)), scores, votes)
        state["window"] = first + count
        buffer.drop(count * layout.hop_samples)
        return closed

    def _finish(self, state: dict[str, Any], merger: EventMerger) -> list[SoundEvent]:
        """Pads the tail as ``identify`` does, scores the last windows, closes everything."""
        layout, total = self.layout, state["samples"]
        windows = 1 + math.ceil(max(0, total - layout.min_samples) / layout.hop_samples)
        remaining = windows - state["window"]
        closed: list[SoundEvent] = []
        if remaining > 0:
            wanted = layout.min_samples + (remaining - 1) * layout.hop_samples
            buffer = state["buffer"]
            buffer.append(np.zeros(max(0, wanted - buffer.size), np.float32))
            closed = self._windows(state, merger, remaining)
        return closed + merger.flush(total / self.classifier.sample_rate)
