"""The three vision defaults against their original models, live, on real photos.

Each test runs sensekit end to end from the manifest's preprocessing and compares with the
original weights in their own framework (PyTorch, TensorFlow, TFLite) fed the way the
model's origin documents (see vision_reference.py and pose_reference.py). The tolerances
are measured; test_vision_mutations.py proves they are tight enough to see classic bugs.
"""

from __future__ import annotations

import pytest
from pose_reference import LANDMARK_PHOTOS, POSE_PHOTOS, compare_pose
from vision_reference import (
    CLASSIFIER_PHOTOS,
    DETECTOR_PHOTOS,
    compare_classifier,
    compare_detector,
)

from sensekit.vision import ImageClassifier, ObjectDetector, PoseDetector


@pytest.fixture(scope="module")
def classifier() -> ImageClassifier:
    return ImageClassifier.from_model("efficientnet-lite0", compute_units="cpu")


@pytest.fixture(scope="module")
def detector() -> ObjectDetector:
    return ObjectDetector.from_model("nanodet-m", compute_units="cpu")


@pytest.fixture(scope="module")
def poser() -> PoseDetector:
    return PoseDetector.from_model("blazepose", compute_units="cpu", people="own")


@pytest.mark.parametrize("photo", CLASSIFIER_PHOTOS)
def test_classifier_logits_match_pytorch(classifier, media, photo):
    comparison = compare_classifier(classifier, media(photo))
    assert comparison.agrees, str(comparison)
    # The compared path is the one classify() takes.
    assert tuple(c.index for c in classifier.classify(media(photo))) == comparison.top5_sensekit


@pytest.mark.parametrize("photo", DETECTOR_PHOTOS)
def test_detector_matches_tensorflow(detector, media, photo):
    comparison = compare_detector(detector, media(photo))
    assert comparison.agrees, str(comparison)
    assert comparison.count[1] > 0, f"{photo}: the reference found nothing to compare"
    assert len(detector.detect(media(photo))) == comparison.count[0]


@pytest.mark.parametrize("photo", POSE_PHOTOS)
def test_pose_matches_mediapipe_tflite(poser, media, photo):
    comparison = compare_pose(poser, media(photo), with_landmarks=photo in LANDMARK_PHOTOS)
    assert comparison.agrees, str(comparison)
