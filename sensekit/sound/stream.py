"""Streaming sound analysis (Apple's SNAudioStreamAnalyzer).

:class:`Analyzer` runs a sound classifier it is given on audio as it arrives, in chunks
of any size (down to one sample) and at any sample rate: it re-blocks the audio into the
classifier's windows and yields each :class:`SoundEvent` as soon as it is decided (when
no later window can extend it). Results equal those of the classifier's ``identify`` on
the whole recording: resampling is done by
:class:`~sensekit.sound.resample.StreamResampler`, whose blocks join without seams, and
the tail is zero-padded the same way.

This module does not import :mod:`sensekit.sound.identify` (identify uses it for long
files); a classifier is anything with the members :class:`WindowClassifier` lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from sensekit.accelerate import dsp
from sensekit.core.audio import _check_rate
from sensekit.core.errors import InvalidInput
from sensekit.core.tasks import with_overrides
from sensekit.core.types import SoundEvent
from sensekit.sound.events import EventMerger, window_votes
from sensekit.sound.resample import StreamResampler


class WindowClassifier(Protocol):
    """What :class:`Analyzer` needs of a classifier (``sound.SoundClassifier`` has it)."""

    labels: list[str]
    sample_rate: int
    no_trim: Sequence[int]  # label indices whose events are not trimmed by energy
    options: Any  # the classifier's default SoundOptions

    def layout(self, options: Any) -> Any: ...  # window geometry for these options

    def analyze_windows(self, samples: np.ndarray, layout: Any) -> np.ndarray: ...

    def label_mask(self, options: Any) -> np.ndarray | None: ...


class _Buffer:
    """Appends arrays cheaply (a list) and joins them only when read."""

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []
        self.size = 0

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
    """Identifies sounds in a stream of audio chunks with a classifier it is given.

    Example::

        classifier = sound.SoundClassifier.from_model("yamnet")
        for event in sound.Analyzer(classifier).stream(microphone_chunks(), sample_rate=48000):
            print(event.label, event.start, event.end)
    """

    def __init__(self, classifier: WindowClassifier, options: Any = None, **overrides: Any) -> None:
        """``options`` (a SoundOptions; default: the classifier's) with ``overrides``."""
        self.classifier = classifier
        self.options = with_overrides(options or classifier.options, overrides)
        self.layout = classifier.layout(self.options)

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
            window_s=self.layout.window_s,
            hop_s=self.layout.hop_s,
            max_gap=self.options.max_gap,
            frame_s=self.layout.frame_length / self.layout.sample_rate,
            frame_hop_s=self.layout.frame_hop / self.layout.sample_rate,
            no_trim=self.classifier.no_trim,
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
            mask=self.classifier.label_mask(self.options),
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
