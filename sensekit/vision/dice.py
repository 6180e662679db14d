"""Understanding a dice roll (Core ML's dice sample): read dice in a photo or follow a roll.

The ``dice`` model (trained by sensekit on rendered dice, see scripts/train_dice.py) finds
the top face of each die and labels it with its pip count. :func:`dice` reads one still
photo. :class:`DiceRoll` follows a stream of frames like Apple's sample: it runs the
detector on every ``every``-th frame, and a roll has **ended** when the current and the
previous prediction hold the same number of dice and each die matches one of the previous
with the same value and an IoU above ``still_iou`` (0.85). The values are then read left to
right by box centre. No dice resets the state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from sensekit.accelerate import nn
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.tasks import Task, cached_default
from sensekit.core.types import Detection
from sensekit.vision.detect import DetectorOptions, ObjectDetector
from sensekit.vision.image_input import ImageInput, load_image
from sensekit.vision.video import _box_of

DEFAULT_MODEL = "dice"
SCORE_THRESHOLD = 0.2  # Apple's sample: confidence 0.2
IOU_THRESHOLD = 0.3  # Apple's sample: NMS IoU 0.3
STILL_IOU = 0.85  # a die that moved less than this between two predictions is at rest

Phase = Literal["no_dice", "rolling", "ended", "at_rest"]


@dataclass(frozen=True)
class DiceReading:
    """Dice in one image, read left to right.

    Attributes:
        dice: the detections (label "1".."6"), left to right by box centre.
        values: their values in the same order.
        total: the sum of the values.
    """

    dice: list[Detection]
    values: list[int] = field(default_factory=list)
    total: int = 0

    @classmethod
    def of(cls, detections: list[Detection]) -> DiceReading:
        ordered = sorted(detections, key=lambda d: (d.box.x_min + d.box.x_max) / 2)
        values = [int(d.label) for d in ordered]
        return cls(ordered, values, sum(values))

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "total": self.total,
            "dice": [d.to_dict() for d in self.dice],
        }


@dataclass(frozen=True)
class DiceState:
    """What a :class:`DiceRoll` knows after one analysed frame.

    Attributes:
        phase: "no_dice"; "rolling" (dice still moving); "ended" (the frame where the roll
            is first seen to have ended: reported once per roll); "at_rest" (the same dice
            on later frames).
        frame: index of the frame in the stream.
        timestamp: seconds from the start when the source knows its frame rate.
        reading: the dice of this frame, left to right.
        image: the frame (RGB uint8), for drawing.
    """

    phase: Phase
    frame: int
    timestamp: float | None
    reading: DiceReading
    image: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "frame": self.frame,
            "timestamp": self.timestamp,
            **self.reading.to_dict(),
        }


def same_dice(current: list[Detection], previous: list[Detection], still_iou: float) -> bool:
    """Apple's roll-end rule: as many dice as before, each matching a previous die with the
    same value and IoU above ``still_iou``."""
    if not current or len(current) != len(previous):
        return False
    overlap = nn.box_iou(
        np.stack([_box_of(d) for d in current]), np.stack([_box_of(d) for d in previous])
    )
    labels = (
        np.array([d.label for d in current])[:, None]
        == np.array([d.label for d in previous])[None, :]
    )
    return bool(np.all(((overlap > still_iou) & labels).any(axis=1)))


@dataclass(frozen=True)
class DiceOptions:
    """Options of :class:`DiceReader`.

    Attributes:
        score_threshold: least detection confidence (Apple's sample: 0.2).
        iou_threshold: boxes overlapping more than this are one die (Apple's sample: 0.3).
        bgr: numpy inputs are in OpenCV's BGR order.
    """

    score_threshold: float = SCORE_THRESHOLD
    iou_threshold: float = IOU_THRESHOLD
    bgr: bool = False

    def __post_init__(self) -> None:
        DetectorOptions(score_threshold=self.score_threshold, iou_threshold=self.iou_threshold)


class DiceReader(Task):
    """Reads the dice in still photos, left to right, with a dice detector package (labels
    "1" to "6": the zoo's ``dice``, or one made with ``vision.train_detector``)."""

    MANIFEST_TASKS = ("object-detection",)
    Options = DiceOptions
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(self, model: Model, options: DiceOptions | None = None) -> None:
        super().__init__(model, options)
        if sorted(model.labels or []) != [str(v) for v in range(1, 7)]:
            raise InvalidInput(
                f"Model {model.name!r} is not a dice detector (its labels must be 1 to 6)"
            )
        self.detector = ObjectDetector(model)

    def read(self, image: ImageInput, **overrides: Any) -> DiceReading:
        """The dice in one image, left to right; keyword overrides are for this call only.

        Raises:
            InvalidInput: the image cannot be read, or an option is out of range.
        """
        options = self.resolve(overrides)
        found = self.detector.detect(
            image,
            score_threshold=options.score_threshold,
            iou_threshold=options.iou_threshold,
            bgr=options.bgr,
        )
        return DiceReading.of(found)

    __call__ = read


def _detector(model: str | os.PathLike[str] | ObjectDetector) -> ObjectDetector:
    if hasattr(model, "detect"):
        return model  # an ObjectDetector the caller built
    return _reader(model).detector


def _reader(model: str | os.PathLike[str]) -> DiceReader:
    return cached_default(("dice", str(model)), lambda: DiceReader.from_model(model))


def dice(
    image: ImageInput,
    *,
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    score_threshold: float = SCORE_THRESHOLD,
    iou_threshold: float = IOU_THRESHOLD,
    bgr: bool = False,
) -> DiceReading:
    """Reads the dice in one still photo, left to right.

    Raises:
        InvalidInput: the image cannot be read, or an option is out of range.
    """
    return _reader(model).read(
        image, score_threshold=score_threshold, iou_threshold=iou_threshold, bgr=bgr
    )


class DiceRoll:
    """Follows dice rolls through a stream of frames.

    Args:
        model: zoo name or package path of a dice detector, or an ObjectDetector.
        every: run the detector on one frame in ``every`` (Apple's sample: 3).
        still_iou: least IoU for a die to count as unmoved between two predictions.
        score_threshold, iou_threshold: detection confidence and NMS overlap.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | ObjectDetector = DEFAULT_MODEL,
        *,
        every: int = 3,
        still_iou: float = STILL_IOU,
        score_threshold: float = SCORE_THRESHOLD,
        iou_threshold: float = IOU_THRESHOLD,
    ) -> None:
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise InvalidInput(f"every must be a positive int, not {every!r}")
        if not isinstance(still_iou, (int, float)) or not 0.0 < still_iou < 1.0:
            raise InvalidInput(f"still_iou must be in (0, 1), not {still_iou!r}")
        self._options = {"score_threshold": score_threshold, "iou_threshold": iou_threshold}
        try:
            DetectorOptions(**self._options)
        except ValueError as e:
            raise InvalidInput(str(e)) from e
        self.detector = _detector(model)
        self.every, self.still_iou = every, float(still_iou)
        self._previous: list[Detection] = []
        self._ended = False

    def update(
        self, image: ImageInput, frame: int = 0, timestamp: float | None = None, bgr: bool = False
    ) -> DiceState:
        """Feeds one frame that should be analysed; returns the new state."""
        pixels = load_image(image, bgr=bgr)
        found = self.detector.detect(pixels, **self._options)
        if not found:
            phase: Phase = "no_dice"
            self._ended = False
        elif same_dice(found, self._previous, self.still_iou):
            phase = "at_rest" if self._ended else "ended"
            self._ended = True
        else:
            phase, self._ended = "rolling", False
        self._previous = found
        return DiceState(phase, frame, timestamp, DiceReading.of(found), pixels)

    def follow(self, source: Any) -> Iterator[DiceState]:
        """States of every analysed frame of a video path, a camera index, an OpenCV
        capture or an iterable of RGB arrays.

        Raises:
            InvalidInput: the video cannot be opened, the camera does not exist, or a
                frame cannot be read.
        """
        from sensekit.vision.video import _frames

        opened = None
        if isinstance(source, int) and not isinstance(source, bool):
            source = opened = _camera(source)
        try:
            seen = 0
            for index, (frame, timestamp, is_bgr) in enumerate(_frames(source)):
                seen += 1
                if index % self.every == 0:
                    yield self.update(frame, index, timestamp, bgr=is_bgr)
            if not seen:
                raise InvalidInput(f"{source}: no frame could be read (not a video?)")
        finally:
            if opened is not None:
                opened.release()


def _camera(index: int) -> Any:
    import cv2

    if index < 0:
        raise InvalidInput(f"camera index must be >= 0, not {index}")
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        capture.release()
        raise InvalidInput(f"No camera at index {index} (OpenCV could not open it)")
    return capture


def score_labelled(
    folder: str | os.PathLike[str], model: str | os.PathLike[str] = DEFAULT_MODEL, iou: float = 0.5
) -> dict[str, Any]:
    """Share of labelled dice found (IoU >= ``iou``) and read right, on a folder of photos
    with a ``manifest.json`` (per image: ``file``, ``dice: [{box: [x0, y0, x1, y1],
    value}]``, optional ``ignore_boxes``), as shared/dice/dev is laid out.

    Predictions centred in an ignore box count neither way.
    """
    import json
    from pathlib import Path

    from sensekit.vision.metrics import Prediction, Truth, found_and_read

    root = Path(folder)
    try:
        entries = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInput(f"{root}: no readable manifest.json ({e})") from e
    predictions, truths, images = [], [], []
    for entry in entries:
        reading = dice(root / entry["file"], model=model)
        boxes = np.array([d.pixels for d in reading.dice], np.float64).reshape(-1, 4)
        keep = np.ones(len(boxes), bool)
        for x0, y0, x1, y1 in entry.get("ignore_boxes", []):
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            keep &= ~((cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1))
        prediction = Prediction(
            boxes[keep],
            np.array([d.score for d in reading.dice])[keep],
            np.array(reading.values, np.int64)[keep],
        )
        truth = Truth(
            np.array([d["box"] for d in entry["dice"]], np.float64).reshape(-1, 4),
            np.array([d["value"] for d in entry["dice"]], np.int64),
        )
        predictions.append(prediction)
        truths.append(truth)
        images.append(
            {
                "file": entry["file"],
                "truth": sorted(truth.labels.tolist()),
                "read": sorted(prediction.labels.tolist()),
                **found_and_read([prediction], [truth], iou),
            }
        )
    return {**found_and_read(predictions, truths, iou), "iou": iou, "images": images}
