"""Checks that a converted ONNX graph reproduces its source's outputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sensekit.core.errors import ConversionError


def run_onnx(path: str | Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Runs an ONNX file once on CPU (used only to verify conversions)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, feeds)
    except Exception as e:
        raise ConversionError(f"The converted graph {Path(path).name} does not run: {e}") from e


def compare_outputs(
    expected: Sequence[np.ndarray], actual: Sequence[np.ndarray], tolerance: float, what: str
) -> float:
    """Max abs difference between two output lists.

    ``tolerance`` holds for outputs within [-1, 1]; a larger output is allowed that much
    relative to its largest magnitude (float32 rounding grows with the values: box
    coordinates in pixels differ by ~1e-3 where scores differ by ~1e-6).

    Raises:
        ConversionError: an output differs by more than its allowance, or shapes differ.
    """
    if len(expected) != len(actual):
        raise ConversionError(
            f"{what}: the source gives {len(expected)} outputs, the converted graph {len(actual)}"
        )
    worst, over = 0.0, False
    for index, (want, got) in enumerate(zip(expected, actual)):
        want, got = np.asarray(want), np.asarray(got)
        if want.shape != got.shape:
            raise ConversionError(
                f"{what}: output {index} has shape {got.shape}, source {want.shape}"
            )
        if want.size:
            diff = float(np.max(np.abs(want.astype(np.float64) - got)))
            scale = max(1.0, float(np.max(np.abs(want))))
            over = over or not np.isfinite(diff) or diff > tolerance * scale
            worst = max(worst, diff)
    if over:
        raise ConversionError(
            f"{what}: converted outputs differ from the source by {worst:.3g} "
            f"(tolerance {tolerance:g}, times the output scale above 1)"
        )
    return worst
