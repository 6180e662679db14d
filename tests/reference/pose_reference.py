"""Reference pipeline for BlazePose: MediaPipe's pose graphs re-done on the original TFLite.

The two .tflite files of the mediapipe wheel run in TensorFlow's ``tf.lite.Interpreter``,
fed and decoded as MediaPipe's graphs say, written without any of sensekit's code:

1. Detector (``pose_detection_cpu.pbtxt``): the whole image letterboxed into 224x224
   (keep_aspect_ratio, BORDER_ZERO), RGB in [-1, 1]; SSD anchors (SsdAnchorsCalculator:
   5 layers, strides 8/16/32/32/32, fixed size), boxes and 4 keypoints decoded per anchor
   (TensorsToDetectionsCalculator, scale 224, sigmoid scores clipped at 100), min score
   0.5 (the pose solution's min_detection_confidence), weighted NMS at IoU 0.3, the best
   detection's keypoints with the letterbox removed.
2. Landmarks (``pose_detection_to_roi`` + ``pose_landmark_by_roi_cpu.pbtxt``): a square
   ROI around keypoint 0 (hips) of side 2 x |kp1 - kp0| x 1.25, rotated so kp0 -> kp1
   points up, warped to 256x256 by OpenCV as ImageToTensorCalculator's CPU converter does
   (rotated-rect corners, warpPerspective, BORDER_REPLICATE: the calculator's default),
   RGB in [0, 1]; landmarks = the first 33 of 39 x (x, y, z, visibility, presence) in
   256-px units, projected back through the ROI (LandmarkProjectionCalculator).

Two deliberate departures, both measured (see the tolerances): the detector input is
resampled with an area filter, not MediaPipe's plain bilinear warp, which aliases on these
2.3x and 2.9x downscales and alone moves the alignment keypoints by 15.9 px (astronaut)
and 6.8 px (person); and the landmark heatmap refinement
(RefineLandmarksFromHeatmapCalculator), a post-processing step sensekit does not have, is
left out (it moves person.jpg's landmarks by up to 6.2 px).

The landmark stage is fed sensekit's own alignment keypoints, which stage 1 checks, so
each stage is compared on identical inputs and its tolerance holds only its own noise.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from vision_reference import decode_photo, original_file

from sensekit.vision import PoseDetector

POSE_PHOTOS = ("astronaut.png", "person.jpg")
# astronaut.png's ROI (1319 px for a 512 px photo) runs far outside the image, where the
# crop must replicate the border as MediaPipe does: with zero padding (sensekit before the
# fix) its landmarks moved by up to 160 px; with replicate they agree to 0.05 px.
LANDMARK_PHOTOS = ("person.jpg", "astronaut.png")

# Largest distance between sensekit's and the reference's alignment keypoints (the
# detector's 4 points), in image pixels. Measured, unmutated: astronaut 0.55, person 1.43
# (OpenCV INTER_AREA vs TF's area resize, TF's vs OpenCV's JPEG decoding). Planted
# detector bugs give 7.5 to 66 px on at least one photo.
ALIGNMENT_TOLERANCE_PX = 4.0
# Largest distance of the 33 landmarks, in image pixels, with the same ROI on both sides.
# Measured, unmutated: person 0.60 (TF's vs OpenCV's JPEG decoding). Planted landmark-input
# bugs give 5.8 to 32 px.
LANDMARK_TOLERANCE_PX = 2.0

DETECTOR_SIZE, LANDMARK_SIZE = 224, 256
ANCHOR_STRIDES = (8, 16, 32, 32, 32)  # SsdAnchorsCalculator options, pose_detection_cpu
ANCHORS_PER_CELL = 2  # aspect ratio 1.0 plus the interpolated scale
MIN_SCORE, NMS_IOU, SCORE_CLIP = 0.5, 0.3, 100.0
ROI_SCALE, ROI_ANGLE = 1.25, np.pi / 2  # RectTransformation scale; target angle 90 degrees
LANDMARK_VALUES, BODY_LANDMARKS = 5, 33


@functools.cache
def interpreter(role: str) -> Any:
    """tf.lite.Interpreter on the wheel's original .tflite ("detector" or "landmarks")."""
    import tensorflow as tf

    with warnings.catch_warnings():  # its deprecation notice points to LiteRT, not installed
        warnings.filterwarnings("ignore", "(?s).*tf.lite.Interpreter is deprecated")
        model = tf.lite.Interpreter(model_path=str(original_file("blazepose", role)))
    model.allocate_tensors()
    return model


def run_tflite(role: str, tensor: np.ndarray) -> dict[str, np.ndarray]:
    model = interpreter(role)
    model.set_tensor(model.get_input_details()[0]["index"], tensor.astype(np.float32))
    model.invoke()
    return {d["name"]: model.get_tensor(d["index"])[0] for d in model.get_output_details()}


@functools.cache
def anchor_centers() -> np.ndarray:
    """[2254, 2] normalized anchor centres; consecutive layers of one stride share a grid."""
    centers, layer = [], 0
    while layer < len(ANCHOR_STRIDES):
        stride, repeats = ANCHOR_STRIDES[layer], 0
        while layer < len(ANCHOR_STRIDES) and ANCHOR_STRIDES[layer] == stride:
            repeats, layer = repeats + 1, layer + 1
        cells = int(np.ceil(DETECTOR_SIZE / stride))
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = (np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) / cells
        centers.append(np.repeat(grid, ANCHORS_PER_CELL * repeats, axis=0))
    return np.concatenate(centers)


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, float, float, float, float]:
    """224x224 in [-1, 1], and (scale_x, scale_y, pad_x, pad_y) mapping image -> input."""
    import tensorflow as tf

    height, width = rgb.shape[:2]
    scale = DETECTOR_SIZE / max(height, width)
    new_h, new_w = round(height * scale), round(width * scale)
    resized = tf.image.resize(rgb[None].astype(np.float32), [new_h, new_w], method="area")
    pad_y, pad_x = (DETECTOR_SIZE - new_h) // 2, (DETECTOR_SIZE - new_w) // 2
    boxed = tf.image.pad_to_bounding_box(resized, pad_y, pad_x, DETECTOR_SIZE, DETECTOR_SIZE)
    return boxed.numpy()[0] / 127.5 - 1.0, new_w / width, new_h / height, pad_x, pad_y


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, points: np.ndarray) -> np.ndarray:
    """MediaPipe's WEIGHTED suppression; returns the best cluster's score-weighted points."""
    top = int(np.argmax(scores))
    low = np.maximum(boxes[:, :2], boxes[top, :2])
    high = np.minimum(boxes[:, :2] + boxes[:, 2:], boxes[top, :2] + boxes[top, 2:])
    overlap = np.clip(high - low, 0, None).prod(axis=1)
    iou = overlap / (boxes[:, 2:].prod(1) + boxes[top, 2:].prod() - overlap)
    members = iou > NMS_IOU  # includes the top detection itself
    weights = scores[members] / scores[members].sum()
    return np.tensordot(weights, points[members], axes=1)


@functools.cache
def alignment_keypoints(photo: Path) -> np.ndarray | None:
    """The best person's 4 alignment keypoints in image pixels, or None if none found."""
    tensor, scale_x, scale_y, pad_x, pad_y = letterbox(decode_photo(photo))
    outputs = run_tflite("detector", tensor[None])
    raw = next(v for v in outputs.values() if v.shape[-1] == 12).astype(np.float64)
    logits = next(v for v in outputs.values() if v.shape[-1] == 1)[:, 0].astype(np.float64)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= MIN_SCORE
    if not keep.any():
        return None
    anchors = anchor_centers()[keep] * DETECTOR_SIZE  # box = (cx, cy, w, h) off the anchor
    raw = raw[keep]
    centers = raw[:, :2] + anchors
    boxes = np.concatenate([centers - raw[:, 2:4] / 2, raw[:, 2:4]], axis=1)
    points = raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :]
    best = _weighted_nms(boxes, scores[keep], points)
    return (best - [pad_x, pad_y]) / [scale_x, scale_y]  # letterbox removed


def roi_crop(rgb: np.ndarray, alignment: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The rotated square ROI warped to 256x256 in [0, 1]; and its centre, side, angle."""
    import cv2

    center, scale_point = alignment[0], alignment[1]
    side = 2.0 * float(np.hypot(*(scale_point - center))) * ROI_SCALE
    angle = ROI_ANGLE - np.arctan2(-(scale_point[1] - center[1]), scale_point[0] - center[0])
    angle = float((angle + np.pi) % (2 * np.pi) - np.pi)
    corners = cv2.boxPoints(((center[0], center[1]), (side, side), np.degrees(angle)))
    target = np.float32(
        [[0, LANDMARK_SIZE], [0, 0], [LANDMARK_SIZE, 0], [LANDMARK_SIZE, LANDMARK_SIZE]]
    )  # bottom-left, top-left, ...
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    crop = cv2.warpPerspective(
        rgb,
        matrix,
        (LANDMARK_SIZE, LANDMARK_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return crop.astype(np.float32) / 255.0, center, side, angle


def landmarks(photo: Path, alignment: np.ndarray) -> np.ndarray:
    """[33, 2] body landmarks in image pixels for the ROI given by ``alignment``."""
    crop, center, side, angle = roi_crop(decode_photo(photo), alignment)
    outputs = run_tflite("landmarks", crop[None])
    values = next(v for v in outputs.values() if v.shape == (39 * LANDMARK_VALUES,))
    xy = values.reshape(-1, LANDMARK_VALUES)[:BODY_LANDMARKS, :2] / LANDMARK_SIZE - 0.5
    cos, sin = np.cos(angle), np.sin(angle)
    rotated = np.stack([cos * xy[:, 0] - sin * xy[:, 1], sin * xy[:, 0] + cos * xy[:, 1]], 1)
    return center + rotated * side


@dataclass(frozen=True)
class PoseComparison:
    """sensekit's pose stages against the MediaPipe reference, on one photo."""

    photo: str
    alignment_error_px: float  # detector stage: largest keypoint distance
    landmark_error_px: float | None  # landmark stage (None: not compared on this photo)

    @property
    def agrees(self) -> bool:
        return self.alignment_error_px <= ALIGNMENT_TOLERANCE_PX and (
            self.landmark_error_px is None or self.landmark_error_px <= LANDMARK_TOLERANCE_PX
        )

    def __str__(self) -> str:
        landmark = (
            "not compared"
            if self.landmark_error_px is None
            else f"{self.landmark_error_px:.2f} px (tolerance {LANDMARK_TOLERANCE_PX})"
        )
        return (
            f"{self.photo}: alignment {self.alignment_error_px:.2f} px (tolerance "
            f"{ALIGNMENT_TOLERANCE_PX}), landmarks {landmark}"
        )


def compare_pose(poser: PoseDetector, photo: Path, with_landmarks: bool) -> PoseComparison:
    """Both of sensekit's stages, run on its own preprocessing, against the reference."""
    options = poser.options
    frame = poser._preprocess(photo, options)  # the manifest's detector preprocessing
    people = poser._people(poser._forward(frame.tensor, "detector"), frame, options)
    reference = alignment_keypoints(photo)
    if not people or reference is None:  # one side found nobody: as far apart as can be
        return PoseComparison(photo.name, float("inf"), float("inf") if with_landmarks else None)
    ours = people[0][0]
    alignment_error = float(np.max(np.hypot(*(ours - reference).T)))
    if not with_landmarks:
        return PoseComparison(photo.name, alignment_error, None)
    poses = poser._postprocess(frame, [poser._roi(a) for a, _ in people[:1]], options)  # landmarks
    if not poses:
        return PoseComparison(photo.name, alignment_error, float("inf"))
    width, height = frame.image_size
    found = np.array([[k.x * width, k.y * height] for k in poses[0].keypoints])
    expected = landmarks(photo, ours)
    return PoseComparison(
        photo.name, alignment_error, float(np.max(np.hypot(*(found - expected).T)))
    )
