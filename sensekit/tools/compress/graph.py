"""The graph rewrites behind :mod:`sensekit.tools.compress`, one function per method.

Each takes the source ONNX path, writes the compressed graph to ``out`` and returns
notes for the report. Weight-only methods (palettize, prune) touch float32 initializers
of at least ``min_elements`` values that feed a Conv, ConvTranspose, Gemm, MatMul or
Gather (embedding) node; biases, norms and shape constants are left alone.

Every method takes ``exclude``: nodes to keep in float32. Items are node names, op types
("Gemm") or the keywords ``"first"`` / ``"last"`` (the first / last node with a weight,
usually the stem conv and the classifier) and ``"depthwise"`` (grouped convolutions).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError, InvalidInput
from sensekit.tools.compress import palette, specialize
from sensekit.tools.compress.palette import channel_scales, pack_bits, unpack_bits  # noqa: F401

_WEIGHT_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Gather"}
KEYWORDS = ("first", "last", "depthwise")


def _load(path: Path) -> Any:
    import onnx

    return onnx.load(str(path))


def _save(model: Any, out: Path) -> None:
    from sensekit.tools.onnx_utils import save_onnx

    save_onnx(model, out)


# -- which nodes -----------------------------------------------------------------------
def _weighted_nodes(model: Any) -> list[Any]:
    """Nodes of a weight op that read an initializer, in graph order."""
    inits = {t.name for t in model.graph.initializer}
    return [
        n for n in model.graph.node if n.op_type in _WEIGHT_OPS and any(i in inits for i in n.input)
    ]


def resolve_exclude(model: Any, exclude: Sequence[str] | None) -> set[str]:
    """Node names matched by ``exclude`` (names, op types, "first", "last", "depthwise")."""
    if not exclude:
        return set()
    if isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude):
        raise InvalidInput(f"exclude must be a list of node names, op types or {KEYWORDS}")
    weighted = [n for n in _weighted_nodes(model) if n.op_type != "Gather"]
    names: set[str] = set()
    for item in exclude:
        if item == "first" and weighted:
            names.add(weighted[0].name)
        elif item == "last" and weighted:
            names.add(weighted[-1].name)
        elif item == "depthwise":
            names |= {
                n.name
                for n in model.graph.node
                if n.op_type == "Conv" and {a.name: a.i for a in n.attribute}.get("group", 1) > 1
            }
        else:
            names |= {n.name for n in model.graph.node if item in (n.name, n.op_type)}
    unnamed = [n for n in model.graph.node if not n.name]
    if unnamed and names:
        raise InvalidInput("exclude needs named nodes; this graph has unnamed ones")
    return names


def weight_initializers(
    model: Any, min_elements: int, excluded: set[str] | None = None
) -> list[Any]:
    """Float32 initializers big enough to matter that are weights of compute ops
    (none read by an ``excluded`` node)."""
    from onnx import TensorProto

    used_as_weight = {
        name for node in model.graph.node if node.op_type in _WEIGHT_OPS for name in node.input
    }
    protected = {
        name for node in model.graph.node if node.name in (excluded or set()) for name in node.input
    }
    return [
        t
        for t in model.graph.initializer
        if t.data_type == TensorProto.FLOAT
        and t.name in used_as_weight
        and t.name not in protected
        and int(np.prod(t.dims, dtype=np.int64)) >= min_elements
    ]


# -- fp16 ------------------------------------------------------------------------------
def fp16(
    source: Path,
    out: Path,
    exclude: Sequence[str] | None = None,
    weights_only: bool = False,
    min_elements: int = 1024,
) -> list[str]:
    """float32 -> float16 weights and compute, float32 inputs and outputs kept.

    With ``weights_only`` only weights are stored as float16, each behind a Cast back to
    float32 that ONNX Runtime folds at load time: half the file size, float32 compute,
    and it works for graphs whose ops have no float16 kernel.
    """
    if weights_only:
        return _fp16_weights(source, out, exclude, min_elements)
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source_model = _load(source)
    _name_nodes(source_model)
    blocked = resolve_exclude(source_model, exclude)
    # integer quantization reads and writes float32 scales: an int8 graph keeps those
    # nodes in float32 and the rest goes to float16 around them
    kept_types = {n.op_type for n in source_model.graph.node if n.op_type in FLOAT32_OPS}
    for _ in range(4):
        blocked |= {n.name for n in source_model.graph.node if n.op_type in kept_types}
        try:
            model = convert_float_to_float16(
                _copy(source_model), keep_io_types=True, node_block_list=sorted(blocked) or None
            )
        except Exception as e:
            raise ConversionError(f"fp16 conversion failed: {e}") from e
        _save(model, out)
        missing = _ops_without_fp16_kernel(out) - kept_types
        if not missing:
            break
        kept_types |= missing  # no float16 kernel on this machine: keep them in float32
    notes = [
        (
            "CPU kernels of ONNX Runtime are mostly float32: fp16 halves the size but "
            "adds casts and rarely runs faster on a CPU"
        )
    ]
    if kept_types:
        notes.append(
            f"kept in float32 (no float16 kernel here, or integer quantization): "
            f"{', '.join(sorted(kept_types))}"
        )
    return notes + ([f"{len(blocked)} node(s) kept in float32"] if blocked else [])


DYNAMIC_INT8_OPS = {
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
}
FLOAT32_OPS = {
    "DynamicQuantizeLinear",
    "QuantizeLinear",
    "DequantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
    "QLinearMatMul",
    "QLinearConv",
    "QLinearAdd",
    "QLinearMul",
    "QGemm",
}


def _copy(model: Any) -> Any:
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _name_nodes(model: Any) -> None:
    """Gives unnamed nodes unique names (a block list names nodes)."""
    taken = {n.name for n in model.graph.node if n.name}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            node.name = next(
                f"{node.op_type}_{index}_{k}"
                for k in range(len(taken) + 1)
                if f"{node.op_type}_{index}_{k}" not in taken
            )
            taken.add(node.name)


def _ops_without_fp16_kernel(path: Path) -> set[str]:
    """Op types ONNX Runtime refuses in a float16 graph at load time (empty: it loads)."""
    import re

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:
        text = str(e)
        found = set(re.findall(r"of operator \((\w+)\)", text)) | set(
            re.findall(r"implementation for (\w+)\(", text)
        )
        if not found:
            raise ConversionError(f"the float16 graph does not load: {text[:300]}") from e
        return found
    return set()


def _fp16_weights(
    source: Path, out: Path, exclude: Sequence[str] | None, min_elements: int
) -> list[str]:
    model = _load(source)
    chosen = weight_initializers(model, min_elements, resolve_exclude(model, exclude))
    _store_fp16(model, chosen)
    constants = 0 if exclude else specialize.store_constants_fp16(model, min_elements)
    _save(model, out)
    return [
        f"{len(chosen) + constants} weight tensor(s) stored as float16 and cast to float32 "
        "at load: compute and speed stay float32"
    ]


def _store_fp16(model: Any, chosen: list[Any]) -> None:
    """Stores initializers ``chosen`` as float16, each behind a Cast back to float32."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    names = {t.name for t in chosen}
    casts = []
    for tensor in chosen:
        half = numpy_helper.from_array(
            numpy_helper.to_array(tensor).astype(np.float16), f"{tensor.name}__fp16"
        )
        graph.initializer.append(half)
        casts.append(
            helper.make_node(
                "Cast",
                [half.name],
                [tensor.name],
                name=f"{tensor.name}__to_fp32",
                to=TensorProto.FLOAT,
            )
        )
    kept = [t for t in graph.initializer if t.name not in names]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    listed = [i for i in graph.input if i.name not in names]  # old IRs list weights as inputs
    del graph.input[:]
    graph.input.extend(listed)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


# -- int8 ------------------------------------------------------------------------------
def _quant_type(name: str) -> Any:
    from onnxruntime.quantization import QuantType

    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    if name not in types:
        raise InvalidInput(f"quantization type must be 'int8' or 'uint8', not {name!r}")
    return types[name]


def fold_weight_quantize(model: Any) -> tuple[int, bool]:
    """Stores float weights that feed a QuantizeLinear as the integers it would produce
    (lossless: the graph computed exactly these values).

    Returns:
        (weights folded, whether activations are quantized too, i.e. the graph is
        already a QDQ-quantized graph that should not be quantized again).
    """
    from onnx import numpy_helper

    from sensekit.tools.onnx_utils import prune_graph

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    folded, activations, kept = [], False, []
    for node in graph.node:
        if node.op_type != "QuantizeLinear":
            kept.append(node)
            continue
        x, scale, *zp = [*list(node.input), ""]
        if x not in inits or scale not in inits or (zp[0] and zp[0] not in inits):
            activations = activations or x not in inits
            kept.append(node)
            continue
        values = numpy_helper.to_array(inits[x]).astype(np.float64)
        s = numpy_helper.to_array(inits[scale]).astype(np.float64)
        z = numpy_helper.to_array(inits[zp[0]]) if zp[0] else np.zeros((), np.uint8)
        axis = {a.name: a.i for a in node.attribute}.get("axis", 1) % max(values.ndim, 1)
        shape = [-1 if a == axis else 1 for a in range(values.ndim)] if s.ndim else []
        info = np.iinfo(z.dtype)
        q = np.clip(
            np.rint(values / s.reshape(shape)) + z.astype(np.int64).reshape(shape),
            info.min,
            info.max,
        ).astype(z.dtype)
        folded.append(numpy_helper.from_array(q, node.output[0]))
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(folded)
    prune_graph(graph)
    return len(folded), activations


def _prequantized(source: Path, out: Path) -> list[str] | None:
    """Notes if ``source`` is already a QDQ int8 graph (then its weights are folded into
    ``out`` and nothing else is done); None for a float graph."""
    model = _load(source)
    count, activations = fold_weight_quantize(model)
    if not activations:
        return None
    _save(model, out)
    return [
        f"graph is already QDQ int8: {count} float weight tensors stored as the int8 "
        "values the graph used (lossless); activations left as they were"
    ]


def int8_dynamic(
    source: Path,
    out: Path,
    weight_type: str = "auto",
    per_channel: bool = False,
    reduce_range: bool = False,
    op_types: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> list[str]:
    """int8 weights, activations quantized on the fly (ONNX Runtime's quantize_dynamic).

    ``weight_type="auto"`` fits the weights to this CPU (``accelerate.cpu.int8_weights``:
    int8 with VNNI/AMX/dot product, uint8 without), except that a graph with convolutions
    to quantize takes uint8: ONNX Runtime's ConvInteger kernel takes only uint8 weights.
    """
    from onnxruntime.quantization import quantize_dynamic

    from sensekit.accelerate import cpu

    notes = _prequantized(source, out)
    if notes is not None:
        return notes
    graph = _load(source)
    if weight_type == "auto":
        convs = any(n.op_type == "Conv" for n in graph.graph.node)
        if convs and (op_types is None or "Conv" in op_types):
            weight_type = "uint8"
        else:
            weight_type = cpu.int8_weights()
    excluded = sorted(resolve_exclude(graph, exclude))
    try:
        with _quiet_root_logger():
            quantize_dynamic(
                str(source),
                str(out),
                per_channel=per_channel,
                reduce_range=reduce_range,
                weight_type=_quant_type(weight_type),
                op_types_to_quantize=list(op_types) if op_types else None,
                nodes_to_exclude=excluded or None,
            )
    except Exception as e:
        raise ConversionError(f"dynamic int8 quantization failed: {e}") from e
    notes = [f"{weight_type} weights ({cpu.info().kind} CPU)"]
    return notes + ([f"{len(excluded)} node(s) kept in float32"] if excluded else [])


def fitted_int8_weights(path: Path) -> str | None:
    """ "int8" or "uint8": the weight type a graph's int8 MatMuls were given, when that was
    a choice fitted to the CPU; None for a graph with no MatMulInteger, with mixed types,
    or with ConvInteger (whose kernel takes uint8 only, so nothing was chosen)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    if any(n.op_type == "ConvInteger" for n in graph.node):
        return None
    types = {t.name: t.data_type for t in graph.initializer}
    found = {
        types[n.input[1]]
        for n in graph.node
        if n.op_type == "MatMulInteger" and len(n.input) > 1 and n.input[1] in types
    }
    names = {onnx.TensorProto.INT8: "int8", onnx.TensorProto.UINT8: "uint8"}
    return names.get(found.pop()) if len(found) == 1 else None


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization warns on the root logger once per call; silence it."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)


def int8_sensitivity(
    source: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    weight_type: str = "uint8",
    per_channel: bool = True,
    op_types: Sequence[str] = ("MatMul",),
) -> dict[str, float]:
    """Relative output error (see :func:`_relative_error`) when each weighted node of
    ``op_types`` alone is quantized by :func:`int8_dynamic` on ``feeds``: which layers to
    keep in float32 when the rest go int8."""
    import tempfile

    import onnx

    model = onnx.load(str(source))
    inits = {t.name for t in model.graph.initializer}
    names = [
        n.name
        for n in model.graph.node
        if n.op_type in op_types and n.name and any(i in inits for i in n.input)
    ]
    reference = _run_proto(model, feeds)
    errors = {}
    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        out = Path(tmp) / "trial.onnx"
        for name in names:
            int8_dynamic(
                source,
                out,
                weight_type=weight_type,
                per_channel=per_channel,
                op_types=op_types,
                exclude=[n for n in names if n != name],
            )
            errors[name] = _relative_error(reference, _run_proto(onnx.load(str(out)), feeds))
    return errors


class _Calibration:
    """onnxruntime CalibrationDataReader over a list of feed dicts (one batch each)."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._feeds = [dict(f) for f in feeds]
        self._items = iter(self._feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # pragma: no cover - ORT calls it for some methods only
        self._items = iter(self._feeds)


def _prepare(source: Path, out: Path) -> tuple[Path, list[str]]:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out.with_name(out.stem + ".prepared.onnx")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    except Exception as e:  # the pre-pass is an optimisation; quantize the raw graph instead
        return source, [f"quantization pre-processing skipped: {str(e).splitlines()[0][:120]}"]
    return prepared, []


def int8_static(
    source: Path,
    out: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    per_channel: bool = True,
    reduce_range: bool = False,
    activation_type: str = "uint8",
    weight_type: str = "int8",
    calibrate: str = "minmax",
    exclude: Sequence[str] | None = None,
) -> list[str]:
    """QDQ int8 weights and activations, ranges calibrated on ``feeds``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        quantize_static,
    )

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if calibrate not in methods:
        raise InvalidInput(f"calibrate must be one of {sorted(methods)}, not {calibrate!r}")
    notes = _prequantized(source, out)
    if notes is not None:
        return notes
    prepared, notes = _prepare(source, out)
    try:
        prepared_model = _load(prepared)
        graph = prepared_model.graph
        inputs = {i.name for i in graph.input}  # a specialized graph takes fewer
        reader = type("Reader", (_Calibration, CalibrationDataReader), {})(
            [{k: v for k, v in f.items() if k in inputs} for f in feeds]
        )
        # A graph with dynamically quantized MatMuls (MatMulInteger) trips ONNX Runtime's
        # static quantizer on the activations around them: only its float layers are.
        dynamic = any(n.op_type in DYNAMIC_INT8_OPS for n in graph.node)
        op_types = sorted(_WEIGHT_OPS - {"Gather"}) if dynamic else None
        padded = _infinite_padding(prepared_model)
        excluded = sorted(resolve_exclude(prepared_model, exclude) | padded)
        quantize_static(
            str(prepared),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=_quant_type(activation_type),
            weight_type=_quant_type(weight_type),
            calibrate_method=methods[calibrate],
            nodes_to_exclude=excluded or None,
            op_types_to_quantize=op_types,
        )
    except InvalidInput:
        raise
    except Exception as e:
        raise ConversionError(f"static int8 quantization failed: {e}") from e
    finally:
        if prepared != source:
            prepared.unlink(missing_ok=True)
    if padded:
        notes.append(
            f"{len(padded)} node(s) around an infinite padding value (a Pad feeding "
            "a MaxPool) kept in float32: an infinite range has no int8 scale"
        )
    if dynamic:
        notes.append(
            "graph already held dynamic int8 MatMuls: static int8 applied to its "
            "float MatMul/Conv/Gemm layers only"
        )
    return (
        notes
        + [f"calibrated ({calibrate}) on {len(feeds)} sample batch(es)"]
        + ([f"{len(excluded)} node(s) kept in float32"] if excluded else [])
    )


def _infinite_padding(model: Any) -> set[str]:
    """Pad nodes whose padding value is infinite (TF's max-pool padding) and the nodes that
    read their output: calibration gives that tensor an infinite range, whose int8 scale
    is NaN (NanoDet int8-static scored F1 0 before these were kept in float)."""
    from onnx import numpy_helper

    values = {t.name: t for t in model.graph.initializer}
    values.update(
        {
            n.output[0]: n.attribute[0].t
            for n in model.graph.node
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"
        }
    )
    names: set[str] = set()
    for node in model.graph.node:
        if node.op_type != "Pad" or len(node.input) < 3 or node.input[2] not in values:
            continue
        if np.all(np.isfinite(numpy_helper.to_array(values[node.input[2]]))):
            continue
        names.add(node.name)
        names |= {n.name for n in model.graph.node if node.output[0] in n.input}
    return {n for n in names if n}


# -- weight-only -----------------------------------------------------------------------
def palettize(
    source: Path,
    out: Path,
    nbits: int = 4,
    min_elements: int = 4096,
    granularity: str = "per_tensor",
    per_channel_scale: bool = True,
    clustering: str = "kmeans",
    exclude: Sequence[str] | None = None,
) -> list[str]:
    """k-means (or uniform) weight palettization with packed indices (see
    :mod:`sensekit.tools.compress.palette`)."""
    palette.check_palette_params(nbits, granularity, clustering)
    model = _load(source)
    targets = weight_initializers(model, min_elements, resolve_exclude(model, exclude))
    notes = palette.palettize(model, targets, nbits, granularity, per_channel_scale, clustering)
    _save(model, out)
    return notes


def prune(
    source: Path,
    out: Path,
    sparsity: float = 0.5,
    min_elements: int = 4096,
    exclude: Sequence[str] | None = None,
) -> list[str]:
    """Zeroes the ``sparsity`` fraction of smallest-magnitude values of each weight tensor."""
    from onnx import numpy_helper

    if not isinstance(sparsity, (int, float)) or not 0.0 < sparsity < 1.0:
        raise InvalidInput(f"sparsity must be in (0, 1), not {sparsity!r}")
    model = _load(source)
    targets = weight_initializers(model, min_elements, resolve_exclude(model, exclude))
    zeroed = total = 0
    for tensor in targets:
        weights = numpy_helper.to_array(tensor).copy()
        flat = np.abs(weights).ravel()
        cut = int(sparsity * flat.size)
        if cut:
            threshold = np.partition(flat, cut - 1)[cut - 1]
            weights[np.abs(weights) <= threshold] = 0.0
        zeroed += int(np.count_nonzero(weights == 0))
        total += weights.size
        tensor.CopyFrom(numpy_helper.from_array(weights, tensor.name))
    _save(model, out)
    if not targets:
        return ["no float32 weight tensors to prune (already quantized?); graph unchanged"]
    return [
        f"{zeroed / max(total, 1):.1%} of {total} weights in {len(targets)} tensors are "
        "zero; ONNX stores them densely, so only the zipped size shrinks and ONNX Runtime "
        "runs no faster"
    ]


# -- mixed precision ---------------------------------------------------------------------
def _relative_error(reference: list[np.ndarray], outputs: list[np.ndarray]) -> float:
    """Mean over float outputs of ||y - y_ref||^2 / ||y_ref||^2."""
    errors = []
    for want, got in zip(reference, outputs):
        if np.issubdtype(want.dtype, np.floating) and want.size:
            want64 = want.astype(np.float64)
            scale = max(float(np.sum(want64**2)), 1e-30)
            errors.append(float(np.sum((got.astype(np.float64) - want64) ** 2)) / scale)
    return float(np.mean(errors)) if errors else 0.0


def feeds_for(session: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feeds`` without the inputs a specialized graph no longer takes."""
    names = {i.name for i in session.get_inputs()}
    return {k: v for k, v in feeds.items() if k in names}


def _run_proto(model: Any, feeds: Sequence[dict[str, np.ndarray]]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    runs = [session.run(None, feeds_for(session, f)) for f in feeds]
    return [
        np.concatenate([r[i].reshape(1, -1) for r in runs], axis=1) for i in range(len(runs[0]))
    ]


def layer_sensitivity(
    model: Any, targets: list[Any], feeds: Sequence[dict[str, np.ndarray]], nbits: int = 8
) -> dict[str, float]:
    """Output error (relative squared error, see :func:`_relative_error`) when each target
    weight alone is stored at ``nbits`` (uniform, per-channel scale) on ``feeds``."""
    reference = _run_proto(model, feeds)
    errors = {}
    for tensor in targets:
        trial = _copy(model)
        inner = next(t for t in trial.graph.initializer if t.name == tensor.name)
        palette.palettize(trial, [inner], nbits, "per_tensor", True, "uniform")
        errors[tensor.name] = _relative_error(reference, _run_proto(trial, feeds))
    return errors


def mixed(
    source: Path,
    out: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    target_ratio: float = 2.5,
    nbits: int = 8,
    min_elements: int = 4096,
    exclude: Sequence[str] | None = None,
) -> list[str]:
    """Mixed precision by measured sensitivity: every weight is stored as float16, and the
    weights whose ``nbits`` linear quantization (per-channel scale) changes the outputs on
    ``feeds`` least are stored at ``nbits`` instead, least sensitive first, until the
    weights are ``target_ratio`` times smaller than in float32. Compute stays float32
    (ONNX Runtime rebuilds the weights when the session loads)."""
    if not isinstance(target_ratio, (int, float)) or not 2.0 <= float(target_ratio) <= 3.9:
        raise InvalidInput(f"target_ratio must be in [2, 3.9], not {target_ratio!r}")
    palette.check_palette_params(nbits, "per_tensor", "uniform")
    model = _load(source)
    excluded = resolve_exclude(model, exclude)
    candidates = weight_initializers(model, min_elements, excluded)
    weights = weight_initializers(model, 16, excluded)
    sizes = {t.name: int(np.prod(t.dims, dtype=np.int64)) for t in weights}
    budget = 4 * sum(sizes.values()) / float(target_ratio)
    used = 2 * sum(sizes.values())
    try:  # float16 alone may already meet the target: then nothing needs ranking
        errors = layer_sensitivity(model, candidates, feeds, nbits) if used > budget else {}
    except Exception as e:
        raise ConversionError(f"could not measure layer sensitivity: {e}") from e
    chosen: list[str] = []
    for name in sorted(errors, key=errors.__getitem__):
        if used <= budget:
            break
        chosen.append(name)
        used -= sizes[name] * (2 - nbits / 8)
    low = [t for t in model.graph.initializer if t.name in set(chosen)]
    notes = palette.palettize(model, low, nbits, "per_tensor", True, "uniform") if low else []
    rest = [t for t in model.graph.initializer if t.name in sizes]  # not palettized
    _store_fp16(model, rest)
    _save(model, out)
    worst = max((errors[n] for n in chosen), default=0.0)
    reached = 4 * sum(sizes.values()) / max(used, 1)
    return [
        *notes,
        f"{len(rest)} weight tensor(s) stored as float16, {len(chosen)} at "
        f"{nbits} bits (the least sensitive; largest single-layer relative "
        f"error {worst:.2e}); weights {reached:.2f}x smaller than float32"
        + (
            ""
            if used <= budget
            else f" (target {target_ratio}x not reached: no more layers to quantize)"
        ),
    ]
