"""Video mode: run a detector or pose task on every frame and keep identities.

:func:`track` reads frames from a video file or an OpenCV capture (or any iterable of
arrays), runs the task and gives each object or person a ``track_id`` that stays the
same while it is seen, using an IoU tracker: each result joins the track of the same
label whose last box overlaps it most, above ``iou_threshold``; unmatched results start
new tracks; tracks unseen for ``max_missed`` frames end.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.accelerate import nn
from sensekit.core.errors import InvalidInput
from sensekit.core.types import BodyPose, Detection
from sensekit.vision.image_input import load_image


@dataclass(frozen=True)
class VideoFrame:
    """One processed frame.

    Attributes:
        index: frame number, from 0.
        timestamp: seconds from the start (from the capture's FPS when known, else None).
        image: the frame, RGB uint8.
        results: the task's results with ``track_id`` set.
    """

    index: int
    timestamp: float | None
    image: np.ndarray
    results: list[Any]


@dataclass
class _Track:
    box: np.ndarray  # (x0, y0, x1, y1) normalized
    label: str
    missed: int = 0


def _box_of(result: Any) -> np.ndarray:
    box = result.box
    return np.array([box.x_min, box.y_min, box.x_max, box.y_max], np.float32)


def _label_of(result: Any) -> str:
    return result.label if isinstance(result, Detection) else "person"


class IouTracker:
    """Assigns persistent ``track_id``s to Detection or BodyPose results frame by frame."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise InvalidInput(f"iou_threshold must be in (0, 1], not {iou_threshold!r}")
        if not isinstance(max_missed, int) or max_missed < 0:
            raise InvalidInput(f"max_missed must be a non-negative int, not {max_missed!r}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1

    def update(self, results: list[Any]) -> list[Any]:
        """Returns ``results`` (same order) with ``track_id`` set."""
        if any(not isinstance(r, (Detection, BodyPose)) for r in results):
            raise InvalidInput("the tracker takes Detection or BodyPose results")
        ids = list(self._tracks)
        assigned = self._match(results, ids)
        for r, result in enumerate(results):
            if assigned[r] is None:
                assigned[r] = self._next_id
                self._next_id += 1
            self._tracks[assigned[r]] = _Track(_box_of(result), _label_of(result))
        seen = set(assigned)
        for track_id in ids:
            if track_id not in seen:
                self._tracks[track_id].missed += 1
                if self._tracks[track_id].missed > self.max_missed:
                    del self._tracks[track_id]
        return [
            dataclasses.replace(result, track_id=track_id)
            for result, track_id in zip(results, assigned)
        ]

    def _match(self, results: list[Any], ids: list[int]) -> list[int | None]:
        """Greedy matching, highest IoU first, only between results and tracks of one label."""
        assigned: list[int | None] = [None] * len(results)
        if not results or not ids:
            return assigned
        iou = nn.box_iou(
            np.stack([_box_of(r) for r in results]), np.stack([self._tracks[i].box for i in ids])
        )
        labels = np.array([_label_of(r) for r in results])
        iou[labels[:, None] != np.array([self._tracks[i].label for i in ids])[None, :]] = 0.0
        used_tracks: set[int] = set()
        for flat in np.argsort(-iou, axis=None, kind="stable"):
            r, t = divmod(int(flat), len(ids))
            if iou[r, t] <= self.iou_threshold:
                break
            if assigned[r] is None and t not in used_tracks:
                assigned[r] = ids[t]
                used_tracks.add(t)
        return assigned


def _frames(source: Any) -> Iterator[tuple[np.ndarray, float | None, bool]]:
    """(frame, timestamp, is_bgr) from a path, an OpenCV capture or an iterable of arrays."""
    import cv2

    if isinstance(source, (str, os.PathLike)):
        if not Path(source).is_file():
            raise InvalidInput(f"Video file not found: {source}")
        capture = cv2.VideoCapture(str(source))
        if not capture.isOpened():
            raise InvalidInput(f"OpenCV cannot open the video {source}")
        try:
            yield from _frames(capture)
        finally:
            capture.release()
        return
    if hasattr(source, "read") and hasattr(source, "get"):  # cv2.VideoCapture
        fps = float(source.get(cv2.CAP_PROP_FPS) or 0.0)
        index = 0
        while True:
            ok, frame = source.read()
            if not ok or frame is None:
                return
            yield frame, (index / fps if fps > 0 else None), True
            index += 1
    elif isinstance(source, Iterable) and not isinstance(source, (bytes, np.ndarray)):
        for frame in source:
            yield frame, None, False
    else:
        raise InvalidInput(
            f"track takes a video path, an OpenCV capture or an iterable of "
            f"frames, not {type(source).__name__}"
        )


def track(
    source: Any, task: Any, *, iou_threshold: float = 0.3, max_missed: int = 5, every: int = 1
) -> Iterator[VideoFrame]:
    """Runs ``task`` on the frames of a video and tracks what it finds.

    Args:
        source: a video file path, an opened ``cv2.VideoCapture``, or an iterable of RGB
            frames (numpy arrays).
        task: an ObjectDetector or PoseDetector (anything whose call takes an image and a
            ``bgr`` keyword and returns Detection or BodyPose results).
        iou_threshold: least IoU between a result and a track's last box to continue it.
        max_missed: frames a track may go unseen before its id is retired.
        every: process one frame in ``every`` (others are skipped).

    Yields:
        :class:`VideoFrame` per processed frame, results carrying ``track_id``.

    Raises:
        InvalidInput: the source cannot be opened or read.
    """
    if not callable(task):
        raise InvalidInput("task must be an ObjectDetector or PoseDetector")
    if not isinstance(every, int) or every < 1:
        raise InvalidInput(f"every must be a positive int, not {every!r}")
    tracker = IouTracker(iou_threshold, max_missed)
    for index, (frame, timestamp, is_bgr) in enumerate(_frames(source)):
        if index % every:
            continue
        image = load_image(frame, bgr=is_bgr)
        results = tracker.update(task(image))
        yield VideoFrame(index, timestamp, image, results)
