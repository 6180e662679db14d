"""Backend selection (numpy default, CuPy only when usable) and the BLAS wrappers."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from sensekit.accelerate import backend, linalg, nn


@pytest.fixture
def fresh_backend(monkeypatch):
    yield monkeypatch
    monkeypatch.undo()
    backend.reset()


def test_numpy_is_the_default(fresh_backend):
    fresh_backend.delenv("SENSEKIT_ACCELERATE", raising=False)
    backend.reset()
    assert backend.xp() is np and backend.name() == "numpy"
    host = np.ones(2)
    assert backend.to_numpy(host) is host


def test_cupy_request_without_cupy_falls_back(fresh_backend):
    fresh_backend.setenv("SENSEKIT_ACCELERATE", "cupy")
    fresh_backend.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    backend.reset()
    assert backend.xp() is np
    assert "unusable" in backend.reason() and "numpy" in backend.reason()


def test_cupy_request_without_device_falls_back(fresh_backend):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 0))
    fresh_backend.setenv("SENSEKIT_ACCELERATE", "cupy")
    fresh_backend.setitem(sys.modules, "cupy", fake)
    backend.reset()
    assert backend.xp() is np and "no CUDA device" in backend.reason()


def test_cupy_selected_when_a_device_is_visible(fresh_backend):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    fresh_backend.setenv("SENSEKIT_ACCELERATE", "CuPy")
    fresh_backend.setitem(sys.modules, "cupy", fake)
    backend.reset()
    assert backend.xp() is fake and backend.name() == "cupy"


def test_kernels_follow_their_inputs_module(fresh_backend):
    """A CuPy-like array routes a kernel to the cupy module (here a numpy stand-in)."""
    fake = types.ModuleType("cupy")
    for attr in ("exp", "max", "sum", "log", "asarray", "argmax", "matmul"):
        setattr(fake, attr, getattr(np, attr))
    calls = []
    fake.exp = lambda x: calls.append("exp") or np.exp(x)
    FakeArray = type("ndarray", (np.ndarray,), {"__module__": "cupy._core.core"})
    fresh_backend.setitem(sys.modules, "cupy", fake)
    x = np.array([[1.0, 2.0, 3.0]], np.float32).view(FakeArray)
    assert backend.array_module(x) is fake and backend.array_module(np.ones(1)) is np
    np.testing.assert_allclose(nn.softmax(x).sum(), 1.0, rtol=1e-6)
    assert calls == ["exp"]


def test_gemm_gemv_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 33)), rng.standard_normal((33, 17))
    np.testing.assert_allclose(linalg.gemm(a, b, alpha=2.0), 2.0 * (a @ b), rtol=1e-4, atol=1e-4)
    out = np.empty((64, 17), np.float32)
    assert linalg.gemm(a.astype(np.float32), b.astype(np.float32), out=out) is out
    np.testing.assert_allclose(linalg.gemv(a, b[:, 0]), a @ b[:, 0], rtol=1e-4, atol=1e-4)


def test_blas_report_and_thread_cap():
    info = linalg.numpy_blas()
    assert info and all(i["library"] for i in info)
    assert info[0]["library"] in linalg.blas_summary()
    before = [i["threads"] for i in linalg.blas_info()]
    with linalg.blas_threads(1):
        assert all(i["threads"] == 1 for i in linalg.blas_info())
        np.testing.assert_allclose(linalg.gemm(np.eye(3), np.ones((3, 2))), np.ones((3, 2)))
        with linalg.blas_threads(None):  # None leaves the current cap alone, not the default
            assert all(i["threads"] == 1 for i in linalg.blas_info())
    assert [i["threads"] for i in linalg.blas_info()] == before  # the cap is undone
    with linalg.blas_threads(None):
        assert [i["threads"] for i in linalg.blas_info()] == before
