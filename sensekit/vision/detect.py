"""Object detection: labelled boxes (Apple Vision's VNRecognizeObjectsRequest).

Decoding is resolved from the manifest's ``postprocess`` block: NanoDet-m's heads give
per-stride class scores and generalized-focal-loss box distributions
(sensekit/zoo/nanodet.py); the COCO CenterNet gives its best boxes as rows
(sensekit/zoo/centernet_coco.py). The default runs both and fuses their boxes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensekit.accelerate import nn
from sensekit.core.blocks import ImagePreprocess
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.tasks import LabelFilter, Task, cached_default, label_option
from sensekit.core.types import Box, Detection
from sensekit.vision.image_input import ImageInput, Prepared, check_roi, load_image, prepare

# NanoDet-m and CenterNet fused (weighted box fusion): on the hand-labelled dev set
# (tests/vision/detect_dev) it keeps NanoDet's recall with far fewer false boxes; see
# bench/vision.py --only devset for the table that chose it.
DEFAULT_MODEL = "nanodet-m+centernet"
# Box decoders a package's postprocess block may name: NanoDet's generalized focal loss
# heads; a graph that already outputs decoded boxes and scores per cell (sensekit's own
# CenterNet); or one that outputs its best detections as (x0, y0, x1, y1, score, class)
# rows (the COCO CenterNet).
DECODERS = ("gfl", "dense", "rows")


@dataclass(frozen=True)
class DetectorOptions:
    """Options of :class:`ObjectDetector`.

    Attributes:
        score_threshold: drop detections scoring below this.
        iou_threshold: boxes of one class overlapping a better one by more than this IoU
            are suppressed (non-maximum suppression).
        max_results: at most this many detections, best first.
        allow: only these labels may be returned (case-insensitive).
        deny: these labels are never returned.
        region_of_interest: normalized (x, y, width, height) to search instead of the
            whole image; boxes are still relative to the whole image.
        bgr: numpy inputs are in OpenCV's BGR order.
        flip: also run the image mirrored left-right and fuse both passes' boxes
            (test-time augmentation: about twice the time).
    """

    score_threshold: float = 0.35
    iou_threshold: float = 0.5
    max_results: int = 100
    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] | None = None
    region_of_interest: tuple[float, float, float, float] | None = None
    bgr: bool = False
    flip: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.flip, bool):
            raise InvalidInput(f"flip must be True or False, not {self.flip!r}")
        if (
            not isinstance(self.score_threshold, (int, float))
            or not 0.0 <= self.score_threshold <= 1.0
        ):
            raise InvalidInput(f"score_threshold must be in [0, 1], not {self.score_threshold!r}")
        if not isinstance(self.iou_threshold, (int, float)) or not 0.0 < self.iou_threshold <= 1.0:
            raise InvalidInput(f"iou_threshold must be in (0, 1], not {self.iou_threshold!r}")
        if not isinstance(self.max_results, int) or self.max_results < 1:
            raise InvalidInput(f"max_results must be a positive int, not {self.max_results!r}")
        check_roi(self.region_of_interest)
        LabelFilter(self.allow, self.deny)  # validated when made, not at the first call


def _cell_centers(width: int, height: int, stride: int, offset: float) -> np.ndarray:
    """[cells, 2] (x, y) centres in input pixels, row-major like the graph's outputs."""
    ys, xs = np.meshgrid(np.arange(height // stride), np.arange(width // stride), indexing="ij")
    return ((np.stack([xs.ravel(), ys.ravel()], axis=1) + offset) * stride).astype(np.float32)


# Boxes of several passes (models, or the mirrored image) that overlap this much are one
# object in weighted box fusion; each pass keeps boxes down to this score before fusing.
_FUSION_IOU = 0.55
_FUSION_FLOOR = 0.1


class ObjectDetector(Task):
    """Detects objects with a model package whose task is object-detection.

    ``partners`` are further detection packages with the same labels: every image goes
    through each, and their boxes are fused with the main model's (weighted box fusion).
    ``from_model("nanodet-m+centernet")`` makes such an ensemble by name.
    """

    MANIFEST_TASKS = ("object-detection",)
    Options = DetectorOptions
    DEFAULT_MODEL = DEFAULT_MODEL

    @classmethod
    def from_model(
        cls,
        name_or_path: Any = None,
        options: DetectorOptions | None = None,
        *,
        compute_units: Any = "auto",
    ) -> ObjectDetector:
        """Loads a model by zoo name or package path; ``"a+b"`` fuses several (the first
        one's options and labels lead)."""
        from sensekit.core import registry
        from sensekit.core.model import Model

        name = cls.DEFAULT_MODEL if name_or_path is None else name_or_path
        parts = registry.members(name) if isinstance(name, str) else [name]
        if any(not part for part in parts):
            raise InvalidInput(f"model {name!r}: empty name in a '+' ensemble")
        models = [Model.load(part, compute_units=compute_units) for part in parts]
        return cls(models[0], options, partners=models[1:])

    def __init__(
        self, model: Model, options: DetectorOptions | None = None, partners: Any = ()
    ) -> None:
        super().__init__(model, options)
        self._partners = [ObjectDetector(partner) for partner in partners]
        for partner in self._partners:
            if list(partner.model.labels) != list(model.labels):
                raise InvalidInput(
                    f"Models {model.name!r} and {partner.model.name!r} have different labels; "
                    "only detectors of the same classes can be fused"
                )
        post = model.manifest.postprocess
        image = model.manifest.inputs.get("")
        if not isinstance(image, ImagePreprocess) or post.get("kind") != "detection":
            raise InvalidInput(f"Model {model.name!r} is not an object-detection model")
        if post.get("decoder") not in DECODERS:
            raise InvalidInput(
                f"Model {model.name!r}: unknown box decoder "
                f"{post.get('decoder')!r}; this sensekit reads {DECODERS}"
            )
        self._spec, self._post = image, post
        self._labels = np.array(model.labels, dtype=str)
        self._lower = np.char.lower(self._labels)
        width, height = self._spec.size
        self._size = (width, height)
        if post["decoder"] == "gfl":
            self._centers = np.concatenate(
                [
                    _cell_centers(width, height, h["stride"], post.get("center_offset", 0.5))
                    for h in post["heads"]
                ]
            )
            self._strides = np.concatenate(
                [
                    np.full(
                        (width // h["stride"]) * (height // h["stride"]), h["stride"], np.float32
                    )
                    for h in post["heads"]
                ]
            )

    def _preprocess(self, image: ImageInput, options: DetectorOptions) -> Prepared:
        return prepare(image, self._spec, options.region_of_interest, options.bgr)

    def _forward(self, tensors: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        name = self._spec.input
        return self.model.predict_batch([{name: t} for t in tensors])

    def _decode(self, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """All cells -> boxes [N, 4] (x0, y0, x1, y1 in input pixels), scores [N, classes]."""
        limit = np.tile(np.float32(self._size), 2)
        if self._post["decoder"] == "rows":
            rows = outputs[self._post["detections"]].reshape(-1, 6)
            classes = rows[:, 5]
            known = np.isfinite(classes) & (classes >= 0) & (classes < len(self._labels))
            rows = rows[known]
            scores = np.zeros((len(rows), len(self._labels)), np.float32)
            scores[np.arange(len(rows)), rows[:, 5].astype(np.int64)] = rows[:, 4]
            return np.clip(rows[:, :4], 0, limit), scores
        if self._post["decoder"] == "dense":  # the graph decodes: boxes and scores per cell
            boxes = outputs[self._post["boxes"]].reshape(-1, 4)
            return np.clip(boxes, 0, limit), outputs[self._post["scores"]].reshape(
                -1, len(self._labels)
            )
        heads, bins = self._post["heads"], self._post.get("reg_max", 10) + 1
        dist = np.concatenate([outputs[h["boxes"]].reshape(-1, 4 * bins) for h in heads])
        scores = np.concatenate(
            [outputs[h["scores"]].reshape(-1, len(self._labels)) for h in heads]
        )
        if self._post.get("score_activation", "none") == "sigmoid":
            scores = nn.sigmoid(scores)
        sides = nn.distribution_expectation(dist, bins) * self._strides[:, None]
        boxes = np.concatenate([self._centers - sides[:, :2], self._centers + sides[:, 2:]], 1)
        return np.clip(boxes, 0, limit), scores

    def _class_mask(self, options: DetectorOptions) -> np.ndarray:
        return LabelFilter.of(options).mask(self._lower)

    def _postprocess(
        self, outputs: dict[str, np.ndarray], frame: Prepared, options: DetectorOptions
    ) -> list[Detection]:
        boxes, scores = self._decode(outputs)
        scores = np.where(np.isfinite(scores), scores, 0.0)
        cells, classes = np.nonzero(
            (scores >= options.score_threshold) & self._class_mask(options)[None, :]
        )
        agnostic = bool(self._post.get("class_agnostic_nms", False))
        keep = nn.nms(
            boxes[cells],
            scores[cells, classes],
            options.iou_threshold,
            classes=None if agnostic else classes,
            max_output=options.max_results,
        )
        width, height = frame.image_size
        results = []
        for i in keep[: options.max_results]:
            x0, y0, x1, y1 = boxes[cells[i]]
            xs, ys = frame.to_image(np.array([x0, x1]), np.array([y0, y1]))
            xs, ys = np.clip(xs, 0.0, 1.0), np.clip(ys, 0.0, 1.0)
            box = Box(float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]))
            results.append(
                Detection(
                    str(self._labels[classes[i]]),
                    float(scores[cells[i], classes[i]]),
                    int(classes[i]),
                    box,
                    box.to_pixels(width, height),
                )
            )
        return results

    def detect(self, image: ImageInput, **overrides: Any) -> list[Detection]:
        """Objects in one image, best first; keyword overrides replace options for this call.

        Raises:
            InvalidInput: the image cannot be read or an option is invalid.
        """
        return self.detect_batch([image], **overrides)[0]

    def _single_pass(
        self, images: list[ImageInput], options: DetectorOptions
    ) -> list[list[Detection]]:
        frames = [self._preprocess(image, options) for image in images]
        outputs = self._forward([frame.tensor for frame in frames])
        return [self._postprocess(out, frame, options) for out, frame in zip(outputs, frames)]

    def _fused(self, images: list[ImageInput], options: DetectorOptions) -> list[list[Detection]]:
        """Every model on every view (the image, and its mirror with ``flip``), fused."""
        pixels = [load_image(image, bgr=options.bgr) for image in images]
        views: list[tuple[list[np.ndarray], bool]] = [(pixels, False)]
        pass_options = dataclasses.replace(
            options,
            score_threshold=min(options.score_threshold, _FUSION_FLOOR),
            max_results=max(options.max_results, 100),
            bgr=False,
            flip=False,
        )
        if options.flip:
            views.append(([np.ascontiguousarray(p[:, ::-1]) for p in pixels], True))
        passes = []  # per pass: detections per image, boxes in the image's own frame
        for detector in [self, *self._partners]:
            for view, mirrored in views:
                roi = options.region_of_interest
                if mirrored and roi is not None:
                    roi = (1.0 - roi[0] - roi[2], roi[1], roi[2], roi[3])
                found = detector._single_pass(
                    view, dataclasses.replace(pass_options, region_of_interest=roi)
                )
                passes.append([_unmirror(d) if mirrored else d for d in found])
        return [
            _fuse([p[i] for p in passes], options, image.shape[1], image.shape[0])
            for i, image in enumerate(pixels)
        ]

    def detect_batch(self, images: list[ImageInput], **overrides: Any) -> list[list[Detection]]:
        """Detects objects in several images (one list of detections per image)."""
        if not isinstance(images, (list, tuple)):
            raise InvalidInput("detect_batch takes a list of images")
        options = self.resolve(overrides)
        if options.flip or self._partners:
            return self._fused(list(images), options)
        return self._single_pass(list(images), options)

    predict_batch = detect_batch
    __call__ = detect


def _unmirror(detections: list[Detection]) -> list[Detection]:
    """Detections on the mirrored image -> the same boxes on the image itself."""
    out = []
    for d in detections:
        box = Box(1.0 - d.box.x_max, d.box.y_min, 1.0 - d.box.x_min, d.box.y_max)
        out.append(dataclasses.replace(d, box=box))
    return out


def _fuse(
    passes: list[list[Detection]], options: DetectorOptions, width: int, height: int
) -> list[Detection]:
    """Weighted box fusion of one image's detections from several passes."""
    found = [(i, d) for i, detections in enumerate(passes) for d in detections]
    if not found:
        return []
    boxes = np.array([[d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max] for _, d in found])
    labels = {d.index: d.label for _, d in found}
    fused, scores, classes = nn.box_fusion(
        boxes,
        np.array([d.score for _, d in found]),
        np.array([d.index for _, d in found]),
        np.array([i for i, _ in found]),
        len(passes),
        _FUSION_IOU,
    )
    results = []
    for box, score, index in zip(fused, scores, classes):
        if score < options.score_threshold:
            continue
        normalized = Box(*(float(v) for v in np.clip(box, 0.0, 1.0)))
        results.append(
            Detection(
                labels[int(index)],
                float(score),
                int(index),
                normalized,
                normalized.to_pixels(width, height),
            )
        )
    return results[: options.max_results]


def detect(
    image: ImageInput,
    *,
    score_threshold: float = 0.35,
    iou_threshold: float = 0.5,
    max_results: int = 100,
    allow: list[str] | None = None,
    deny: list[str] | None = None,
    model: str = DEFAULT_MODEL,
    **options: Any,
) -> list[Detection]:
    """Detects objects with a shared default detector.

    Args:
        image: a path, bytes, PIL image or numpy array.
        score_threshold: minimum score.
        iou_threshold: non-maximum suppression overlap (per class).
        max_results: at most this many detections.
        allow, deny: label filters.
        model: zoo name or package path.
        **options: other :class:`DetectorOptions` fields (region_of_interest, bgr).

    Returns:
        Detections, best first, with boxes normalized to the image and in pixels.
    """
    detector = cached_default(("detect", str(model)), lambda: ObjectDetector.from_model(model))
    return detector.detect(
        image,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        max_results=max_results,
        allow=label_option(allow),
        deny=label_option(deny),
        **options,
    )
