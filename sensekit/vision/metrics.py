"""Detection accuracy: IoU matching, recall/precision and mAP@0.5 (VOC-style, all points)."""

from __future__ import annotations

from dataclasses import dataclass

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
