"""vision.train_classifier: a new head on EfficientNet-Lite0 features, on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.vision import ImageClassifier, load_image, train_classifier


def _views(image: np.ndarray, count: int) -> list[np.ndarray]:
    """Different crops (and mirror images) of one photo."""
    h, w = image.shape[:2]
    views = []
    for i in range(count):
        x0, y0 = (i * 7) % (w // 5), (i * 5) % (h // 5)
        view = image[y0:y0 + 4 * h // 5, x0:x0 + 4 * w // 5]
        views.append(view[:, ::-1] if i % 2 else view)
    return views


def test_train_three_labels_and_reload(media, tmp_path):
    photos = {"cat": "chelsea.png", "coffee": "coffee.png", "rocket": "rocket.jpg"}
    examples = {label: _views(load_image(media(name)), 6) for label, name in photos.items()}
    path, report = train_classifier(examples, name="three-things",
                                    destination=tmp_path / "three.skmodel", holdout=0.34)
    assert path == tmp_path / "three.skmodel" and report.labels == ("cat", "coffee", "rocket")
    assert report.holdout_accuracy == 1.0 and report.train_accuracy == 1.0
    model = ImageClassifier.from_model(path, compute_units="cpu")
    top = model(media("chelsea.png"), top_k=3)
    assert top[0].label == "cat" and top[0].score > 0.5 and len(top) == 3


def test_bad_examples_are_refused(media, tmp_path):
    with pytest.raises(InvalidInput):
        train_classifier({"only": [media("chelsea.png")]}, destination=tmp_path / "x")
    with pytest.raises(InvalidInput):
        train_classifier({"a": [media("chelsea.png")], "b": []}, destination=tmp_path / "x")
    with pytest.raises(InvalidInput):
        train_classifier({"a": [media("chelsea.png")], "b": str(media("coffee.png"))},
                         destination=tmp_path / "x")
    with pytest.raises(InvalidInput):
        train_classifier({"a": [media("chelsea.png")], "b": [tmp_path / "missing.png"]},
                         destination=tmp_path / "x")
