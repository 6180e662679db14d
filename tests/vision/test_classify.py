"""vision.classify on real photos, and conversion agreement with PyTorch."""

from __future__ import annotations

import numpy as np

from sensekit.vision import classify


def test_chelsea_is_a_cat(media):
    labels = [c.label.lower() for c in classify(media("chelsea.png"), top_k=5)]
    assert any(
        cat in label
        for label in labels
        for cat in ("tabby", "tiger cat", "egyptian cat", "persian cat", "siamese")
    ), labels


def test_coffee_is_espresso_or_a_cup(classifier, media):
    top3 = [c.label.lower() for c in classifier(media("coffee.png"), top_k=3)]
    assert any(word in label for label in top3 for word in ("espresso", "cup")), top3


def test_batch_matches_single(classifier, media):
    paths = [media("chelsea.png"), media("rocket.jpg")]
    batch = classifier.predict_batch(paths)
    for single, many in zip([classifier(p) for p in paths], batch):
        assert [c.label for c in single] == [c.label for c in many]
        assert np.allclose([c.score for c in single], [c.score for c in many], atol=1e-5)


def test_conversion_agrees_with_pytorch(classifier):
    conversion = classifier.model.manifest.conversion
    assert conversion["from"] == "pytorch" and conversion["max_abs_diff"] < 1e-3
