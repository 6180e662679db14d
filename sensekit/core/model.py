"""core.Model: the one place where an ONNX graph runs.

A :class:`Model` wraps a verified :class:`~sensekit.core.package.ModelPackage` and
one ONNX Runtime session per graph, created lazily. ONNX Runtime sessions are safe
to call from several threads at once, so one ``Model`` may be shared by threads;
``last_run`` is kept per thread.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sensekit.core.errors import InvalidInput, ModelIntegrityError, RuntimeFailure
from sensekit.core.package import ModelPackage

ComputeUnits = Literal["auto", "cpu", "cuda"]
_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"
# Set SENSEKIT_ORT_SPIN=1 to let idle ONNX Runtime workers spin-wait (ORT's default):
# slightly lower latency on a dedicated machine, wasted cores on a shared one.
ORT_SPIN_WAIT = os.environ.get("SENSEKIT_ORT_SPIN", "0") == "1"
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


@dataclass(frozen=True)
class Configuration:
    """How to run a model (Core ML's MLModelConfiguration).

    Attributes:
        compute_units: "auto" uses CUDA when ONNX Runtime has it, else CPU; "cuda"
            asks for CUDA and falls back to CPU with a warning (see ``last_run``).
        threads: intra-op threads; None lets ONNX Runtime use every core.
        verify: re-hash the package files when loading.
    """

    compute_units: ComputeUnits = "auto"
    threads: int | None = None
    verify: bool = True

    def __post_init__(self) -> None:
        if self.compute_units not in ("auto", "cpu", "cuda"):
            raise ValueError(
                f"compute_units must be 'auto', 'cpu' or 'cuda', not {self.compute_units!r}"
            )
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive int or None, not {self.threads!r}")


@dataclass(frozen=True)
class TensorSpec:
    """Name, numpy dtype and shape of a graph input or output (-1 or a name = dynamic)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Description:
    """What a model takes and gives, plus its manifest metadata."""

    name: str
    task: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "labels": len(self.labels),
            **self.metadata,
        }


@dataclass(frozen=True)
class RunReport:
    """What happened in the last ``predict`` on this thread."""

    graph: str
    provider: str
    requested: str
    fallback: str | None
    seconds: float


def _providers(units: ComputeUnits) -> tuple[list[str], str | None]:
    """Chooses execution providers; returns them and a fallback reason, if any."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if units == "cpu":
        return [_CPU], None
    if _CUDA in available:
        return [_CUDA, _CPU], None
    if units == "cuda":
        return [_CPU], "CUDA was requested but this ONNX Runtime has no CUDAExecutionProvider"
    return [_CPU], None


def _spec(arg: Any) -> TensorSpec:
    dtype = _ORT_DTYPES.get(arg.type, np.float32)
    shape = tuple(d if isinstance(d, int) else (d or -1) for d in arg.shape)
    return TensorSpec(arg.name, np.dtype(dtype).name, shape)


def _warn_if_unfitted(model: Model) -> None:
    """Warns once per load when a package's int8 weights were chosen for another kind of
    CPU (see ``accelerate.cpu.int8_mismatch``), with the command that fixes it."""
    from sensekit.accelerate import cpu

    record = (model.manifest.conversion or {}).get("int8")
    why = cpu.int8_mismatch(record) if isinstance(record, dict) else None
    if why:
        warnings.warn(
            f"{model.name}: {why}; rebuild it here: sensekit models build {model.name} --force",
            RuntimeWarning,
            stacklevel=3,
        )


class Model:
    """A loaded model package with lazily created ONNX Runtime sessions.

    Use :meth:`load` to get one by zoo name (built and cached on first use) or by
    the path of a ``.skmodel`` directory.
    """

    def __init__(self, package: ModelPackage, configuration: Configuration | None = None) -> None:
        self.package = package
        self.configuration = configuration or Configuration()
        self._sessions: dict[str, Any] = {}
        self._fallback: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    @classmethod
    def load(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        compute_units: ComputeUnits = "auto",
        threads: int | None = None,
        verify: bool = True,
        progress: bool = True,
    ) -> Model:
        """Opens a model by zoo name or package path.

        Args:
            name_or_path: a zoo name such as "efficientnet-lite0", or a ``.skmodel`` path.
            compute_units: "auto", "cpu" or "cuda".
            threads: ONNX Runtime intra-op threads (None = all cores).
            verify: check the sha256 of every package file.
            progress: show a progress bar if the model has to be built.

        Raises:
            ModelNotFound: unknown name (the message lists the available ones).
            ModelIntegrityError: the package failed verification.
        """
        from sensekit.core import registry

        if not isinstance(name_or_path, (str, os.PathLike)):
            raise InvalidInput(
                f"Model.load takes a name or a path, not {type(name_or_path).__name__}"
            )
        configuration = Configuration(compute_units, threads, verify)
        path = Path(name_or_path)
        if not (path / "manifest.json").is_file():
            path = registry.ensure(str(name_or_path), progress=progress)
        model = cls(ModelPackage.open(path, verify=verify), configuration)
        _warn_if_unfitted(model)
        return model

    # -- metadata -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.package.manifest.name

    @property
    def manifest(self) -> Any:
        return self.package.manifest

    @property
    def graphs(self) -> list[str]:
        return list(self.package.manifest.graphs)

    @property
    def labels(self) -> list[str]:
        if not hasattr(self, "_labels"):
            self._labels = self.package.labels()
        return self._labels

    def description_of(self, graph: str | None = None) -> Description:
        session = self.session(graph)
        manifest = self.package.manifest
        metadata = {
            k: getattr(manifest, k)
            for k in (
                "version",
                "license",
                "description",
                "source",
                "preprocess",
                "postprocess",
                "conversion",
            )
        }
        metadata["graphs"] = self.graphs
        return Description(
            manifest.name,
            manifest.task,
            tuple(_spec(a) for a in session.get_inputs()),
            tuple(_spec(a) for a in session.get_outputs()),
            tuple(self.labels),
            metadata,
        )

    @property
    def description(self) -> Description:
        return self.description_of(None)

    @property
    def last_run(self) -> RunReport | None:
        """The report of this thread's last ``predict`` (provider actually used, fallback)."""
        return getattr(self._local, "report", None)

    # -- sessions -------------------------------------------------------------------
    def _graph_key(self, graph: str | None) -> str:
        graphs = self.package.manifest.graphs
        key = graph or ("main" if "main" in graphs else next(iter(graphs)))
        if key not in graphs:
            raise InvalidInput(f"Model {self.name!r} has no graph {key!r}; it has {sorted(graphs)}")
        return key

    def session(self, graph: str | None = None) -> Any:
        """The ONNX Runtime session of a graph, created on first use (thread-safe)."""
        key = self._graph_key(graph)
        session = self._sessions.get(key)
        if session is None:
            with self._lock:
                session = self._sessions.get(key) or self._create_session(key)
        return session

    def _create_session(self, key: str) -> Any:
        import onnxruntime as ort

        providers, fallback = _providers(self.configuration.compute_units)
        if fallback:
            warnings.warn(f"{self.name}: {fallback}; running on CPU", RuntimeWarning, stacklevel=4)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.configuration.threads:
            options.intra_op_num_threads = self.configuration.threads
        options.log_severity_level = 3
        if not ORT_SPIN_WAIT:
            # Idle ORT workers spin-wait by default; on shared or small machines that
            # burns the cores other threads need (speech decode ran 1.7x slower).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = self.package.graph_path(key)
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            raise ModelIntegrityError(
                f"{self.name}: ONNX Runtime cannot load graph {key!r} ({path.name}): {e}"
            ) from e
        if _CUDA in providers and _CUDA not in session.get_providers():
            fallback = "CUDA provider failed to initialise; running on CPU"
        self._fallback[key] = fallback
        self._inputs = getattr(self, "_inputs", {})
        self._inputs[key] = {a.name: a for a in session.get_inputs()}
        self._sessions[key] = session
        return session

    # -- prediction -----------------------------------------------------------------
    def predict(
        self, inputs: dict[str, Any], graph: str | None = None, outputs: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Runs a graph on named arrays and returns its outputs by name.

        Raises:
            InvalidInput: missing/unknown inputs, wrong rank or a fixed dimension mismatch.
            RuntimeFailure: ONNX Runtime failed while running.
        """
        session = self.session(graph)
        key = self._graph_key(graph)
        feeds = self._check_inputs(key, inputs)
        start = time.perf_counter()
        try:
            values = session.run(outputs, feeds)
        except Exception as e:
            raise RuntimeFailure(f"{self.name}: running graph {key!r} failed: {e}") from e
        names = outputs or [o.name for o in session.get_outputs()]
        self._local.report = RunReport(
            key,
            session.get_providers()[0],
            self.configuration.compute_units,
            self._fallback.get(key),
            time.perf_counter() - start,
        )
        return dict(zip(names, values))

    def _check_inputs(self, key: str, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
        if not isinstance(inputs, dict):
            raise InvalidInput(
                f"predict takes a dict of input name -> array, not {type(inputs).__name__}"
            )
        expected = self._inputs[key]
        missing = set(expected) - set(inputs)
        unknown = set(inputs) - set(expected)
        if missing or unknown:
            raise InvalidInput(
                f"{self.name}: inputs must be {sorted(expected)}; missing "
                f"{sorted(missing)}, unknown {sorted(unknown)}"
            )
        feeds = {}
        for name, value in inputs.items():
            spec = expected[name]
            dtype = _ORT_DTYPES.get(spec.type, np.float32)
            array = (
                value
                if isinstance(value, np.ndarray) and value.dtype == dtype
                else self._as_array(name, value, dtype)
            )
            if array.ndim != len(spec.shape):
                raise InvalidInput(
                    f"{self.name}: input {name!r} needs rank {len(spec.shape)} "
                    f"{list(spec.shape)}, got shape {list(array.shape)}"
                )
            for got, want in zip(array.shape, spec.shape):
                if isinstance(want, int) and want > 0 and got != want:
                    raise InvalidInput(
                        f"{self.name}: input {name!r} needs shape "
                        f"{list(spec.shape)}, got {list(array.shape)}"
                    )
            feeds[name] = array
        return feeds

    @staticmethod
    def _as_array(name: str, value: Any, dtype: Any) -> np.ndarray:
        try:
            array = np.asarray(value)
        except Exception as e:
            raise InvalidInput(f"input {name!r} is not array-like: {e}") from e
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
        ):
            raise InvalidInput(f"input {name!r} has non-numeric dtype {array.dtype}")
        return np.ascontiguousarray(array, dtype=dtype)

    def predict_batch(
        self, batch: list[dict[str, Any]], graph: str | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Runs several input dicts; stacks them into one run when the batch axis is dynamic."""
        if not isinstance(batch, (list, tuple)):
            raise InvalidInput("predict_batch takes a list of input dicts")
        if not batch:
            return []
        key = self._graph_key(graph)
        self.session(key)
        dynamic = all(
            not isinstance(a.shape[0], int) for a in self._inputs[key].values() if a.shape
        )
        if not dynamic or len(batch) == 1:
            return [self.predict(item, key) for item in batch]
        names = list(self._inputs[key])
        try:
            stacked = {n: np.concatenate([np.asarray(item[n]) for item in batch]) for n in names}
        except (KeyError, ValueError) as e:
            raise InvalidInput(f"predict_batch items do not share input names/shapes: {e}") from e
        sizes = [len(np.asarray(item[names[0]])) for item in batch]
        merged = self.predict(stacked, key)
        bounds = np.cumsum([0, *sizes])
        return [
            {k: v[bounds[i] : bounds[i + 1]] for k, v in merged.items()} for i in range(len(batch))
        ]

    def __repr__(self) -> str:
        return f"Model({self.name!r}, task={self.package.manifest.task!r}, graphs={self.graphs})"
