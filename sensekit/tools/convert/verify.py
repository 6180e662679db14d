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
    """Max abs difference between two output lists; ConversionError above ``tolerance``."""
    if len(expected) != len(actual):
        raise ConversionError(
            f"{what}: the source gives {len(expected)} outputs, the converted graph {len(actual)}"
        )
    worst = 0.0
    for index, (want, got) in enumerate(zip(expected, actual)):
        want, got = np.asarray(want), np.asarray(got)
        if want.shape != got.shape:
            raise ConversionError(
                f"{what}: output {index} has shape {got.shape}, source {want.shape}"
            )
        if want.size:
            worst = max(worst, float(np.max(np.abs(want.astype(np.float64) - got))))
    if not np.isfinite(worst) or worst > tolerance:
        raise ConversionError(
            f"{what}: converted outputs differ from the source by {worst:.3g} "
            f"(tolerance {tolerance:g})"
        )
    return worst
