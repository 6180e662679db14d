"""Classic preprocessing bugs planted in the vision defaults' manifests must be caught.

Each test copies a built package with one bug in its manifest (tests/reference/mutate.py),
runs the *same* comparison as test_vision_reference.py on the same photos, and asserts
that the comparison now reports a disagreement on at least one photo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mutate import Manifest, mutated_package
from pose_reference import LANDMARK_PHOTOS, POSE_PHOTOS, compare_pose
from vision_reference import (
    CLASSIFIER_PHOTOS,
    DETECTOR_PHOTOS,
    compare_classifier,
    compare_detector,
)

from sensekit.vision import ImageClassifier, ObjectDetector, PoseDetector

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def preprocess(*block: str, **fields: Any) -> Callable[[Manifest], None]:
    """An edit setting ``fields`` in manifest["preprocess"] (or a named sub-block of it)."""

    def edit(manifest: Manifest) -> None:
        target = manifest["preprocess"]
        for key in block:
            target = target[key]
        target.update(fields)

    return edit


CLASSIFIER_BUGS = {
    "channels-flipped-bgr": preprocess(color="BGR"),
    "normalisation-dropped": preprocess(mean=[0.0] * 3, std=[1.0] * 3),
    # efficientnet-lite-pytorch's README normalizes so; Lite was trained on (x - 127) / 128
    "imagenet-mean-std": preprocess(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "scale-not-applied": preprocess(scale=1.0),
    "resize-stretch": preprocess(resize="scale_fill"),
    "resize-letterbox": preprocess(resize="scale_fit"),
    "crop-fraction-1": preprocess(crop_fraction=1.0),
}
DETECTOR_BUGS = {
    "channels-flipped-rgb": preprocess(color="RGB"),
    "normalisation-dropped": preprocess(mean=[0.0] * 3, std=[1.0] * 3),
    # what vladmandic/human feeds this graph: RGB / 255
    "unit-range-input": preprocess(scale=1 / 255, mean=[0.0] * 3, std=[1.0] * 3),
    "resize-letterbox": preprocess(resize="scale_fit"),
    "resize-center-crop": preprocess(resize="center_crop"),
}
POSE_BUGS = {
    "detector-channels-flipped-bgr": preprocess("detector", color="BGR"),
    "detector-normalisation-dropped": preprocess("detector", mean=[0.0] * 3, std=[1.0] * 3),
    "detector-resize-stretch": preprocess("detector", resize="scale_fill"),
    "detector-resize-center-crop": preprocess("detector", resize="center_crop"),
    # the detector's [-1, 1] range given to the landmark model, which takes [0, 1]
    "landmarks-minus-one-to-one": preprocess("landmarks", mean=[0.5] * 3, std=[0.5] * 3),
    "landmarks-scale-not-applied": preprocess("landmarks", scale=1.0),
    # the landmark stage read no colour field before; it must now see BGR as a bug
    "landmarks-channels-flipped-bgr": preprocess("landmarks", color="BGR"),
}


def _report(comparisons: list[Any]) -> str:
    return "the reference comparison did not notice the bug:\n" + "\n".join(map(str, comparisons))


@pytest.mark.parametrize("bug", CLASSIFIER_BUGS)
def test_classifier_bug_is_caught(bug, media, tmp_path):
    package = mutated_package("efficientnet-lite0", CLASSIFIER_BUGS[bug], tmp_path)
    mutant = ImageClassifier.from_model(package, compute_units="cpu")
    comparisons = [compare_classifier(mutant, media(photo)) for photo in CLASSIFIER_PHOTOS]
    assert not all(c.agrees for c in comparisons), _report(comparisons)


@pytest.mark.parametrize("bug", DETECTOR_BUGS)
def test_detector_bug_is_caught(bug, media, tmp_path):
    package = mutated_package("nanodet-m", DETECTOR_BUGS[bug], tmp_path)
    mutant = ObjectDetector.from_model(package, compute_units="cpu")
    comparisons = [compare_detector(mutant, media(photo)) for photo in DETECTOR_PHOTOS]
    assert not all(c.agrees for c in comparisons), _report(comparisons)


@pytest.mark.parametrize("bug", POSE_BUGS)
def test_pose_bug_is_caught(bug, media, tmp_path):
    package = mutated_package("blazepose", POSE_BUGS[bug], tmp_path)
    mutant = PoseDetector.from_model(package, compute_units="cpu", people="own")
    comparisons = [
        compare_pose(mutant, media(photo), with_landmarks=photo in LANDMARK_PHOTOS)
        for photo in POSE_PHOTOS
    ]
    assert not all(c.agrees for c in comparisons), _report(comparisons)
