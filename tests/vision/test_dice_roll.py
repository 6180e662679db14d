"""vision.DiceRoll's roll-end rule (Apple's dice sample) on scripted detections, and the
dice entry points' bad input. The trained model's own tests read real and rendered dice."""

from __future__ import annotations

import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.core.types import Box, Detection
from sensekit.vision.dice import DiceReading, DiceRoll, same_dice


def _die(value: int, x: float, y: float = 0.5, side: float = 0.1) -> Detection:
    box = Box(x, y, x + side, y + side)
    return Detection(str(value), 0.9, value - 1, box, box.to_pixels(100, 100))


class Scripted:
    """Stands in for the detector: returns the next scripted list of dice per call."""

    def __init__(self, script: list[list[Detection]]) -> None:
        self.script = list(script)

    def detect(self, image, **options):
        return self.script.pop(0)


FRAME = np.zeros((100, 100, 3), np.uint8)


def test_reading_is_left_to_right():
    reading = DiceReading.of([_die(6, 0.7), _die(2, 0.1), _die(4, 0.4)])
    assert reading.values == [2, 4, 6] and reading.total == 12
    assert reading.to_dict()["values"] == [2, 4, 6]


def test_same_dice_needs_same_count_values_and_overlap():
    before = [_die(3, 0.1), _die(5, 0.5)]
    assert same_dice([_die(5, 0.505), _die(3, 0.1)], before, 0.85)
    assert not same_dice([_die(5, 0.5)], before, 0.85)  # one die fewer
    assert not same_dice([_die(3, 0.1), _die(6, 0.5)], before, 0.85)  # a value changed
    assert not same_dice([_die(3, 0.1), _die(5, 0.53)], before, 0.85)  # moved (IoU 0.54)
    assert not same_dice([], [], 0.85)


def test_one_ended_event_per_roll_then_at_rest_and_reset_by_no_dice():
    rolling = [[_die(2, 0.1 + 0.1 * i), _die(4, 0.8 - 0.1 * i)] for i in range(3)]
    rest = [_die(1, 0.35), _die(6, 0.6)]
    script = [*rolling, rest, rest, rest, [], rolling[0], rest, rest]
    roll = DiceRoll(Scripted(script), every=1)
    phases = [roll.update(FRAME, frame=i).phase for i in range(len(script))]
    assert phases == [
        "rolling",
        "rolling",
        "rolling",
        "rolling",
        "ended",
        "at_rest",
        "no_dice",
        "rolling",
        "rolling",
        "ended",
    ]


def test_follow_runs_every_nth_frame_and_reports_frames():
    rest = [_die(5, 0.2), _die(3, 0.6)]
    roll = DiceRoll(Scripted([[_die(1, 0.1)], rest, rest, rest]), every=3)
    states = list(roll.follow([FRAME] * 12))
    assert [s.frame for s in states] == [0, 3, 6, 9]
    assert [s.phase for s in states] == ["rolling", "rolling", "ended", "at_rest"]
    assert states[2].reading.values == [5, 3] and states[2].to_dict()["total"] == 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {"every": 0},
        {"every": 1.5},
        {"still_iou": 1.0},
        {"score_threshold": 2.0},
        {"iou_threshold": 0.0},
    ],
)
def test_bad_options(kwargs):
    with pytest.raises(InvalidInput):
        DiceRoll(Scripted([]), **kwargs)


def test_bad_sources(tmp_path):
    roll = DiceRoll(Scripted([]))
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    for source in (not_video, tmp_path / "missing.mp4", 97, -1, 3.5):
        with pytest.raises(InvalidInput):
            list(roll.follow(source))
