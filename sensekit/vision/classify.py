"""Image classification: ranked labels with confidences (Core ML's VNClassifyImageRequest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sensekit.accelerate import nn
from sensekit.core.blocks import ImagePreprocess
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.tasks import LabelFilter, Task, cached_default, label_option
from sensekit.core.types import Category
from sensekit.vision.image_input import ImageInput, check_roi, load_image, preprocess, region

DEFAULT_MODEL = "efficientnet-lite0"


@dataclass(frozen=True)
class ClassifierOptions:
    """Options of :class:`ImageClassifier`.

    Attributes:
        top_k: how many categories to return (the best first).
        score_threshold: drop categories scoring below this.
        allow: only these labels may be returned (case-insensitive).
        deny: these labels are never returned.
        region_of_interest: normalized (x, y, width, height) to classify instead of the
            whole image.
        bgr: numpy inputs are in OpenCV's BGR order.
    """

    top_k: int = 5
    score_threshold: float = 0.0
    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] | None = None
    region_of_interest: tuple[float, float, float, float] | None = None
    bgr: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise InvalidInput(f"top_k must be a positive int, not {self.top_k!r}")
        if not 0.0 <= float(self.score_threshold) <= 1.0:
            raise InvalidInput(f"score_threshold must be in [0, 1], not {self.score_threshold!r}")
        check_roi(self.region_of_interest)
        LabelFilter(self.allow, self.deny)  # validated when made, not at the first call


class ImageClassifier(Task):
    """Classifies images with a model package whose task is image-classification."""

    MANIFEST_TASKS = ("image-classification",)
    Options = ClassifierOptions
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(self, model: Model, options: ClassifierOptions | None = None) -> None:
        super().__init__(model, options)
        manifest = model.manifest
        if not isinstance(manifest.inputs.get(""), ImagePreprocess):
            raise InvalidInput(f"Model {model.name!r} is not an image model")
        self._spec = manifest.inputs[""]
        self._post = manifest.postprocess
        self._labels = np.array(model.labels or [str(i) for i in range(self._classes())])
        self._lower = np.char.lower(self._labels.astype(str))

    def _classes(self) -> int:
        return int(self.model.description.outputs[0].shape[-1])

    def _preprocess(self, image: ImageInput, options: ClassifierOptions) -> np.ndarray:
        pixels = region(load_image(image, bgr=options.bgr), options.region_of_interest)
        tensor, _ = preprocess(pixels, self._spec)
        return tensor

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        name = self._post.get("output", "logits")
        out = self.model.predict({self._spec.input: batch})
        return out[name] if name in out else next(iter(out.values()))

    def _postprocess(self, logits: np.ndarray, options: ClassifierOptions) -> list[Category]:
        activation = self._post.get("activation", "softmax")
        scores = (
            nn.softmax(logits)
            if activation == "softmax"
            else nn.sigmoid(logits)
            if activation == "sigmoid"
            else logits
        )
        mask = (scores >= options.score_threshold) & LabelFilter.of(options).mask(self._lower)
        candidates = np.nonzero(mask)[0]
        values, order = nn.top_k(scores[candidates], options.top_k)
        return [
            Category(str(self._labels[candidates[i]]), float(v), int(candidates[i]))
            for v, i in zip(values, order)
        ]

    def classify(self, image: ImageInput, **overrides: Any) -> list[Category]:
        """Ranked categories for one image; keyword overrides replace options for this call."""
        options = self.resolve(overrides)
        logits = self._forward(self._preprocess(image, options))
        return self._postprocess(logits[0], options)

    def classify_batch(self, images: list[ImageInput], **overrides: Any) -> list[list[Category]]:
        """Classifies several images in one batched run."""
        if not isinstance(images, (list, tuple)):
            raise InvalidInput("classify_batch takes a list of images")
        if not images:
            return []
        options = self.resolve(overrides)
        batch = np.concatenate([self._preprocess(img, options) for img in images])
        return [self._postprocess(row, options) for row in self._forward(batch)]

    predict_batch = classify_batch
    __call__ = classify

    def features(self, image: ImageInput) -> np.ndarray:
        """The model's pooled feature vector for ``image`` (for training new heads)."""
        name = self._post.get("features")
        if not name:
            raise InvalidInput(f"Model {self.model.name!r} exposes no feature output")
        tensor = self._preprocess(image, self.options)
        return self.model.predict({self._spec.input: tensor})[name][0]

    def features_batch(self, images: list[ImageInput], batch_size: int = 16) -> np.ndarray:
        """Feature vectors [N, D] of several images, run ``batch_size`` at a time."""
        name = self._post.get("features")
        if not name:
            raise InvalidInput(f"Model {self.model.name!r} exposes no feature output")
        if not isinstance(images, (list, tuple)) or not images:
            raise InvalidInput("features_batch takes a non-empty list of images")
        rows = []
        for start in range(0, len(images), batch_size):
            batch = np.concatenate(
                [
                    self._preprocess(image, self.options)
                    for image in images[start : start + batch_size]
                ]
            )
            rows.append(self.model.predict({self._spec.input: batch})[name])
        return np.concatenate(rows)


def classify(
    image: ImageInput,
    *,
    top_k: int = 5,
    score_threshold: float = 0.0,
    allow: list[str] | None = None,
    deny: list[str] | None = None,
    model: str = DEFAULT_MODEL,
    **options: Any,
) -> list[Category]:
    """Classifies an image with a shared default classifier.

    Args:
        image: a path, bytes, PIL image or numpy array.
        top_k: how many categories to return.
        score_threshold: minimum score.
        allow, deny: label filters.
        model: zoo name or package path.
        **options: other :class:`ClassifierOptions` fields (region_of_interest, bgr).

    Returns:
        Categories, best first.
    """
    classifier = cached_default(("classify", str(model)), lambda: ImageClassifier.from_model(model))
    return classifier.classify(
        image,
        top_k=top_k,
        score_threshold=score_threshold,
        allow=label_option(allow),
        deny=label_option(deny),
        **options,
    )
