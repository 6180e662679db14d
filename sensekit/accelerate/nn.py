"""Post-processing and small-training kernels: softmax, top-k, NMS, k-means, regression."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, stable for large |x|."""
    x = np.asarray(x)
    out = np.empty_like(x, dtype=np.result_type(x.dtype, np.float32))
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    e = np.exp(x[~positive])
    out[~positive] = e / (1.0 + e)
    return out


def top_k(scores: np.ndarray, k: int, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """The k largest values and their indices along ``axis``, sorted descending."""
    n = scores.shape[axis]
    k = max(0, min(int(k), n))
    if k == 0:
        shape = list(scores.shape)
        shape[axis] = 0
        return np.empty(shape, scores.dtype), np.empty(shape, np.int64)
    part = np.argpartition(-scores, k - 1, axis=axis) if k < n else \
        np.broadcast_to(np.arange(n).reshape([-1 if a == (axis % scores.ndim) else 1
                                              for a in range(scores.ndim)]), scores.shape)
    part = np.take(part, np.arange(k), axis=axis)
    values = np.take_along_axis(scores, part, axis=axis)
    order = np.argsort(-values, axis=axis, kind="stable")
    return np.take_along_axis(values, order, axis=axis), np.take_along_axis(part, order, axis=axis)


def argmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.argmax(x, axis=axis)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes ``a`` [N,4] and ``b`` [M,4] in (x1, y1, x2, y2)."""
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
        classes: np.ndarray | None = None, max_output: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression; class-aware when ``classes`` is given.

    Class awareness uses the usual offset trick (boxes of different classes are shifted
    apart so they never overlap). Suppression works in blocks: the IoU of each kept box
    with all lower-scored boxes is one vectorized row.

    Returns:
        Indices of kept boxes, highest score first.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if boxes.shape[0] != scores.shape[0]:
        raise ValueError(f"nms: {boxes.shape[0]} boxes but {scores.shape[0]} scores")
    if boxes.shape[0] == 0:
        return np.empty(0, np.int64)
    if classes is not None:
        span = float(boxes.max() - boxes.min()) + 1.0
        boxes = boxes + (np.asarray(classes, np.float32).reshape(-1, 1) * span)
    order = np.argsort(-scores, kind="stable")
    boxes = boxes[order]
    x1, y1, x2, y2 = boxes.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    alive = np.ones(len(order), dtype=bool)
    keep = []
    limit = max_output or len(order)
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) >= limit:
            break
        rest = np.nonzero(alive[i + 1:])[0] + i + 1
        if rest.size == 0:
            break
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        alive[rest[iou > iou_threshold]] = False
    return order[np.asarray(keep, dtype=np.int64)]


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix between rows of ``a`` [N,D] and ``b`` [M,D]."""
    a = np.atleast_2d(np.asarray(a, np.float32))
    b = np.atleast_2d(np.asarray(b, np.float32))
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def kmeans(values: np.ndarray, k: int, iterations: int = 25, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray]:
    """1-D or N-D k-means (k-means++ init, Lloyd iterations).

    Returns:
        (centroids [k, D], assignment [N]).
    """
    data = np.asarray(values, np.float32)
    data = data.reshape(len(data), -1) if data.ndim > 1 else data.reshape(-1, 1)
    rng = np.random.default_rng(seed)
    k = max(1, min(int(k), len(data)))
    centroids = data[[rng.integers(len(data))]]
    for _ in range(1, k):  # k-means++ seeding
        d2 = np.min(((data[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
        total = d2.sum()
        pick = rng.choice(len(data), p=d2 / total) if total > 0 else rng.integers(len(data))
        centroids = np.vstack([centroids, data[pick]])
    for _ in range(iterations):
        distances = ((data[:, None, :] - centroids[None]) ** 2).sum(-1)
        assignment = np.argmin(distances, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assignment, data)
        counts = np.bincount(assignment, minlength=k)[:, None]
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(updated, centroids):
            break
        centroids = updated
    assignment = np.argmin(((data[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    return centroids, assignment


def train_softmax_regression(features: np.ndarray, labels: np.ndarray, classes: int,
                             epochs: int = 200, learning_rate: float = 0.5,
                             l2: float = 1e-3, progress: Callable[[int, float], bool] | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent.

    Args:
        features: [N, D] float features (standardize them first for fast convergence).
        labels: [N] integer class ids.
        classes: number of classes.
        progress: called as ``progress(epoch, loss)``; returning False cancels training.

    Returns:
        (weights [D, C], bias [C]).
    """
    x = np.asarray(features, np.float32)
    y = np.asarray(labels, np.int64)
    n, d = x.shape
    weights = np.zeros((d, classes), np.float32)
    bias = np.zeros(classes, np.float32)
    onehot = np.eye(classes, dtype=np.float32)[y]
    for epoch in range(epochs):
        probs = softmax(x @ weights + bias)
        loss = float(-np.mean(np.log(probs[np.arange(n), y] + 1e-12)))
        grad = (probs - onehot) / n
        weights -= learning_rate * (x.T @ grad + l2 * weights)
        bias -= learning_rate * grad.sum(0)
        if progress is not None and progress(epoch, loss) is False:
            break
    return weights, bias
