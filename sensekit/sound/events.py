"""Window scores -> sound events with start and end times.

Each analysis window votes for its ``top_k`` labels scoring at least the threshold. A
label's consecutive votes form one event; a gap of at most ``max_gap`` seconds between
two runs is bridged. Window edges only bound an event to the nearest hop (0.48 s), so
an event's ends are then refined with the frame energy: leading and trailing 10 ms
frames far quieter than the event's loudest frame are trimmed (not for the "Silence"
class, which is quiet by nature).

:class:`EventMerger` is incremental: ``push`` takes windows in time order and returns
the events that can no longer grow, which is what the streaming analyzer yields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sensekit.core.types import SoundEvent

TRIM_DB = 35.0  # frames this far below the event's loudest frame are not the event


@dataclass
class _Open:
    """A label's event that may still grow."""

    start: float
    end: float
    peak: float


def window_votes(
    scores: np.ndarray, top_k: int, threshold: float, *, mask: np.ndarray | None = None
) -> list[np.ndarray]:
    """Per window, the class indices among its ``top_k`` scoring >= ``threshold`` (and
    allowed by ``mask`` [C], if given)."""
    scores = np.where(mask, scores, -1.0) if mask is not None else scores
    k = min(top_k, scores.shape[1])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return [row[scores[i, row] >= threshold] for i, row in enumerate(best)]


class EventMerger:
    """Joins per-window votes into :class:`SoundEvent` s, closing them as they end."""

    def __init__(
        self,
        labels: Sequence[str],
        *,
        window_s: float,
        hop_s: float,
        max_gap: float,
        frame_s: float,
        frame_hop_s: float,
        no_trim: Sequence[int] = (),
        trim_db: float = TRIM_DB,
    ) -> None:
        self.labels = list(labels)
        self.frame_s, self.frame_hop_s = frame_s, frame_hop_s  # the energy frames (model's STFT)
        self.window_s = window_s
        self.hop_s = hop_s
        self.max_gap = max_gap
        self.no_trim = set(no_trim)
        self.trim_db = trim_db
        self._open: dict[int, _Open] = {}
        self._energy = np.empty(0, np.float32)  # dB per energy frame, from frame _offset on
        self._offset = 0

    def add_energy(self, first_frame: int, energy_db: np.ndarray) -> None:
        """Records frame energies [dB] starting at frame index ``first_frame``."""
        end = first_frame + len(energy_db)
        have = self._offset + len(self._energy)
        if end <= have:
            return
        new = energy_db[max(0, have - first_frame) :]
        if first_frame > have:  # a hole (never happens with contiguous windows)
            new = np.concatenate([np.full(first_frame - have, -120.0, np.float32), energy_db])
        self._energy = np.concatenate([self._energy, new.astype(np.float32)])

    def push(
        self, starts: np.ndarray, scores: np.ndarray, votes: list[np.ndarray]
    ) -> list[SoundEvent]:
        """Adds windows (start times [W], scores [W, C], votes); returns closed events."""
        closed: list[SoundEvent] = []
        for start, row, chosen in zip(starts, scores, votes):
            start = float(start)
            for index in chosen.tolist():
                event = self._open.get(index)
                score = float(row[index])
                if event is None:
                    self._open[index] = _Open(start, start + self.window_s, score)
                else:
                    event.end, event.peak = start + self.window_s, max(event.peak, score)
            next_start = start + self.hop_s  # no later window can bridge a wider gap
            for index in list(self._open):
                if next_start - self._open[index].end > self.max_gap + 1e-9:
                    closed.append(self._close(index, None))
        self._prune()
        return closed

    def flush(self, duration: float) -> list[SoundEvent]:
        """Closes every open event (end of the audio, ``duration`` seconds long)."""
        closed = [self._close(index, duration) for index in list(self._open)]
        return sorted(closed, key=lambda e: (e.start, -e.score))

    def _close(self, index: int, duration: float | None) -> SoundEvent:
        event = self._open.pop(index)
        end = event.end if duration is None else min(event.end, duration)
        start = event.start
        if index not in self.no_trim:
            start, end = self._trim(start, end)
        return SoundEvent(
            self.labels[index], event.peak, round(float(start), 3), round(float(end), 3), index
        )

    def _trim(self, start: float, end: float) -> tuple[float, float]:
        """Narrows [start, end] to the frames within ``trim_db`` of the loudest one."""
        hop, length = self.frame_hop_s, self.frame_s
        first = int(round(start / hop)) - self._offset
        last = int(round((end - length) / hop)) - self._offset
        first, last = max(first, 0), min(last, len(self._energy) - 1)
        if last < first:
            return start, end
        energy = self._energy[first : last + 1]
        loud = np.flatnonzero(energy >= energy.max() - self.trim_db)
        new_start = (self._offset + first + loud[0]) * hop if loud[0] > 0 else start
        new_end = (
            (self._offset + first + loud[-1]) * hop + length if loud[-1] < len(energy) - 1 else end
        )
        return max(start, float(new_start)), min(end, float(new_end))

    def _prune(self) -> None:
        """Forgets energies before the oldest open event (bounded memory when streaming)."""
        keep_from = min((e.start for e in self._open.values()), default=None)
        if keep_from is None:
            keep_from = (
                self._offset * self.frame_hop_s
                + len(self._energy) * self.frame_hop_s
                - self.window_s
                - self.max_gap
            )
        drop = int(keep_from / self.frame_hop_s) - self._offset
        if drop > 0:
            self._energy = self._energy[drop:]
            self._offset += drop


def merge_events(
    starts: np.ndarray,
    scores: np.ndarray,
    votes: list[np.ndarray],
    *,
    labels: Sequence[str],
    window_s: float,
    hop_s: float,
    max_gap: float,
    duration: float,
    energy_db: np.ndarray,
    frame_s: float,
    frame_hop_s: float,
    no_trim: Sequence[int] = (),
) -> list[SoundEvent]:
    """All events of a whole clip, sorted by start time (then score).

    Args:
        starts: window start times [W] in seconds.
        scores: window scores [W, C].
        votes: per window, the class indices it votes for (:func:`window_votes`).
        labels: the C class names.
        window_s: window length in seconds.
        hop_s: seconds between window starts.
        max_gap: seconds between two runs of a label bridged into one event.
        duration: seconds of audio (events end there at the latest).
        energy_db: frame energies from the clip's start (for trimming), one per
            ``frame_hop_s`` seconds over ``frame_s`` seconds: the model's STFT frames.
        no_trim: label indices whose events keep their window bounds.
    """
    merger = EventMerger(
        labels,
        window_s=window_s,
        hop_s=hop_s,
        max_gap=max_gap,
        frame_s=frame_s,
        frame_hop_s=frame_hop_s,
        no_trim=no_trim,
    )
    merger.add_energy(0, energy_db)
    events = merger.push(starts, scores, votes) + merger.flush(duration)
    return sorted(events, key=lambda e: (e.start, -e.score))
