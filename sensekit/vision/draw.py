"""Draws results on an image: boxes with labels, skeletons, classification labels."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from sensekit.core.errors import InvalidInput
from sensekit.core.types import BodyPose, Category, Detection
from sensekit.vision.image_input import ImageInput, load_image

# Body connections by keypoint name (BlazePose / COCO naming); pairs whose names a model
# does not have are skipped, so any model with named keypoints draws.
SKELETON = (
    ("left_shoulder", "right_shoulder"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("left_ankle", "left_heel"),
    ("left_heel", "left_foot_index"),
    ("left_ankle", "left_foot_index"),
    ("right_ankle", "right_heel"),
    ("right_heel", "right_foot_index"),
    ("right_ankle", "right_foot_index"),
    ("left_wrist", "left_pinky"),
    ("left_wrist", "left_index"),
    ("left_pinky", "left_index"),
    ("left_wrist", "left_thumb"),
    ("right_wrist", "right_pinky"),
    ("right_wrist", "right_index"),
    ("right_pinky", "right_index"),
    ("right_wrist", "right_thumb"),
    ("left_eye_outer", "left_eye"),
    ("left_eye", "left_eye_inner"),
    ("left_eye_inner", "nose"),
    ("nose", "right_eye_inner"),
    ("right_eye_inner", "right_eye"),
    ("right_eye", "right_eye_outer"),
    ("left_eye_outer", "left_ear"),
    ("right_eye_outer", "right_ear"),
    ("mouth_left", "mouth_right"),
    ("left_eye", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
)
_PALETTE = np.array(
    [
        (230, 25, 75),
        (60, 180, 75),
        (255, 225, 25),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 240, 240),
        (240, 50, 230),
        (210, 245, 60),
        (250, 190, 212),
        (0, 128, 128),
        (170, 110, 40),
    ]
)
MIN_KEYPOINT_CONFIDENCE = 0.5  # keypoints below this are not drawn


def _color(key: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in _PALETTE[key % len(_PALETTE)])  # type: ignore[return-value]


def _label(
    canvas: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], scale: float
) -> None:
    import cv2

    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    y = max(y, h + base)
    cv2.rectangle(canvas, (x, y - h - base), (x + w, y), color, -1)
    cv2.putText(canvas, text, (x, y - base), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def _draw_detection(canvas: np.ndarray, det: Detection, scale: float) -> None:
    import cv2

    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = det.box.to_pixels(w, h)
    color = _color(det.track_id if det.track_id is not None else det.index)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), color, max(1, round(scale * 3)))
    tag = f"#{det.track_id} " if det.track_id is not None else ""
    _label(canvas, f"{tag}{det.label} {det.score:.2f}", x0, y0, color, scale)


def _draw_pose(canvas: np.ndarray, pose: BodyPose, scale: float) -> None:
    import cv2

    h, w = canvas.shape[:2]
    points = {
        k.name: (round(k.x * w), round(k.y * h))
        for k in pose.keypoints
        if k.confidence >= MIN_KEYPOINT_CONFIDENCE
    }
    color = _color(pose.track_id or 0)
    thickness = max(1, round(scale * 3))
    for a, b in SKELETON:
        if a in points and b in points:
            cv2.line(canvas, points[a], points[b], color, thickness, cv2.LINE_AA)
    for point in points.values():
        cv2.circle(canvas, point, thickness + 2, (255, 255, 255), -1, cv2.LINE_AA)
    if pose.track_id is not None:
        x0, y0, _, _ = pose.box.to_pixels(w, h)
        _label(canvas, f"#{pose.track_id}", x0, y0, color, scale)


def draw(image: ImageInput, results: Any, bgr: bool = False) -> np.ndarray:
    """Returns an RGB uint8 copy of ``image`` with results drawn on it.

    Args:
        image: the image the results were computed on (path, bytes, PIL or array).
        results: a Detection, BodyPose or Category, or a list of them (mixed is fine).
        bgr: a numpy ``image`` is in OpenCV's BGR order.

    Raises:
        InvalidInput: the image cannot be read or a result is of an unknown type.
    """
    canvas = load_image(image, bgr=bgr).copy()
    scale = max(0.4, min(canvas.shape[:2]) / 800.0)
    items = (
        [results]
        if not isinstance(results, Iterable) or isinstance(results, (BodyPose, str))
        else list(results)
    )
    categories = []
    for item in items:
        if isinstance(item, Detection):
            _draw_detection(canvas, item, scale)
        elif isinstance(item, BodyPose):
            _draw_pose(canvas, item, scale)
        elif isinstance(item, Category):
            categories.append(item)
        else:
            raise InvalidInput(
                f"draw cannot draw a {type(item).__name__}; pass Detection, "
                "BodyPose or Category results"
            )
    line = round(30 * scale)
    for row, category in enumerate(categories):
        _label(
            canvas,
            f"{category.label} {category.score:.2f}",
            4,
            line * (row + 1),
            _color(row),
            scale,
        )
    return canvas
