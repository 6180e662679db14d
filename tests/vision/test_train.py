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
        view = image[y0 : y0 + 4 * h // 5, x0 : x0 + 4 * w // 5]
        views.append(view[:, ::-1] if i % 2 else view)
    return views


# One photo per label to train on; two labels also have a photo the head never saw:
# person.jpg (a dog beside a woman and a horse) and the stereo pair's other camera view
# of the motorcycle. A head that only memorized its training photos fails on these.
TRAIN_PHOTOS = {
    "cat": "chelsea.png",
    "coffee": "coffee.png",
    "dog": "dog.jpg",
    "motorcycle": "motorcycle_left.png",
}
UNSEEN_PHOTOS = {"dog": "person.jpg", "motorcycle": "motorcycle_right.png"}


def test_trained_labels_hold_on_photos_not_trained_on(media, tmp_path):
    examples = {label: _views(load_image(media(name)), 6) for label, name in TRAIN_PHOTOS.items()}
    path, report = train_classifier(
        examples, name="four-things", destination=tmp_path / "four.skmodel", holdout=0.34
    )
    assert path == tmp_path / "four.skmodel"
    assert report.labels == ("cat", "coffee", "dog", "motorcycle")
    assert report.holdout_accuracy == 1.0 and report.train_accuracy == 1.0
    model = ImageClassifier.from_model(path, compute_units="cpu")
    for label, photo in UNSEEN_PHOTOS.items():
        top = model(media(photo), top_k=3)
        assert len(top) == 3 and top[0].label == label and top[0].score > 0.5, (photo, top)


def test_bad_examples_are_refused(media, tmp_path):
    with pytest.raises(InvalidInput):
        train_classifier({"only": [media("chelsea.png")]}, destination=tmp_path / "x")
    with pytest.raises(InvalidInput):
        train_classifier({"a": [media("chelsea.png")], "b": []}, destination=tmp_path / "x")
    with pytest.raises(InvalidInput):
        train_classifier(
            {"a": [media("chelsea.png")], "b": str(media("coffee.png"))}, destination=tmp_path / "x"
        )
    with pytest.raises(InvalidInput):
        train_classifier(
            {"a": [media("chelsea.png")], "b": [tmp_path / "missing.png"]},
            destination=tmp_path / "x",
        )
