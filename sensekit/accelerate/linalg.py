"""GEMM/GEMV wrappers that say which BLAS runs them and let callers cap its threads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from sensekit.accelerate.backend import array_module


def blas_info() -> list[dict[str, Any]]:
    """The BLAS libraries numpy uses (threadpoolctl's view): name, version, threads."""
    from threadpoolctl import threadpool_info

    return [
        {
            "library": i.get("internal_api"),
            "version": i.get("version"),
            "threads": i.get("num_threads"),
            "architecture": i.get("architecture"),
            "filepath": i.get("filepath"),
        }
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]


@contextlib.contextmanager
def blas_threads(count: int | None) -> Iterator[None]:
    """Caps BLAS threads inside the block (None leaves them as they are)."""
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=count, user_api="blas"):
        yield


def gemm(
    a: np.ndarray, b: np.ndarray, alpha: float = 1.0, out: np.ndarray | None = None
) -> np.ndarray:
    """alpha * a @ b in float32 through the BLAS sgemm (cuBLAS for CuPy inputs).

    Float32 inputs go straight to ``matmul`` (no copy), so this runs at numpy's speed.
    """
    xp = array_module(a, b)
    a = xp.asarray(a, np.float32)
    b = xp.asarray(b, np.float32)
    result = xp.matmul(a, b, out=out)
    if alpha != 1.0:
        result *= np.float32(alpha)
    return result


def gemv(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """a @ x in float32 (sgemv)."""
    xp = array_module(a, x)
    return xp.asarray(a, np.float32) @ xp.asarray(x, np.float32)


def blas_summary() -> str:
    """One line naming numpy's BLAS, e.g. 'openblas 0.3.31 (Haswell, 2 threads)'."""
    libraries = numpy_blas()
    if not libraries:
        return "unknown BLAS (threadpoolctl sees none)"
    lib = libraries[0]
    return f"{lib['library']} {lib['version']} ({lib['architecture']}, {lib['threads']} threads)"


def numpy_blas() -> list[dict[str, Any]]:
    """Like :func:`blas_info`, restricted to the BLAS numpy itself links (OpenCV and
    others may load their own copies into the process)."""
    import os

    root = os.path.dirname(os.path.dirname(np.__file__))
    mine = [
        i for i in blas_info() if str(i.get("filepath", "")).startswith(root + os.sep + "numpy")
    ]
    return mine or blas_info()
