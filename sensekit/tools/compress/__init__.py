"""Model compression (coremltools.optimize's analog): fp16, int8, palettization, pruning.

:func:`compress` writes a *new* package next to the original and reports what changed,
measured rather than assumed: bytes on disk (raw and zip-compressed), median latency on
this machine's CPU, the largest output difference and an accuracy score on sample inputs.
With ``verify=metric, max_drop=x`` the compressed model is kept only if it is not slower
and loses at most ``x`` of the metric; otherwise the original stays in use.

Methods:
* ``fp16`` — float32 weights and ops to float16 (inputs/outputs stay float32); halves size.
  ``weights_only=True`` stores only the weights as float16 (cast back at load time):
  half the size, float32 compute, works for every graph.
  ONNX Runtime's CPU kernels are mostly float32, so it usually runs *slower* on CPU.
* ``int8-dynamic`` — int8 weights, activations quantized per call (no calibration).
* ``int8-static`` — QDQ int8 weights and activations, calibrated on ``sample_inputs``
  (per-channel weights by default; MinMax, Percentile or Entropy ranges).
* ``palettize`` (``nbits`` 2..8) — each weight tensor is k-means clustered into 2**nbits
  values (one table per tensor, or per output channel with ``granularity="per_channel"``);
  the graph stores the tables and bit-packed indices and rebuilds the weight with Gather
  nodes that ONNX Runtime constant-folds when the session loads. Smaller files, same
  speed and memory at run time.
* ``mixed`` (``target_ratio``, ``nbits``) — mixed precision by measured sensitivity: all
  weights float16, and the layers whose ``nbits`` (default 8) linear quantization moves
  the outputs on ``sample_inputs`` least stored at ``nbits`` until the weights are
  ``target_ratio`` (default 2.5) times smaller. Float32 compute, like palettize.
* ``prune`` (``sparsity``) — the smallest-magnitude weights are set to zero. ONNX stores
  and runs dense tensors, so the file is only smaller *compressed* (zip) and nothing gets
  faster; the report says so.

Every method takes ``exclude``: nodes kept in float32 (names, op types, or "first",
"last", "depthwise"). A graph that is already QDQ int8 (e.g. converted from an int8
TFLite model) gets its fake-quantized float weights stored as int8 by both int8 methods,
which is lossless.
"""

from __future__ import annotations

import os
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError, InvalidInput
from sensekit.core.model import Model
from sensekit.core.package import MANIFEST, SUFFIX, write_package
from sensekit.tools.compress import graph as graph_ops

METHODS = ("fp16", "int8-dynamic", "int8-static", "palettize", "prune", "mixed")
Feeds = dict[str, np.ndarray]
Metric = Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], float]
_SLOWER_MARGIN = 1.05  # a compressed model more than 5 % slower counts as slower (timer noise)


def top1_agreement(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    """Fraction of rows whose argmax of the first output matches the reference model's."""
    name = next(iter(reference))
    want, got = np.asarray(reference[name]), np.asarray(outputs[name])
    if want.ndim < 2 or want.shape[-1] < 2:
        return float(np.isclose(want, got, rtol=1e-2, atol=1e-3).mean())
    return float(np.mean(np.argmax(want, -1) == np.argmax(got, -1)))


@dataclass(frozen=True)
class CompressionReport:
    """What one :func:`compress` call did, with measured numbers.

    Attributes:
        method, params: the compression asked for.
        path: the package to use: the compressed one, or the original when it was kept.
        kept: "compressed" or "original".
        reason: why the original was kept ("" otherwise); notes about the method.
        size_before, size_after: bytes of the graph files on disk.
        zipped_before, zipped_after: the same, deflate-compressed (what a download costs).
        latency_before_ms, latency_after_ms: median latency of the main graph on this CPU.
        max_abs_diff: largest difference of the first output on the sample inputs.
        metric: the metric's name; score_before/score_after its values; accuracy_drop
            = score_before - score_after.
    """

    method: str
    params: dict[str, Any]
    path: Path
    kept: str
    reason: str
    size_before: int
    size_after: int
    zipped_before: int
    zipped_after: int
    latency_before_ms: float
    latency_after_ms: float
    max_abs_diff: float
    metric: str
    score_before: float
    score_after: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def accuracy_drop(self) -> float:
        return self.score_before - self.score_after

    @property
    def size_ratio(self) -> float:
        return self.size_after / max(self.size_before, 1)

    @property
    def speedup(self) -> float:
        return self.latency_before_ms / max(self.latency_after_ms, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            path=str(self.path),
            notes=list(self.notes),
            accuracy_drop=self.accuracy_drop,
            size_ratio=self.size_ratio,
            speedup=self.speedup,
        )
        return data


# -- inputs and measurements -----------------------------------------------------------
def _feeds_list(sample_inputs: Any, session: Any) -> list[Feeds]:
    from sensekit.tools.onnx_utils import random_feeds

    if sample_inputs is None:
        return [random_feeds(session, batch=1, seed=s) for s in range(4)]
    items = [sample_inputs] if isinstance(sample_inputs, dict) else list(sample_inputs)
    names = {i.name for i in session.get_inputs()}
    if not items or not all(isinstance(i, dict) and set(i) == names for i in items):
        raise InvalidInput(
            f"sample_inputs must be a dict (or a list of dicts) of the model's "
            f"inputs {sorted(names)}"
        )
    return [{k: np.asarray(v) for k, v in item.items()} for item in items]


def _session(path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as e:
        raise ConversionError(f"The compressed graph {path.name} does not load: {e}") from e


def _run(session: Any, feeds: Feeds) -> list[np.ndarray]:
    try:
        return session.run(None, feeds)
    except Exception as e:
        raise InvalidInput(
            f"The model does not run on the sample inputs ("
            f"{str(e).splitlines()[0][:200]}); pass sample_inputs of the "
            f"shapes it needs"
        ) from e


def _outputs(session: Any, feeds: list[Feeds]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    runs = [dict(zip(names, _run(session, graph_ops.feeds_for(session, f)))) for f in feeds]
    try:
        return {n: np.concatenate([r[n] for r in runs]) for n in names}
    except ValueError:  # shapes differ between samples: score on the first one
        return runs[0]


def _latencies(sessions: Sequence[Any], feeds: Feeds, repeats: int) -> list[float]:
    """Median milliseconds per session, runs interleaved so drift hits all equally."""
    feeds_of = [graph_ops.feeds_for(session, feeds) for session in sessions]
    for session, own in zip(sessions, feeds_of):
        _run(session, own)
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(repeats):
        for i, session in enumerate(sessions):
            start = time.perf_counter()
            session.run(None, feeds_of[i])
            times[i].append((time.perf_counter() - start) * 1e3)
    return [float(np.median(t)) for t in times]


def file_sizes(paths: Sequence[Path]) -> tuple[int, int]:
    """(bytes on disk, bytes after deflate) of some files."""
    raw = zipped = 0
    for path in paths:
        data = path.read_bytes()
        raw += len(data)
        zipped += len(zlib.compress(data, 6))
    return raw, zipped


def _graph_files(directory: Path, graphs: dict[str, str]) -> list[Path]:
    """The graph files of a package plus their external-data files."""
    import onnx

    from sensekit.tools.onnx_utils import external_files as _external_files

    files = []
    for relative in graphs.values():
        files.append(directory / relative)
        model = onnx.load(str(directory / relative), load_external_data=False)
        files += [(directory / relative).parent / e for e in sorted(_external_files(model))]
    return files


# -- the entry point --------------------------------------------------------------------
def _compress_graph(
    method: str, source: Path, out: Path, params: dict[str, Any], calibration: list[Feeds] | None
) -> list[str]:
    try:
        if method == "fp16":
            return graph_ops.fp16(source, out, **params)
        if method == "int8-dynamic":
            return graph_ops.int8_dynamic(source, out, **params)
        if method == "int8-static":
            if calibration is None:
                raise InvalidInput("int8-static needs sample_inputs to calibrate on")
            return graph_ops.int8_static(source, out, calibration, **params)
        if method == "palettize":
            return graph_ops.palettize(source, out, **params)
        if method == "mixed":
            return graph_ops.mixed(source, out, calibration or [], **params)
        return graph_ops.prune(source, out, **params)
    except TypeError as e:  # an unknown keyword for this method
        raise InvalidInput(f"Bad parameters {sorted(params)} for {method}: {e}") from e


def _default_destination(model: Model, method: str, params: dict[str, Any]) -> Path:
    from sensekit.core import registry

    suffix = {
        "palettize": f"{params.get('nbits', 4)}bit",
        "prune": f"{round(100 * params.get('sparsity', 0.5))}",
    }.get(method, "")
    return registry.models_dir() / f"{model.name}-{method}{suffix}{SUFFIX}"


def _write(model: Model, workdir: Path, destination: Path, report: dict[str, Any]) -> None:
    manifest = model.manifest.to_dict()
    manifest.pop("files", None)
    manifest.pop("schema", None)
    manifest.update(name=destination.name.removesuffix(SUFFIX), compression=report)
    graph_files = {model.manifest.graphs[g] for g in model.graphs}
    chosen = {
        graph_ops.fitted_int8_weights(workdir / relative)
        for relative in graph_files
        if (workdir / relative).is_file()
    }
    if len(chosen) == 1 and None not in chosen:  # the load-time fit check reads it
        from sensekit.accelerate import cpu

        manifest["conversion"] = {
            **manifest.get("conversion", {}),
            "int8": cpu.int8_record(chosen.pop()),
        }
    replaced = {
        p.relative_to(model.package.root).as_posix()
        for p in _graph_files(
            model.package.root, {g: model.manifest.graphs[g] for g in model.graphs}
        )
    }
    with write_package(destination, manifest) as writer:
        for relative in model.manifest.files:
            if relative != MANIFEST and relative not in replaced:
                writer.add_file(relative, model.package.path(relative))
        for relative in graph_files:
            for produced in (workdir / relative).parent.glob(Path(relative).name + "*"):
                writer.add_file(str(Path(relative).parent / produced.name), produced)


def _gate(
    verify: Metric | None, max_drop: float | None, drop: float, before_ms: float, after_ms: float
) -> str:
    """Why the original must be kept ("" when the compressed model passes)."""
    if verify is None and max_drop is None:
        return ""
    limit = 0.01 if max_drop is None else float(max_drop)
    if drop > limit:
        return f"accuracy dropped by {drop:.4f}, more than the allowed {limit:g}"
    if after_ms > before_ms * _SLOWER_MARGIN:
        return f"slower: {after_ms:.2f} ms vs {before_ms:.2f} ms"
    return ""


def compress(
    model_or_path: Model | str | os.PathLike[str],
    method: str,
    destination: str | os.PathLike[str] | None = None,
    *,
    verify: Metric | None = None,
    max_drop: float | None = None,
    sample_inputs: Any = None,
    calibration: Any = None,
    graph_inputs: dict[str, Any] | None = None,
    fixed_inputs: dict[str, Any] | None = None,
    repeats: int = 20,
    **params: Any,
) -> CompressionReport:
    """Compresses every graph of a model package into a new package and measures it.

    Args:
        model_or_path: a Model, zoo name or package path.
        method: one of :data:`METHODS`.
        destination: the new package (default ``$SENSEKIT_HOME/models/NAME-METHOD.skmodel``).
        verify: a metric ``metric(outputs, reference_outputs) -> score`` (higher is better);
            with it (or ``max_drop``) the original is kept when the compressed model is
            slower or its score drops by more than ``max_drop`` (default 0.01).
        max_drop: the largest accepted score drop.
        sample_inputs: a feed dict or a list of them, for calibration (int8-static), the
            accuracy check and timing; random inputs when None (except int8-static).
        calibration: int8-static calibration feeds, when they should differ from the
            ``sample_inputs`` the accuracy is measured on (recommended).
        graph_inputs: for packages of several graphs, ``{graph: feeds}`` of real inputs of
            the graphs after the main one (int8-static calibrates them on it, mixed ranks
            their layers on it); without it they are quantized dynamically (int8-static)
            or ranked on random inputs (mixed).
        fixed_inputs: ``{input: value}`` for inputs the application always feeds with one
            value (Silero VAD's ``sr``): baked into every graph that takes them, with the
            branches they rule out dropped (see :mod:`sensekit.tools.compress.specialize`); the compressed
            graphs no longer take those inputs.
        repeats: timed runs per model for the median latency.
        **params: method parameters: all: exclude; fp16: weights_only, min_elements;
            int8-dynamic: weight_type, per_channel, reduce_range, op_types; int8-static: per_channel, reduce_range,
            activation_type, weight_type, calibrate ("minmax", "percentile", "entropy");
            palettize: nbits (2..8), granularity ("per_tensor", "per_channel"),
            clustering ("kmeans", "uniform"),
            per_channel_scale, min_elements; prune: sparsity, min_elements;
            mixed: target_ratio (2..3.9, or ``{graph: ratio}``), nbits, min_elements.

    Returns:
        A :class:`CompressionReport` (sizes, latencies, accuracy, which package to use).

    Raises:
        InvalidInput: unknown method or parameters, bad sample inputs.
        ConversionError: the compression itself failed.
    """
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {METHODS}, not {method!r}")
    model = model_or_path if isinstance(model_or_path, Model) else Model.load(model_or_path)
    target = (
        Path(destination)
        if destination is not None
        else _default_destination(model, method, params)
    )
    if target.resolve() == model.package.root.resolve():
        raise InvalidInput("destination is the model itself; compression writes a new package")
    main = model._graph_key(None)
    source_main = model.package.graph_path(main)
    reference = _session(source_main)
    feeds = _feeds_list(sample_inputs, reference)
    calibration = (
        _feeds_list(calibration, reference)
        if calibration is not None
        else feeds
        if sample_inputs is not None
        else None
    )
    with tempfile.TemporaryDirectory(dir=target.parent if target.parent.is_dir() else None) as work:
        workdir = Path(work) / "graphs"
        notes: list[str] = []
        inner = _graph_feeds(model, graph_inputs)
        sources = _specialized(model, fixed_inputs, Path(work) / ".fixed", notes)
        for key in model.graphs:
            out = workdir / model.manifest.graphs[key]
            out.parent.mkdir(parents=True, exist_ok=True)
            graph_method = method
            graph_feeds = (
                inner.get(key)
                if key != main
                else (calibration or feeds)
                if method == "mixed"
                else calibration
            )
            if method == "int8-static" and key != main and graph_feeds is None:
                graph_method = "int8-dynamic"
                notes.append(f"graph {key!r} quantized dynamically (no calibration data)")
            if method == "mixed" and graph_feeds is None:  # random inputs rank its layers
                graph_feeds = _feeds_list(None, _session(model.package.graph_path(key)))
                notes.append(
                    f"graph {key!r}: layers ranked on random inputs (no graph_inputs for it)"
                )
            graph_params = params if graph_method == method else {}
            if method == "mixed" and isinstance(params.get("target_ratio"), dict):
                graph_params = dict(params, target_ratio=_graph_ratio(model, params, key))
            notes += _compress_graph(
                graph_method,
                sources.get(key, model.package.graph_path(key)),
                out,
                graph_params,
                graph_feeds,
            )
        report = _measure(model, workdir, method, params, feeds, verify, repeats, notes)
        reason = _gate(
            verify,
            max_drop,
            report.accuracy_drop,
            report.latency_before_ms,
            report.latency_after_ms,
        )
        if reason:
            return _replace(report, path=model.package.root, kept="original", reason=reason)
        summary = {k: v for k, v in report.to_dict().items() if k not in ("path", "kept")}
        _write(model, workdir, target, dict(summary, base=model.name))
    return _replace(report, path=target)


def _specialized(
    model: Model, fixed: dict[str, Any] | None, workdir: Path, notes: list[str]
) -> dict[str, Path]:
    """Graphs with ``fixed`` inputs baked in, written under ``workdir``: {graph: path}."""
    if fixed is None:
        return {}
    import onnx

    from sensekit.tools.compress.specialize import fix_inputs

    if not isinstance(fixed, dict) or not fixed:
        raise InvalidInput(f"fixed_inputs must be a dict of input names to values, not {fixed!r}")
    out, seen = {}, set()
    for key in model.graphs:
        graph = onnx.load(str(model.package.graph_path(key)))
        mine = {k: v for k, v in fixed.items() if k in {i.name for i in graph.graph.input}}
        if not mine:
            continue
        seen |= set(mine)
        notes += [f"graph {key!r}: {n}" for n in fix_inputs(graph, mine)]
        out[key] = workdir / model.manifest.graphs[key]
        out[key].parent.mkdir(parents=True, exist_ok=True)
        graph_ops._save(graph, out[key])
    if set(fixed) - seen:
        raise InvalidInput(
            f"fixed_inputs {sorted(set(fixed) - seen)} are inputs of no graph of {model.name}"
        )
    return out


def _graph_ratio(model: Model, params: dict[str, Any], key: str) -> float:
    """mixed's ``target_ratio={graph: ratio}``: this graph's ratio (2.0, float16 only,
    for graphs not named)."""
    ratios = params["target_ratio"]
    unknown = set(ratios) - set(model.graphs)
    if unknown:
        raise InvalidInput(
            f"target_ratio names graphs {sorted(unknown)} that {model.name} "
            f"does not have ({sorted(model.graphs)})"
        )
    return ratios.get(key, 2.0)


def _graph_feeds(model: Model, graph_inputs: dict[str, Any] | None) -> dict[str, list[Feeds]]:
    """Checked ``graph_inputs``: feeds for graphs other than the main one."""
    if graph_inputs is None:
        return {}
    main = model._graph_key(None)
    if not isinstance(graph_inputs, dict) or not set(graph_inputs) <= set(model.graphs) - {main}:
        raise InvalidInput(
            f"graph_inputs must map graphs of {model.name} other than the main "
            f"one ({sorted(set(model.graphs) - {main})}) to feeds"
        )
    return {
        key: _feeds_list(value, _session(model.package.graph_path(key)))
        for key, value in graph_inputs.items()
    }


def _replace(report: CompressionReport, **changes: Any) -> CompressionReport:
    import dataclasses

    return dataclasses.replace(report, **changes)


def _measure(
    model: Model,
    workdir: Path,
    method: str,
    params: dict[str, Any],
    feeds: list[Feeds],
    verify: Metric | None,
    repeats: int,
    notes: list[str],
) -> CompressionReport:
    graphs = {k: model.manifest.graphs[k] for k in model.graphs}
    size_before, zipped_before = file_sizes(_graph_files(model.package.root, graphs))
    size_after, zipped_after = file_sizes(_graph_files(workdir, graphs))
    main = model._graph_key(None)
    original = _session(model.package.graph_path(main))
    compressed = _session(workdir / graphs[main])
    reference, outputs = _outputs(original, feeds), _outputs(compressed, feeds)
    first = next(iter(reference))
    diff = (
        float(np.max(np.abs(reference[first].astype(np.float64) - outputs[first])))
        if np.issubdtype(reference[first].dtype, np.floating)
        else 0.0
    )
    metric = verify or top1_agreement
    try:
        before, after = float(metric(reference, reference)), float(metric(outputs, reference))
    except Exception as e:
        raise InvalidInput(f"The metric failed on the model outputs: {e}") from e
    before_ms, after_ms = _latencies([original, compressed], feeds[0], max(1, int(repeats)))
    return CompressionReport(
        method,
        dict(params),
        workdir,
        "compressed",
        "",
        size_before,
        size_after,
        zipped_before,
        zipped_after,
        before_ms,
        after_ms,
        diff,
        getattr(metric, "__name__", "metric"),
        before,
        after,
        tuple(notes),
    )
