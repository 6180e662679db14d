"""Custom sound classifiers (Create ML's MLSoundClassifier, trained on device).

Every 0.96 s patch of every example clip becomes one training example: its 1024-d
YAMNet embedding, labelled with the clip's class. :func:`sensekit.tools.update.fit_head`
trains a softmax head on them and writes a new package whose graph is YAMNet with the
head appended, so ``sound.identify(..., model=name)`` runs it like any other model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core import registry
from sensekit.core.audio import AudioInput
from sensekit.core.errors import InvalidInput
from sensekit.sound.identify import DEFAULT_MODEL, SoundClassifier
from sensekit.tools.update import UpdateResult, fit_head


def _examples(
    classifier: SoundClassifier, clips: Mapping[str, Sequence[AudioInput]], sample_rate: int | None
) -> tuple[np.ndarray, list[str]]:
    """Patch embeddings [N, D] of every clip and the label of each row."""
    if not isinstance(clips, Mapping) or len(clips) < 2:
        raise InvalidInput("train_classifier takes {label: [clips, ...]} with at least 2 labels")
    features, labels = [], []
    for label, examples in clips.items():
        if not isinstance(label, str) or not label.strip():
            raise InvalidInput(f"Labels must be non-empty strings, not {label!r}")
        if isinstance(examples, (str, bytes, os.PathLike, np.ndarray)) or not examples:
            raise InvalidInput(f"Label {label!r} needs a non-empty list of clips")
        for clip in examples:
            rate = sample_rate if isinstance(clip, np.ndarray) else None
            vectors = classifier.embeddings(clip, rate)
            features.append(vectors)
            labels.extend([label] * len(vectors))
    return np.concatenate(features), labels


def train_classifier(
    clips: Mapping[str, Sequence[AudioInput]],
    *,
    name: str = "custom-sound",
    destination: str | os.PathLike[str] | None = None,
    base: str | SoundClassifier = DEFAULT_MODEL,
    sample_rate: int | None = 16000,
    holdout: float = 0.0,
    epochs: int = 300,
    **fit_options: Any,
) -> UpdateResult:
    """Trains a sound classifier on labelled clips and saves it as a model package.

    Args:
        clips: ``{label: [clip, ...]}``; a clip is a path, bytes or a sample array.
        name: the new model's name; saved into the model cache under it by default,
            so ``sound.identify(audio, model=name)`` finds it.
        destination: the ``.skmodel`` directory to write instead of the cache.
        base: the feature model (zoo name or a loaded SoundClassifier).
        sample_rate: rate of array clips.
        holdout: fraction of each class's patches held out to measure accuracy.
        epochs: gradient-descent epochs of the softmax head.
        **fit_options: passed to :func:`sensekit.tools.update.fit_head` (method, progress,
            cancel, seed).

    Returns:
        The :class:`~sensekit.tools.update.UpdateResult` (path, labels, accuracies).

    Raises:
        InvalidInput: fewer than two labels, an empty label, or unreadable clips.
    """
    classifier = base if isinstance(base, SoundClassifier) else SoundClassifier.from_model(base)
    feature_output = classifier.post.get("features")
    if not feature_output:
        raise InvalidInput(f"Model {classifier.model.name!r} exposes no embedding to train on")
    features, labels = _examples(classifier, clips, sample_rate)
    target = Path(destination) if destination is not None else registry.package_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    return fit_head(
        features,
        labels,
        classifier.model,
        feature_output,
        target,
        name,
        holdout=holdout,
        epochs=epochs,
        **fit_options,
    )
