"""Result types shared by every domain.

Vision and sound classification both return :class:`Category` lists; detections,
poses, answers, transcripts and sound events are small frozen dataclasses with a
``to_dict()`` for JSON output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def _plain(value: Any) -> Any:
    """Converts dataclasses, tuples and numpy scalars into JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


class _Result:
    """Mixin giving every result a JSON-ready ``to_dict``."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class Category(_Result):
    """One class of a classifier's output.

    Attributes:
        label: Human-readable class name.
        score: Confidence in [0, 1].
        index: Position of the class in the model's label list.
    """

    label: str
    score: float
    index: int


@dataclass(frozen=True)
class Box(_Result):
    """An axis-aligned box in normalized [0, 1] coordinates (origin top-left)."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def width(self) -> float:
        return self.x_max - self.x_min

    @property
    def height(self) -> float:
        return self.y_max - self.y_min

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Returns (x_min, y_min, x_max, y_max) in pixels of an image of that size."""
        return (
            round(self.x_min * width),
            round(self.y_min * height),
            round(self.x_max * width),
            round(self.y_max * height),
        )


@dataclass(frozen=True)
class Detection(_Result):
    """A labelled box; ``pixels`` is the box in the input image's pixel coordinates."""

    label: str
    score: float
    index: int
    box: Box
    pixels: tuple[int, int, int, int]
    track_id: int | None = None


@dataclass(frozen=True)
class Keypoint(_Result):
    """A named point, normalized to the image (x right, y down), with confidence in [0, 1]."""

    name: str
    x: float
    y: float
    confidence: float
    z: float = 0.0


@dataclass(frozen=True)
class BodyPose(_Result):
    """One person: keypoints by name, the person's box and an overall score."""

    keypoints: tuple[Keypoint, ...]
    box: Box
    score: float
    track_id: int | None = None

    def __getitem__(self, name: str) -> Keypoint:
        for point in self.keypoints:
            if point.name == name:
                return point
        raise KeyError(name)


@dataclass(frozen=True)
class TimeRange(_Result):
    """A stretch of time in seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SoundEvent(_Result):
    """A sound class heard from ``start`` to ``end`` seconds, with its peak score."""

    label: str
    score: float
    start: float
    end: float
    index: int = -1


@dataclass(frozen=True)
class Answer(_Result):
    """A span of the document answering a question; offsets are characters of the document."""

    text: str
    score: float
    start: int
    end: int


@dataclass(frozen=True)
class Word(_Result):
    """One word with its timing and probability."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Segment(_Result):
    """A timed piece of a transcript."""

    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    temperature: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript(_Result):
    """The text of some audio, its language and the timed segments it is made of."""

    text: str
    language: str
    language_probability: float
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    duration: float = 0.0
