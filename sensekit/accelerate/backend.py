"""Array backend switch: numpy by default, CuPy when asked for and usable.

``SENSEKIT_ACCELERATE=cupy`` selects CuPy if it imports and sees a CUDA device;
otherwise numpy is used and :func:`name` says so. Kernels call :func:`xp` for the
array module and :func:`to_numpy` before handing results to ONNX Runtime.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import numpy as np

_CHOSEN: ModuleType | None = None


_WHY = "numpy is the default (SENSEKIT_ACCELERATE unset)"


def _pick() -> ModuleType:
    global _WHY
    wanted = os.environ.get("SENSEKIT_ACCELERATE", "numpy").strip().lower()
    if wanted != "cupy":
        _WHY = f"SENSEKIT_ACCELERATE={wanted or 'numpy'}"
        return np
    try:
        import cupy

        devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # no CuPy, no driver, or no device: numpy it is
        _WHY = f"cupy requested but unusable ({type(error).__name__}: {error}); using numpy"
        return np
    if devices > 0:
        _WHY = f"cupy on {devices} CUDA device(s)"
        return cupy
    _WHY = "cupy requested but no CUDA device is visible; using numpy"
    return np


def reason() -> str:
    """Why the current backend was chosen (e.g. why a cupy request fell back)."""
    xp()
    return _WHY


def array_module(*arrays: Any) -> ModuleType:
    """numpy, or cupy when any argument is a CuPy array (``cupy.get_array_module``'s
    rule, without importing CuPy): kernels follow their inputs' device."""
    for array in arrays:
        if type(array).__module__.split(".", 1)[0] == "cupy":
            return sys.modules["cupy"]
    return np


def asarray(array: Any, dtype: Any = None) -> Any:
    """Moves an array to the selected backend (a no-op for numpy on numpy)."""
    return xp().asarray(array, dtype=dtype)


def xp() -> ModuleType:
    """The array module in use (numpy or cupy)."""
    global _CHOSEN
    if _CHOSEN is None:
        _CHOSEN = _pick()
    return _CHOSEN


def name() -> str:
    """ "numpy" or "cupy"."""
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
