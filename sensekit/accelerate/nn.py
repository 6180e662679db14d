"""Post-processing and small-training kernels: softmax, top-k, NMS, k-means, regression."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sensekit.accelerate.backend import array_module


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (numpy or CuPy input)."""
    xp = array_module(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    e /= xp.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax along ``axis`` (numpy or CuPy input)."""
    xp = array_module(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    shifted -= xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
    return shifted


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, stable for large |x|: with e = exp(-|x|), 1 / (1 + e) for
    x >= 0 and e / (1 + e) below, so exp never overflows."""
    xp = array_module(x)
    x = xp.asarray(x)
    e = xp.exp(-xp.abs(x).astype(xp.result_type(x.dtype, np.float32), copy=False))
    ratio = 1.0 / (1.0 + e)
    return xp.where(x >= 0, ratio, e * ratio)


def top_k(scores: np.ndarray, k: int, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """The k largest values and their indices along ``axis``, sorted descending."""
    n = scores.shape[axis]
    k = max(0, min(int(k), n))
    if k == 0:
        shape = list(scores.shape)
        shape[axis] = 0
        return np.empty(shape, scores.dtype), np.empty(shape, np.int64)
    part = (
        np.argpartition(-scores, k - 1, axis=axis)
        if k < n
        else np.broadcast_to(
            np.arange(n).reshape(
                [-1 if a == (axis % scores.ndim) else 1 for a in range(scores.ndim)]
            ),
            scores.shape,
        )
    )
    part = np.take(part, np.arange(k), axis=axis)
    values = np.take_along_axis(scores, part, axis=axis)
    order = np.argsort(-values, axis=axis, kind="stable")
    return np.take_along_axis(values, order, axis=axis), np.take_along_axis(part, order, axis=axis)


def argmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Index of the largest value along ``axis`` (first on ties)."""
    return array_module(x).argmax(x, axis=axis)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes ``a`` [N,4] and ``b`` [M,4] in (x1, y1, x2, y2)."""
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float,
    classes: np.ndarray | None = None,
    max_output: int | None = None,
) -> np.ndarray:
    """Greedy non-maximum suppression (torchvision semantics); class-aware with ``classes``.

    A box is dropped when its IoU with a kept, higher-scored box of the same class is
    above ``iou_threshold``; ties in score keep the input order. The result is exactly
    the one-box-at-a-time greedy answer, computed in score-sorted blocks: the
    suppression graph inside a block is one IoU matrix resolved with a short loop over
    the boxes that overlap something, then a block's kept boxes suppress all later live
    boxes in one vectorized IoU pass.

    Returns:
        Indices of kept boxes, highest score first.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if boxes.shape[0] != scores.shape[0]:
        raise ValueError(f"nms: {boxes.shape[0]} boxes but {scores.shape[0]} scores")
    order = np.argsort(-scores, kind="stable")
    iou = _IouTester(
        boxes[order],
        None if classes is None else np.asarray(classes).reshape(-1)[order],
        iou_threshold,
    )
    alive = np.ones(len(order), dtype=bool)
    limit = max_output or len(order)
    kept: list[np.ndarray] = []
    count = 0
    for start in range(0, len(order), NMS_BLOCK):
        stop = min(start + NMS_BLOCK, len(order))
        block = np.flatnonzero(alive[start:stop]) + start
        winners = block[_greedy(np.triu(iou.above(block, block), 1))][: limit - count]
        kept.append(winners)
        count += len(winners)
        rest = np.flatnonzero(alive[stop:]) + stop
        if count >= limit or rest.size == 0:
            break
        if winners.size:
            alive[rest[iou.above(winners, rest).any(axis=0)]] = False
    return order[np.concatenate(kept)] if kept else np.empty(0, np.int64)


NMS_BLOCK = 256  # boxes per score-sorted block: a 256x256 IoU matrix is ~256 KB


class _IouTester:
    """Pairwise 'IoU above threshold (same class)' over fixed boxes, in reused buffers.

    Coordinates are kept as four contiguous arrays (broadcasts then vectorize) and the
    [rows, cols] work matrices live in buffers reused across calls, so the hot loop
    neither allocates nor page-faults. IoU > t is tested as
    inter * (1 + t) > t * (area_a + area_b): no division.
    """

    def __init__(self, boxes: np.ndarray, labels: np.ndarray | None, threshold: float):
        self.x1, self.y1, self.x2, self.y2 = (np.ascontiguousarray(c) for c in boxes.T)
        areas = np.maximum(self.x2 - self.x1, 0) * np.maximum(self.y2 - self.y1, 0)
        self.scaled_areas = areas * np.float32(threshold)
        self.gain = np.float32(1.0 + threshold)
        self.labels = labels
        size = min(NMS_BLOCK, len(boxes)) * len(boxes)
        self.work = [np.empty(size, np.float32) for _ in range(3)]
        self.mask = np.empty(size, bool)

    def above(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """[len(rows), len(cols)] bool view into a reused buffer (valid until next call)."""
        shape = (len(rows), len(cols))
        w, h, tmp = (buf[: shape[0] * shape[1]].reshape(shape) for buf in self.work)
        col = (self.x1[cols], self.y1[cols], self.x2[cols], self.y2[cols])
        row = [c[rows, None] for c in (self.x1, self.y1, self.x2, self.y2)]
        np.minimum(row[2], col[2], out=w)
        w -= np.maximum(row[0], col[0], out=tmp)
        np.minimum(row[3], col[3], out=h)
        h -= np.maximum(row[1], col[1], out=tmp)
        np.maximum(w, 0, out=w)
        np.maximum(h, 0, out=h)
        w *= h
        w *= self.gain
        np.add(self.scaled_areas[rows, None], self.scaled_areas[cols], out=h)
        over = np.greater(w, h, out=self.mask[: shape[0] * shape[1]].reshape(shape))
        if self.labels is not None:
            over &= self.labels[rows, None] == self.labels[cols]
        return over


def _greedy(overlaps: np.ndarray) -> np.ndarray:
    """Greedy keep-mask of a score-sorted block from its strictly-upper-triangular
    suppression matrix; only rows that overlap something need a visit."""
    alive = np.ones(len(overlaps), dtype=bool)
    for i in np.flatnonzero(overlaps.any(axis=1)).tolist():
        if alive[i]:
            alive &= ~overlaps[i]
    return alive


def batched_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float,
    classes: np.ndarray | None = None,
    max_output: int | None = None,
) -> list[np.ndarray]:
    """:func:`nms` over a batch: boxes [B, N, 4], scores [B, N], classes [B, N] or None.

    Returns:
        One index array per batch item, highest score first.
    """
    boxes = np.asarray(boxes, np.float32)
    scores = np.asarray(scores, np.float32)
    if boxes.ndim != 3 or boxes.shape[2] != 4 or scores.shape != boxes.shape[:2]:
        raise ValueError(
            f"batched_nms: boxes must be [B, N, 4] and scores [B, N], got "
            f"{boxes.shape} and {scores.shape}"
        )
    return [
        nms(
            boxes[i],
            scores[i],
            iou_threshold,
            None if classes is None else np.asarray(classes)[i],
            max_output,
        )
        for i in range(len(boxes))
    ]


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix between rows of ``a`` [N,D] and ``b`` [M,D]."""
    xp = array_module(a, b)
    a = xp.atleast_2d(xp.asarray(a, np.float32))
    b = xp.atleast_2d(xp.asarray(b, np.float32))
    a = a / xp.maximum(xp.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / xp.maximum(xp.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def kmeans(
    values: np.ndarray, k: int, iterations: int = 25, seed: int = 0
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


def train_softmax_regression(
    features: np.ndarray,
    labels: np.ndarray,
    classes: int,
    epochs: int = 200,
    learning_rate: float = 0.5,
    l2: float = 1e-3,
    progress: Callable[[int, float], bool] | None = None,
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


def span_top_k(
    start: np.ndarray,
    end: np.ndarray,
    valid: np.ndarray,
    *,
    k: int,
    max_len: int,
    length_decay: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` best (start <= end < start + max_len) spans of each row, by
    start * end * exp(-length_decay * (end - start)).

    Args:
        start, end: [R, L] non-negative span-boundary scores (e.g. probabilities).
        valid: [R, L] bool, positions a span may start or end at.
        k: spans kept per row.
        max_len: longest span, in positions.
        length_decay: a prior against long spans, per position of length (0: none).

    Returns:
        (row, start, end, score) flat arrays, best first within each row; spans touching
        an invalid position are left out, so a row may give fewer than ``k``.
    """
    rows, length = start.shape
    pairs = start[:, :, None] * end[:, None, :]  # [R, L, L]
    band = np.triu(np.ones((length, length), bool)) & ~np.triu(
        np.ones((length, length), bool), max_len
    )
    if length_decay:
        offset = np.arange(length)
        pairs = pairs * np.exp(-length_decay * np.maximum(offset[None, :] - offset[:, None], 0))
    ok = band[None] & valid[:, :, None] & valid[:, None, :]
    pairs = np.where(ok, pairs, -1.0).reshape(rows, -1)
    k = min(k, pairs.shape[1])
    best = np.argpartition(-pairs, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(pairs, best, 1), axis=1, kind="stable")
    best = np.take_along_axis(best, order, 1)
    scores = np.take_along_axis(pairs, best, 1)
    row = np.repeat(np.arange(rows), k)
    keep = scores.reshape(-1) >= 0
    flat = best.reshape(-1)
    return (row[keep], (flat // length)[keep], (flat % length)[keep], scores.reshape(-1)[keep])


def kmeans_1d(values: np.ndarray, k: int, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Exact-Lloyd k-means of scalars, fast for millions of values (weight palettization).

    The values are sorted once; in 1-D every cluster is a contiguous run of the sorted
    array, so an iteration is k binary searches (boundaries = midpoints of neighbouring
    centroids) and k means from prefix sums: O(k log n) per iteration after the sort.
    Centroids start at the quantiles of the data.

    Returns:
        (centroids [k'] ascending, k' = min(k, number of distinct values);
        assignment [n] of each value's centroid index, in the input order).
    """
    flat = np.asarray(values, np.float64).ravel()
    if flat.size == 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    data = np.sort(flat)
    starts = np.concatenate([[True], data[1:] != data[:-1]])
    k = max(1, min(int(k), int(np.count_nonzero(starts))))
    if k == np.count_nonzero(starts):
        centroids = data[starts]
    else:
        prefix = np.concatenate([[0.0], np.cumsum(data)])
        centroids = np.unique(data[((np.arange(k) + 0.5) / k * data.size).astype(np.int64)])
        for _ in range(iterations):
            bounds = np.concatenate(
                [[0], np.searchsorted(data, (centroids[1:] + centroids[:-1]) / 2), [data.size]]
            )
            counts = np.diff(bounds)
            sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
            updated = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
            if np.allclose(updated, centroids, rtol=0, atol=1e-12):
                break
            centroids = updated
        centroids = np.unique(centroids)
    # searchsorted sends a value equal to a midpoint right, exactly as the bounds above
    assignment = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, flat, side="left")
    return centroids.astype(np.float32), assignment.astype(np.int64)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: str = "uint8") -> np.ndarray:
    """Affine quantization as ONNX QuantizeLinear: clip(round_half_even(x / scale) + zp)."""
    info = np.iinfo(np.dtype(dtype))
    q = np.rint(np.asarray(x, np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Inverse of :func:`quantize` (ONNX DequantizeLinear): (q - zp) * scale, float32."""
    return ((np.asarray(q).astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(
        np.float32
    )


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """MediaPipe's WEIGHTED non-maximum suppression (BlazeFace/BlazePose detectors).

    The best remaining box takes every box overlapping it by more than ``iou_threshold``
    into its cluster; callers average a cluster's boxes/keypoints with the returned
    weights (scores normalized over the cluster) instead of keeping only the best one.

    Returns:
        (indices, weights) per cluster, best cluster first; ``indices[0]`` is its best box.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    clusters = []
    while order.size:
        overlap = box_iou(boxes[order[:1]], boxes[order])[0] > iou_threshold
        overlap[0] = True
        members, order = order[overlap], order[~overlap]
        clusters.append((members, scores[members] / max(float(scores[members].sum()), 1e-12)))
    return clusters


def box_fusion(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    sources: np.ndarray,
    source_count: int,
    iou_threshold: float = 0.55,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted box fusion (Solovyev et al., 2019) of detections from several sources
    (models, or one model on flipped copies of the image).

    Per class, boxes are taken best first; each joins the first cluster whose fused box it
    overlaps by more than ``iou_threshold``, otherwise it starts one. A cluster's box is
    the score-weighted mean of its members; its score is the sum over sources of each
    source's best member score, divided by ``source_count``: a box every source agrees on
    keeps its score, one that only one of two sources found is halved.

    Args:
        boxes: [N, 4] (x0, y0, x1, y1). scores: [N]. classes: [N] class indices.
        sources: [N] which source (0 .. source_count - 1) gave each box.

    Returns:
        fused boxes [K, 4], scores [K], classes [K], best score first.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    classes = np.asarray(classes).reshape(-1)
    sources = np.asarray(sources).reshape(-1)
    out_boxes, out_scores, out_classes = [], [], []
    for c in np.unique(classes):
        index = np.flatnonzero(classes == c)
        index = index[np.argsort(-scores[index], kind="stable")]
        members: list[list[int]] = []
        fused: list[np.ndarray] = []
        for i in index:
            if fused:
                overlap = box_iou(boxes[i : i + 1], np.array(fused))[0]
                best = int(overlap.argmax())
                if overlap[best] > iou_threshold:
                    members[best].append(i)
                    w = scores[members[best]]
                    fused[best] = (boxes[members[best]] * w[:, None]).sum(0) / w.sum()
                    continue
            members.append([i])
            fused.append(boxes[i].copy())
        for group, box in zip(members, fused):
            best_per_source = {}
            for i in group:
                best_per_source[sources[i]] = max(best_per_source.get(sources[i], 0.0), scores[i])
            out_boxes.append(box)
            out_scores.append(sum(best_per_source.values()) / source_count)
            out_classes.append(c)
    order = np.argsort(-np.asarray(out_scores), kind="stable")
    return (
        np.asarray(out_boxes, np.float64).reshape(-1, 4)[order],
        np.asarray(out_scores, np.float64)[order],
        np.asarray(out_classes, classes.dtype)[order],
    )


def ssd_anchor_centers(
    input_size: tuple[int, int],
    strides: list[int],
    anchors_per_layer: int = 2,
    offset: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """Anchor centres (x, y) in [0, 1], in MediaPipe ``SsdAnchorsCalculator`` order.

    Consecutive layers with the same stride share one grid, each contributing
    ``anchors_per_layer`` anchors per cell (fixed anchor size: only centres matter).

    Args:
        input_size: (height, width) of the detector input in pixels.
        strides: one stride per layer, e.g. [8, 16, 32, 32, 32] for BlazePose.
    """
    centers, layer = [], 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        rows = int(np.ceil(input_size[0] / strides[layer]))
        cols = int(np.ceil(input_size[1] / strides[layer]))
        ys, xs = np.meshgrid(
            (np.arange(rows) + offset[1]) / rows,
            (np.arange(cols) + offset[0]) / cols,
            indexing="ij",
        )
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centers.append(np.repeat(grid, anchors_per_layer * (last - layer), axis=0))
        layer = last
    return np.concatenate(centers).astype(np.float32)


def distribution_expectation(logits: np.ndarray, bins: int) -> np.ndarray:
    """Generalized-focal-loss box decoding: softmax over ``bins`` values, then its mean.

    ``logits`` [..., K * bins] -> [..., K] expected bin index (0 .. bins - 1).
    """
    shaped = np.asarray(logits, np.float32).reshape(*logits.shape[:-1], -1, bins)
    return softmax(shaped, axis=-1) @ np.arange(bins, dtype=np.float32)


def kmeans_1d_rows(
    values: np.ndarray, k: int, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Independent scalar k-means on every row of ``values`` [R, N], all rows at once.

    The per-row palettes of weight palettization (one look-up table per output channel).
    Rows are shifted apart so one global binary search serves all of them; each
    iteration costs O(R k log(R N)) after one sort, like :func:`kmeans_1d`.

    Returns:
        (centroids [R, k] ascending per row (repeated values where a row has fewer than
        ``k`` distinct values), assignment [R, N] of each value's centroid index).
    """
    x = np.asarray(values, np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"kmeans_1d_rows takes a non-empty [R, N] array, got {x.shape}")
    rows, n = x.shape
    k = max(1, int(k))
    data = np.sort(x, axis=1)
    span = float(data[:, -1].max() - data[:, 0].min()) + 1.0
    shift = (np.arange(rows, dtype=np.float64) * 2 * span)[:, None]
    flat = (data + shift).ravel()
    prefix = np.concatenate([np.zeros((rows, 1)), np.cumsum(data, axis=1)], axis=1)
    centroids = data[:, ((np.arange(k) + 0.5) / k * n).astype(np.int64)]
    base = np.arange(rows)[:, None] * n
    for _ in range(iterations):
        mids = (centroids[:, 1:] + centroids[:, :-1]) / 2 + shift
        inner = np.searchsorted(flat, mids.ravel()).reshape(rows, k - 1) - base
        bounds = np.concatenate(
            [np.zeros((rows, 1), np.int64), inner, np.full((rows, 1), n, np.int64)], axis=1
        )
        counts = np.diff(bounds, axis=1)
        sums = np.take_along_axis(prefix, bounds[:, 1:], 1) - np.take_along_axis(
            prefix, bounds[:, :-1], 1
        )
        updated = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), centroids), axis=1)
        if np.allclose(updated, centroids, rtol=0, atol=1e-12):
            break
        centroids = updated
    mids = ((centroids[:, 1:] + centroids[:, :-1]) / 2 + shift).ravel()
    assignment = np.searchsorted(mids, (x + shift).ravel(), side="left").reshape(
        rows, n
    ) - np.arange(rows)[:, None] * (k - 1)
    return centroids.astype(np.float32), assignment.astype(np.int64)
