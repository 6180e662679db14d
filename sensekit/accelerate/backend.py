"""Array backend switch: numpy by default, CuPy when asked for and usable.

``SENSEKIT_ACCELERATE=cupy`` selects CuPy if it imports and sees a CUDA device;
otherwise numpy is used and :func:`name` says so. Kernels call :func:`xp` for the
array module and :func:`to_numpy` before handing results to ONNX Runtime.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

_CHOSEN: ModuleType | None = None


def _pick() -> ModuleType:
    wanted = os.environ.get("SENSEKIT_ACCELERATE", "numpy").lower()
    if wanted == "cupy":
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                return cupy
        except Exception:  # no CuPy, no driver, or no device: numpy it is
            pass
    return np


def xp() -> ModuleType:
    """The array module in use (numpy or cupy)."""
    global _CHOSEN
    if _CHOSEN is None:
        _CHOSEN = _pick()
    return _CHOSEN


def name() -> str:
    return xp().__name__


def reset() -> None:
    """Re-reads SENSEKIT_ACCELERATE (for tests)."""
    global _CHOSEN
    _CHOSEN = None


def to_numpy(array: Any) -> np.ndarray:
    """Brings an array of either backend to host numpy."""
    if isinstance(array, np.ndarray):
        return array
    getter = getattr(array, "get", None)
    return getter() if callable(getter) else np.asarray(array)
