"""GEMM/GEMV wrappers that say which BLAS runs them and let callers cap its threads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np


def blas_info() -> list[dict[str, Any]]:
    """The BLAS libraries numpy uses (threadpoolctl's view): name, version, threads."""
    from threadpoolctl import threadpool_info

    return [{"library": i.get("internal_api"), "version": i.get("version"),
             "threads": i.get("num_threads"), "architecture": i.get("architecture")}
            for i in threadpool_info() if i.get("user_api") == "blas"]


@contextlib.contextmanager
def blas_threads(count: int | None) -> Iterator[None]:
    """Caps BLAS threads inside the block (None leaves them as they are)."""
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=count, user_api="blas"):
        yield


def gemm(a: np.ndarray, b: np.ndarray, alpha: float = 1.0, out: np.ndarray | None = None
         ) -> np.ndarray:
    """alpha * a @ b in float32 through the BLAS sgemm."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    result = np.matmul(a, b, out=out)
    if alpha != 1.0:
        result *= np.float32(alpha)
    return result


def gemv(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32) @ np.asarray(x, np.float32)
