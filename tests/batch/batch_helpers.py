"""Helpers of the batch tests: comparing results, indexing rows."""

from __future__ import annotations

import math

from sensekit.samples import DEBIAN, SKIMAGE

# ten photos (the sample list grew since: the corpus stays these ten)
PHOTOS = SKIMAGE[:6] + DEBIAN["darknet"][1][:4]
SOUNDS = DEBIAN["alsa-utils"][1] + DEBIAN["sound-theme-freedesktop"][1] + ["jfk.wav"]


def assert_same(actual, expected, path="result"):
    """Equal JSON values; floats within 1e-4 (workers run ONNX Runtime on 1 thread, the
    reference on all cores: sums may be ordered differently)."""
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        assert math.isclose(actual, expected, rel_tol=1e-4, abs_tol=1e-4), (
            f"{path}: {actual} != {expected}"
        )
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), path
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def rows_by_path(rows):
    """{path: row}, failing on a path seen twice."""
    table = {}
    for row in rows:
        assert row["path"] not in table, f"duplicate row for {row['path']}"
        table[row["path"]] = row
    return table
