"""The shipped ``dice`` model on real inputs: rendered frames it never saw (known answers),
the hand-labelled real photos in tests/vision/dice_dev (copied from shared/dice/dev; never
trained on), and a rendered roll whose end DiceRoll must report once, at the right frame.

Floors are the measured figures less a margin for other CPUs' float rounding; the
measurements are in sensekit/zoo/data/dice.json and the issue's closing note."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.vision import DiceReader, DiceRoll, dice
from sensekit.vision.dice import score_labelled
from sensekit.vision.metrics import Prediction, Truth, found_and_read
from sensekit.vision.synthetic.dice import render_roll, render_scene

DEV = Path(__file__).with_name("dice_dev")
RENDER_SEED = 7  # training scenes use seed 0: these are new scenes
# measured on AMD EPYC (avx2): rendered 98.9 % found / 95.8 % read (95 dice); real photos
# 95.0 % / 88.1 % (101 dice). The floors leave one or two dice of slack; the goal
# on the real photos is >= 90 % found and >= 85 % read right.
FOUND_RENDERED, READ_RENDERED = 0.95, 0.90
FOUND_REAL, READ_REAL = 0.93, 0.86


@pytest.fixture(scope="module")
def reader():
    return DiceReader.from_model(compute_units="cpu")


def test_rendered_frames_it_never_saw(reader):
    predictions, truths = [], []
    for index in range(24):
        image, dice_truth = render_scene(np.random.default_rng([RENDER_SEED, index]), (640, 480))
        reading = reader.read(image)
        predictions.append(
            Prediction(
                np.array([d.pixels for d in reading.dice], np.float64).reshape(-1, 4),
                np.array([d.score for d in reading.dice]),
                np.array(reading.values, np.int64),
            )
        )
        truths.append(
            Truth(
                np.array([d.box for d in dice_truth], np.float64).reshape(-1, 4),
                np.array([d.value for d in dice_truth], np.int64),
            )
        )
    scores = found_and_read(predictions, truths, iou=0.5)
    assert scores["objects"] >= 40
    assert scores["found"] >= FOUND_RENDERED and scores["read_right"] >= READ_RENDERED, scores


def test_real_photos_it_never_trained_on():
    scores = score_labelled(DEV, model="dice", iou=0.5)
    assert scores["objects"] == 101
    assert scores["found"] >= FOUND_REAL and scores["read_right"] >= READ_REAL, {
        k: v for k, v in scores.items() if k != "images"
    }
    record = json.loads((Path(__file__).parents[2] / "sensekit/zoo/data/dice.json").read_text())
    assert abs(record["dev"]["found"] - scores["found"]) < 0.03  # the record is this model's


def test_a_rendered_roll_ends_once_at_the_right_frame():
    read_right = 0
    for seed in (1, 2, 3, 4):
        roll = render_roll(seed, moving=12, still=8, count=3)
        states = list(DiceRoll(every=1).follow(roll.frames))
        ended = [s for s in states if s.phase == "ended"]
        assert len(ended) == 1, [s.phase for s in states]
        # the first still frame is seen, and the next one matches it: the roll has ended
        assert ended[0].frame == roll.first_still + 1
        assert all(s.phase == "at_rest" for s in states[ended[0].frame + 1 :])
        read_right += ended[0].reading.values == roll.values
    # measured: 3 of 4; roll 2's dice are ~35 px and two are misread (3 as 4, 1 as 2)
    assert read_right >= 3


def test_still_photo_reading_matches_the_reader_and_options_apply(reader):
    image, _ = render_scene(np.random.default_rng([RENDER_SEED, 100]), (640, 480))
    assert dice(image).values == reader.read(image).values
    assert reader.read(image, score_threshold=0.99).values == []
    with pytest.raises(InvalidInput, match="score_threshold"):
        reader.read(image, score_threshold=1.5)


def test_a_detector_that_is_not_for_dice_is_refused():
    with pytest.raises(InvalidInput, match="not a dice detector"):
        DiceReader.from_model("nanodet-m", compute_units="cpu")
