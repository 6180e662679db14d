"""accelerate.nn against straightforward references (torchvision-semantics NMS, scipy) and
hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sensekit.accelerate import nn


def reference_nms(boxes, scores, threshold, classes=None):
    """One box at a time, as torchvision.ops.nms / batched_nms define it."""
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    keep: list[int] = []
    for i in order:
        if all(
            _iou(boxes[i], boxes[j]) <= threshold
            for j in keep
            if classes is None or classes[i] == classes[j]
        ):
            keep.append(int(i))
    return np.array(keep, np.int64)


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (
        max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
        + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
        - w * h
    )
    return w * h / max(union, 1e-12)


def random_boxes(rng, n, clusters=20, size=640.0):
    centers = rng.uniform(0, size, (clusters, 2))
    extent = rng.uniform(10, 150, (clusters, 2))
    k = rng.integers(0, clusters, n)
    c = centers[k] + rng.normal(0, 8, (n, 2))
    s = extent[k] * rng.uniform(0.8, 1.2, (n, 2))
    return np.concatenate([c - s / 2, c + s / 2], 1).astype(np.float32)


@pytest.mark.parametrize("n,threshold", [(50, 0.5), (700, 0.5), (700, 0.3), (1200, 0.7)])
def test_nms_equals_reference(n, threshold):
    rng = np.random.default_rng(n)
    boxes, scores = random_boxes(rng, n), rng.random(n).astype(np.float32)
    np.testing.assert_array_equal(
        nms_ours := nn.nms(boxes, scores, threshold), reference_nms(boxes, scores, threshold)
    )
    assert len(nms_ours) > 1


def test_nms_class_aware_equals_reference():
    rng = np.random.default_rng(7)
    boxes, scores = random_boxes(rng, 600), rng.random(600).astype(np.float32)
    classes = rng.integers(0, 5, 600)
    ours = nn.nms(boxes, scores, 0.5, classes=classes)
    np.testing.assert_array_equal(ours, reference_nms(boxes, scores, 0.5, classes))
    assert len(ours) > len(nn.nms(boxes, scores, 0.5))  # classes kept apart


def test_nms_matches_opencv():
    import cv2

    rng = np.random.default_rng(3)
    boxes, scores = random_boxes(rng, 2000, clusters=60), rng.random(2000).astype(np.float32)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
    theirs = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, 0.5)).ravel()
    np.testing.assert_array_equal(np.sort(nn.nms(boxes, scores, 0.5)), np.sort(theirs))


def test_nms_ties_max_output_and_batched():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.9, 0.8], np.float32)
    np.testing.assert_array_equal(nn.nms(boxes, scores, 0.5), [0, 2])  # tie: input order
    np.testing.assert_array_equal(nn.nms(boxes, scores, 0.5, max_output=1), [0])
    assert nn.nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
    batch = nn.batched_nms(np.stack([boxes, boxes[::-1]]), np.stack([scores, scores]), 0.5)
    np.testing.assert_array_equal(batch[0], [0, 2])
    with pytest.raises(ValueError, match="scores"):
        nn.nms(boxes, scores[:2], 0.5)


_box = st.tuples(st.floats(0, 100), st.floats(0, 100), st.floats(1, 60), st.floats(1, 60))


@settings(max_examples=80, deadline=None)
@given(
    raw=st.lists(_box, min_size=0, max_size=60),
    threshold=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
    n_classes=st.integers(1, 3),
)
def test_nms_properties(raw, threshold, seed, n_classes):
    rng = np.random.default_rng(seed)
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in raw], np.float32).reshape(-1, 4)
    scores = rng.random(len(boxes)).astype(np.float32)
    classes = rng.integers(0, n_classes, len(boxes))
    keep = nn.nms(boxes, scores, threshold, classes=classes)
    assert len(set(keep.tolist())) == len(keep) and np.all(keep < len(boxes))
    assert np.all(np.diff(scores[keep]) <= 0)
    for a in range(len(keep)):
        for b in range(a + 1, len(keep)):
            i, j = keep[a], keep[b]
            assert classes[i] != classes[j] or _iou(boxes[i], boxes[j]) <= threshold + 1e-6
    np.testing.assert_array_equal(keep, reference_nms(boxes, scores, threshold, classes))


_logits = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=12),
    elements=st.floats(-80, 80, width=32),
)


@settings(max_examples=80, deadline=None)
@given(x=_logits, axis=st.integers(-1, 0))
def test_softmax_properties(x, axis):
    p = nn.softmax(x, axis=axis)
    assert p.dtype == np.float32 and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-5)
    np.testing.assert_allclose(p, scipy.special.softmax(x.astype(np.float64), axis=axis), atol=1e-6)
    np.testing.assert_allclose(
        nn.log_softmax(x, axis=axis),
        scipy.special.log_softmax(x.astype(np.float64), axis=axis),
        atol=1e-4,
    )


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(
        np.float32,
        hnp.array_shapes(max_dims=2, max_side=20),
        elements=st.floats(-1e4, 1e4, width=32),
    )
)
def test_sigmoid_property(x):
    y = nn.sigmoid(x)
    assert y.dtype == np.float32 and np.all((y >= 0) & (y <= 1))
    np.testing.assert_allclose(y, scipy.special.expit(x), atol=1e-7)


@settings(max_examples=80, deadline=None)
@given(
    x=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.integers(1, 40)),
        elements=st.floats(-1e3, 1e3, width=32),
    ),
    k=st.integers(0, 50),
    axis=st.sampled_from([0, 1, -1]),
)
def test_top_k_property(x, k, axis):
    values, indices = nn.top_k(x, k, axis=axis)
    kk = min(k, x.shape[axis])
    assert values.shape[axis] == indices.shape[axis] == kk
    np.testing.assert_array_equal(np.take_along_axis(x, indices, axis=axis), values)
    assert np.all(np.diff(values, axis=axis) <= 0)
    expected = -np.sort(-x, axis=axis)
    np.testing.assert_array_equal(values, np.take(expected, np.arange(kk), axis=axis))


def test_argmax_cosine_and_box_iou():
    x = np.array([[1, 5, 5], [7, 0, 1]], np.float32)
    np.testing.assert_array_equal(nn.argmax(x), [1, 0])
    np.testing.assert_array_equal(nn.argmax(x, axis=0), [1, 0, 0])
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 16)), rng.standard_normal((7, 16))
    expected = 1 - scipy.spatial.distance.cdist(a, b, "cosine")
    np.testing.assert_allclose(nn.cosine_similarity(a, b), expected, atol=1e-6)
    boxes = random_boxes(rng, 30)
    iou = nn.box_iou(boxes, boxes)
    np.testing.assert_allclose(iou[3, 5], _iou(boxes[3], boxes[5]), rtol=1e-5)
    np.testing.assert_allclose(np.diag(iou), 1.0, rtol=1e-6)


def test_kmeans_recovers_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 10], [-10, 10]], np.float32)
    data = np.concatenate([c + rng.normal(0, 0.5, (100, 2)) for c in centers])
    found, assignment = nn.kmeans(data, 3)
    order = np.argsort(found[:, 0])
    np.testing.assert_allclose(found[order], centers[np.argsort(centers[:, 0])], atol=0.2)
    assert len(np.unique(assignment[:100])) == 1


def test_softmax_regression_separates_classes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(m, 0.5, (50, 3)) for m in (-2, 0, 2)]).astype(np.float32)
    y = np.repeat(np.arange(3), 50)
    losses = []
    weights, bias = nn.train_softmax_regression(x, y, 3, progress=lambda e, l: losses.append(l))
    accuracy = np.mean(np.argmax(x @ weights + bias, axis=1) == y)
    assert accuracy > 0.95 and losses[-1] < losses[0] / 3
