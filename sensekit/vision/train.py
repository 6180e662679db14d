"""Train a new image classifier from labelled examples (Create ML's image classifier).

The base model's pooled features are computed for every example and a new head is
trained on them by :func:`sensekit.tools.update.fit_head`, which writes a new package:
the base graph with the head appended. The base package is never modified.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sensekit.core import registry
from sensekit.core.errors import InvalidInput
from sensekit.core.package import SUFFIX
from sensekit.tools.update import UpdateResult, fit_head
from sensekit.vision.classify import DEFAULT_MODEL, ImageClassifier
from sensekit.vision.image_input import ImageInput


def _examples(examples: Any) -> tuple[list[ImageInput], list[str]]:
    """Flattens {label: [images]} into parallel lists, checking the shape of the input."""
    if not isinstance(examples, Mapping) or len(examples) < 2:
        raise InvalidInput("examples must be a dict {label: [images, ...]} with at least 2 labels")
    images, labels = [], []
    for label, items in examples.items():
        if not isinstance(label, str) or not label.strip() or "\n" in label:
            raise InvalidInput(f"labels must be non-empty single-line strings, not {label!r}")
        if (
            isinstance(items, (str, bytes, os.PathLike))
            or not isinstance(items, Sequence)
            or not items
        ):
            raise InvalidInput(f"examples[{label!r}] must be a non-empty list of images")
        images.extend(items)
        labels.extend([label] * len(items))
    return images, labels


def train_classifier(
    examples: Mapping[str, Sequence[ImageInput]],
    *,
    base: str | os.PathLike[str] = DEFAULT_MODEL,
    holdout: float = 0.2,
    name: str | None = None,
    destination: str | os.PathLike[str] | None = None,
    method: str = "logistic",
    epochs: int = 300,
    cancel: threading.Event | None = None,
) -> tuple[Path | None, UpdateResult]:
    """Trains a classifier of your own labels on top of an image model's features.

    Args:
        examples: {label: [images]}; images are paths, bytes, PIL images or arrays.
        base: zoo name or package path of a classifier exposing a feature output.
        holdout: fraction of each label's examples held out to measure accuracy.
        name: the new model's name (default "<base>-custom").
        destination: where to write the package (default the model cache, so the new
            model loads by ``name``).
        method: "logistic" (softmax regression) or "knn" (nearest exemplars).
        epochs: gradient-descent epochs of the logistic head.
        cancel: set this event from another thread to stop training (nothing is written).

    Returns:
        (path of the new package or None if cancelled, the report with
        ``holdout_accuracy`` and ``train_accuracy``).

    Raises:
        InvalidInput: fewer than 2 labels, an empty label, an unreadable image, bad options.
    """
    images, labels = _examples(examples)
    classifier = ImageClassifier.from_model(base)
    feature_output = classifier.model.manifest.postprocess.get("features")
    if not feature_output:
        raise InvalidInput(f"Model {classifier.model.name!r} exposes no feature output to train on")
    name = name or f"{classifier.model.name}-custom"
    target = (
        Path(destination) if destination is not None else registry.models_dir() / f"{name}{SUFFIX}"
    )
    features = classifier.features_batch(images)
    result = fit_head(
        features,
        labels,
        classifier.model,
        feature_output,
        target,
        name,
        holdout=holdout,
        epochs=epochs,
        method=method,
        cancel=cancel,
    )
    return result.path, result
