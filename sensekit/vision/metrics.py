"""Detection accuracy: IoU matching, recall/precision and mAP@0.5 (VOC-style, all points)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.accelerate import nn


@dataclass(frozen=True)
class Prediction:
    """Detections of one image: boxes [N, 4], scores [N], class indices [N]."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Truth:
    """Ground truth of one image: boxes [M, 4] and class indices [M]."""

    boxes: np.ndarray
    labels: np.ndarray


def _greedy_matches(pred: Prediction, truth: Truth, iou: float, same_class: bool) -> np.ndarray:
    """For each prediction (best first) the index of the truth it matches, or -1."""
    order = np.argsort(-pred.scores, kind="stable")
    overlaps = nn.box_iou(
        np.asarray(pred.boxes, np.float64).reshape(-1, 4),
        np.asarray(truth.boxes, np.float64).reshape(-1, 4),
    )
    taken = np.zeros(len(truth.labels), bool)
    matched = np.full(len(pred.scores), -1)
    for p in order:
        candidates = overlaps[p].copy() if len(truth.labels) else np.zeros(0)
        if same_class and len(candidates):
            candidates[truth.labels != pred.labels[p]] = -1
        candidates[taken] = -1
        if len(candidates) and candidates.max() >= iou:
            best = int(candidates.argmax())
            taken[best], matched[p] = True, best
    return matched


def average_precision(
    predictions: list[Prediction], truths: list[Truth], classes: int, iou: float = 0.5
) -> dict[str, float | list[float]]:
    """Per-class AP at ``iou`` (all-point interpolation) and their mean over the classes
    that occur in the truth."""
    per_class = []
    for c in range(classes):
        scores, hits, total = [], [], 0
        for pred, truth in zip(predictions, truths):
            keep = pred.labels == c
            sub = Prediction(pred.boxes[keep], pred.scores[keep], pred.labels[keep])
            gt = Truth(truth.boxes[truth.labels == c], truth.labels[truth.labels == c])
            total += len(gt.labels)
            matched = _greedy_matches(sub, gt, iou, same_class=False)
            scores.extend(sub.scores.tolist())
            hits.extend((matched >= 0).tolist())
        if total == 0:
            per_class.append(float("nan"))
            continue
        order = np.argsort(-np.asarray(scores), kind="stable")
        tp = np.cumsum(np.asarray(hits, float)[order]) if len(order) else np.zeros(0)
        recall = np.concatenate([[0.0], tp / total])
        precision = np.concatenate([[1.0], tp / np.arange(1, len(tp) + 1)])
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        per_class.append(float(np.sum(np.diff(recall) * envelope[1:])))
    valid = [ap for ap in per_class if not np.isnan(ap)]
    return {"map": float(np.mean(valid)) if valid else 0.0, "per_class": per_class}


def found_and_read(
    predictions: list[Prediction], truths: list[Truth], iou: float = 0.5
) -> dict[str, float]:
    """Share of true objects found (any label, IoU >= ``iou``), the share found with the
    right label, and the precision of the predictions (as the dice goals are stated)."""
    found = right = total = predicted = correct = 0
    for pred, truth in zip(predictions, truths):
        matched = _greedy_matches(pred, truth, iou, same_class=False)
        hit = matched[matched >= 0]
        total += len(truth.labels)
        predicted += len(pred.labels)
        found += len(hit)
        good = int(np.sum(truth.labels[hit] == pred.labels[matched >= 0]))
        right += good
        correct += good
    return {
        "found": found / max(total, 1),
        "read_right": right / max(total, 1),
        "precision": correct / max(predicted, 1),
        "objects": total,
        "predictions": predicted,
    }


def inside_share(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """For each box [N, 4], the largest share of its area inside one of ``regions`` [M, 4]."""
    if len(boxes) == 0 or len(regions) == 0:
        return np.zeros(len(boxes))
    lt = np.maximum(boxes[:, None, :2], regions[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], regions[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 1e-9, None), axis=1)
    return (inter / area[:, None]).max(axis=1)


def drop_ignored(
    pred: Prediction, truth: Truth, ignore: np.ndarray, iou: float = 0.5
) -> Prediction:
    """Removes predictions that match no true box of their class but lie mostly (>= half
    their area) inside an ignore region (a crowd, a tiny or ambiguous object): they count
    neither for nor against the detector, as COCO's ``iscrowd`` regions."""
    ignore = np.asarray(ignore, np.float64).reshape(-1, 4)
    if len(pred.scores) == 0 or len(ignore) == 0:
        return pred
    matched = _greedy_matches(pred, truth, iou, same_class=True)
    keep = (matched >= 0) | (inside_share(np.asarray(pred.boxes, np.float64), ignore) < 0.5)
    return Prediction(pred.boxes[keep], pred.scores[keep], pred.labels[keep])


def scored_detections(detections: list[Any], item: LabelledImage) -> Prediction:
    """Detections (``Detection``) of one labelled image as a :class:`Prediction` in pixels,
    ignore regions applied (:func:`drop_ignored`)."""
    pred = Prediction(
        np.array([d.pixels for d in detections], np.float64).reshape(-1, 4),
        np.array([d.score for d in detections], np.float64),
        np.array([d.index for d in detections], np.int64),
    )
    return drop_ignored(pred, item.truth, item.ignore)


def detection_table(
    predictions: list[Prediction],
    truths: list[Truth],
    class_names: list[str],
    score_threshold: float,
    iou: float = 0.5,
) -> dict[str, Any]:
    """Recall and precision at ``score_threshold`` (a prediction counts when it matches a
    true box of its class at IoU >= ``iou``), overall and per class that occurs in the
    truth or the predictions, and mAP at ``iou`` over the classes in the truth."""
    ap = average_precision(predictions, truths, len(class_names), iou)
    kept = []
    for pred in predictions:
        keep = pred.scores >= score_threshold
        kept.append(Prediction(pred.boxes[keep], pred.scores[keep], pred.labels[keep]))
    hits = np.zeros(len(class_names))
    predicted = np.zeros(len(class_names))
    total = np.zeros(len(class_names))
    for pred, truth in zip(kept, truths):
        matched = _greedy_matches(pred, truth, iou, same_class=True)
        np.add.at(hits, pred.labels[matched >= 0], 1)
        np.add.at(predicted, pred.labels, 1)
        np.add.at(total, truth.labels, 1)
    per_class = {}
    for c in np.flatnonzero((total > 0) | (predicted > 0)):
        per_class[class_names[c]] = {
            "objects": int(total[c]),
            "predicted": int(predicted[c]),
            "recall": float(hits[c] / total[c]) if total[c] else None,
            "precision": float(hits[c] / predicted[c]) if predicted[c] else None,
            "ap50": None if np.isnan(ap["per_class"][c]) else float(ap["per_class"][c]),
        }
    return {
        "recall": float(hits.sum() / max(total.sum(), 1)),
        "precision": float(hits.sum() / max(predicted.sum(), 1)),
        "map50": ap["map"],
        "objects": int(total.sum()),
        "predicted": int(predicted.sum()),
        "found": int(hits.sum()),
        "per_class": per_class,
    }


# COCO's per-keypoint falloffs (sigmas) for object keypoint similarity, by COCO name.
COCO_KEYPOINT_SIGMAS = {
    "nose": 0.026,
    "left_eye": 0.025,
    "right_eye": 0.025,
    "left_ear": 0.035,
    "right_ear": 0.035,
    "left_shoulder": 0.079,
    "right_shoulder": 0.079,
    "left_elbow": 0.072,
    "right_elbow": 0.072,
    "left_wrist": 0.062,
    "right_wrist": 0.062,
    "left_hip": 0.107,
    "right_hip": 0.107,
    "left_knee": 0.087,
    "right_knee": 0.087,
    "left_ankle": 0.089,
    "right_ankle": 0.089,
}


def keypoint_similarity(
    predicted: dict[str, tuple[float, float]],
    truth: dict[str, tuple[float, float]],
    area: float,
) -> float:
    """COCO's object keypoint similarity (OKS) of one predicted person to one labelled
    person, over the labelled COCO keypoints; pixels in, 0..1 out. A keypoint the
    prediction lacks scores 0. ``area`` is the person's area in pixels (COCO uses the
    segment area; the box area here)."""
    names = [n for n in truth if n in COCO_KEYPOINT_SIGMAS]
    if not names:
        return 0.0
    total = 0.0
    for name in names:
        if name not in predicted:
            continue
        dx = predicted[name][0] - truth[name][0]
        dy = predicted[name][1] - truth[name][1]
        k = 2 * COCO_KEYPOINT_SIGMAS[name]
        total += float(np.exp(-(dx * dx + dy * dy) / (2 * max(area, 1.0) * k * k)))
    return total / len(names)


def pose_table(
    predictions: list[list[dict[str, tuple[float, float]]]],
    truths: list[list[tuple[dict[str, tuple[float, float]], float]]],
    threshold: float = 0.5,
) -> dict[str, float]:
    """People found and keypoint accuracy over a set of images.

    ``predictions[i]`` holds the poses found in image i (keypoint name -> pixel (x, y), best
    first); ``truths[i]`` the labelled people as (keypoints, box area). Each labelled person
    takes the best unmatched prediction by OKS; it counts as found at OKS >= ``threshold``.
    Returns recall, precision, mean OKS of the labelled people (0 for one not found),
    and the counts."""
    found = people = predicted = 0
    similarity = 0.0
    for preds, truth in zip(predictions, truths):
        taken: set[int] = set()
        predicted += len(preds)
        for keypoints, area in truth:
            people += 1
            scores = [
                (keypoint_similarity(p, keypoints, area), j)
                for j, p in enumerate(preds)
                if j not in taken
            ]
            best, j = max(scores, default=(0.0, -1))
            if best >= threshold:
                found += 1
                taken.add(j)
            similarity += best if best >= threshold else 0.0
    return {
        "recall": found / max(people, 1),
        "precision": found / max(predicted, 1),
        "mean_oks": similarity / max(people, 1),
        "people": people,
        "predicted": predicted,
        "found": found,
    }


@dataclass(frozen=True)
class LabelledImage:
    """One image of a hand-labelled set: its file, true boxes and ignore regions (pixels)."""

    path: Path
    truth: Truth
    ignore: np.ndarray


def read_box_labels(labels_json: str | Path, class_names: list[str]) -> list[LabelledImage]:
    """A box-labelled image set (``tests/vision/detect_dev/labels.json``'s format): images
    marked ``local`` lie next to the file, the others are sensekit sample media."""
    import json

    from sensekit.samples import media_path

    labels_json = Path(labels_json)
    index = {name: i for i, name in enumerate(class_names)}
    images = json.loads(labels_json.read_text(encoding="utf-8"))["images"]
    out = []
    for name, record in images.items():
        path = labels_json.parent / name if record["file"] == "local" else media_path(name)
        objects = record["objects"]
        truth = Truth(
            np.array([o["box"] for o in objects], np.float64).reshape(-1, 4),
            np.array([index[o["label"]] for o in objects], np.int64),
        )
        ignore = np.array([r["box"] for r in record.get("ignore", [])], np.float64)
        out.append(LabelledImage(path, truth, ignore.reshape(-1, 4)))
    return out


@dataclass(frozen=True)
class LabelledPeople:
    """One image of a keypoint-labelled set: file, size, people, ignore regions (pixels).

    ``people`` holds (keypoint name -> (x, y), box area) per labelled person."""

    path: Path
    width: int
    height: int
    people: list[tuple[dict[str, tuple[float, float]], float]]
    ignore: np.ndarray


def read_pose_labels(labels_json: str | Path) -> list[LabelledPeople]:
    """A keypoint-labelled image set (``tests/vision/detect_dev/pose_labels.json``): images
    next to the file when there, else sensekit sample media."""
    import json

    from sensekit.samples import media_path

    labels_json = Path(labels_json)
    out = []
    for name, record in json.loads(labels_json.read_text(encoding="utf-8")).items():
        local = labels_json.parent / name
        people = [
            (
                {k: (float(v[0]), float(v[1])) for k, v in p["keypoints"].items()},
                float((p["box"][2] - p["box"][0]) * (p["box"][3] - p["box"][1])),
            )
            for p in record["people"]
        ]
        ignore = np.array([r["box"] for r in record.get("ignore", [])], np.float64)
        out.append(
            LabelledPeople(
                local if local.is_file() else media_path(name),
                int(record["width"]),
                int(record["height"]),
                people,
                ignore.reshape(-1, 4),
            )
        )
    return out


def scored_poses(poses: list[Any], item: LabelledPeople) -> list[dict[str, tuple[float, float]]]:
    """Predicted poses (``BodyPose``) of one labelled image as pixel keypoints for
    :func:`pose_table`, without those that match no labelled person and lie mostly in an
    ignore region (a crowd's people count neither for nor against the model)."""
    kept = []
    size = np.array([item.width, item.height, item.width, item.height], np.float64)
    for pose in poses:
        points = {k.name: (k.x * item.width, k.y * item.height) for k in pose.keypoints}
        b = pose.box
        box = np.array([[b.x_min, b.y_min, b.x_max, b.y_max]]) * size
        hit = any(keypoint_similarity(points, t, a) >= 0.5 for t, a in item.people)
        if hit or inside_share(box, item.ignore)[0] < 0.5:
            kept.append(points)
    return kept
