"""Vision fixtures: the default tasks, built once per session (real models, real cache)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def detector():
    from sensekit.vision import ObjectDetector

    return ObjectDetector.from_model("nanodet-m", compute_units="cpu")


@pytest.fixture(scope="session")
def poser():
    from sensekit.vision import PoseDetector

    return PoseDetector.from_model("blazepose", compute_units="cpu", people="own")


@pytest.fixture(scope="session")
def classifier():
    from sensekit.vision import ImageClassifier

    return ImageClassifier.from_model("efficientnet-lite0", compute_units="cpu")
