"""The graph rewrites behind :mod:`sensekit.core.compress`, one function per method.

Each takes the source ONNX path, writes the compressed graph to ``out`` and returns
notes for the report. Weight-only methods (palettize, prune) touch float32 initializers
of at least ``min_elements`` values that feed a Conv, ConvTranspose, Gemm, MatMul or
Gather (embedding) node; biases, norms and shape constants are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.accelerate import nn
from sensekit.core.errors import ConversionError, InvalidInput

_WEIGHT_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Gather"}
_POW2 = np.array([1 << i for i in range(8)], np.int32)


def _load(path: Path) -> Any:
    import onnx

    return onnx.load(str(path))


def _save(model: Any, out: Path) -> None:
    from sensekit.core.onnx_utils import save_onnx

    save_onnx(model, out)


def weight_initializers(model: Any, min_elements: int) -> list[Any]:
    """Float32 initializers big enough to matter that are weights of compute ops."""
    from onnx import TensorProto

    used_as_weight = {name for node in model.graph.node if node.op_type in _WEIGHT_OPS
                      for name in node.input}
    return [t for t in model.graph.initializer
            if t.data_type == TensorProto.FLOAT and t.name in used_as_weight
            and int(np.prod(t.dims, dtype=np.int64)) >= min_elements]


# -- fp16, int8 -------------------------------------------------------------------------
def fp16(source: Path, out: Path) -> list[str]:
    """float32 -> float16 weights and compute, float32 inputs and outputs kept."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = convert_float_to_float16(_load(source), keep_io_types=True)
    except Exception as e:
        raise ConversionError(f"fp16 conversion failed: {e}") from e
    _save(model, out)
    return ["CPU kernels of ONNX Runtime are mostly float32: fp16 halves the size but "
            "adds casts and rarely runs faster on a CPU"]


def _quant_type(name: str) -> Any:
    from onnxruntime.quantization import QuantType

    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    if name not in types:
        raise InvalidInput(f"quantization type must be 'int8' or 'uint8', not {name!r}")
    return types[name]


def int8_dynamic(source: Path, out: Path, weight_type: str = "uint8",
                 per_channel: bool = False, op_types: Sequence[str] | None = None) -> list[str]:
    """int8 weights, activations quantized on the fly (ONNX Runtime's quantize_dynamic).

    ``uint8`` weights are the default because ONNX Runtime's ConvInteger kernel takes
    only uint8 weights.
    """
    from onnxruntime.quantization import quantize_dynamic

    try:
        quantize_dynamic(str(source), str(out), per_channel=per_channel,
                         weight_type=_quant_type(weight_type),
                         op_types_to_quantize=list(op_types) if op_types else None)
    except Exception as e:
        raise ConversionError(f"dynamic int8 quantization failed: {e}") from e
    return []


class _Calibration:
    """onnxruntime CalibrationDataReader over a list of feed dicts (one batch each)."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._items = iter([dict(f) for f in feeds])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # pragma: no cover - ORT calls it for some methods only
        pass


def int8_static(source: Path, out: Path, feeds: Sequence[dict[str, np.ndarray]],
                per_channel: bool = True, activation_type: str = "uint8",
                weight_type: str = "int8", calibrate: str = "minmax") -> list[str]:
    """QDQ int8 weights and activations, ranges calibrated on ``feeds``."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if calibrate not in methods:
        raise InvalidInput(f"calibrate must be one of {sorted(methods)}, not {calibrate!r}")
    reader = type("Reader", (_Calibration, CalibrationDataReader), {})(feeds)
    prepared = out.with_name(out.stem + ".prepared.onnx")
    notes = []
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    except Exception as e:  # the pre-pass is an optimisation; quantize the raw graph instead
        notes.append(f"quantization pre-processing skipped: {str(e).splitlines()[0][:120]}")
        prepared = source
    try:
        quantize_static(str(prepared), str(out), reader, quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, activation_type=_quant_type(activation_type),
                        weight_type=_quant_type(weight_type), calibrate_method=methods[calibrate])
    except Exception as e:
        raise ConversionError(f"static int8 quantization failed: {e}") from e
    finally:
        if prepared != source:
            prepared.unlink(missing_ok=True)
    return notes + [f"calibrated on {len(feeds)} sample batch(es)"]


# -- palettization ----------------------------------------------------------------------
def pack_bits(codes: np.ndarray, nbits: int) -> np.ndarray:
    """Little-endian bit stream of ``nbits``-bit codes, plus one zero byte of padding
    (so the graph can always read the byte after a code's first byte)."""
    bits = ((codes.astype(np.uint16)[:, None] >> np.arange(nbits, dtype=np.uint16)) & 1)
    packed = np.packbits(bits.astype(np.uint8).ravel(), bitorder="little")
    return np.concatenate([packed, np.zeros(1, np.uint8)])


def unpack_bits(packed: np.ndarray, nbits: int, count: int) -> np.ndarray:
    """numpy mirror of the in-graph unpacking (for tests)."""
    offsets = np.arange(count, dtype=np.int64) * nbits
    data = packed.astype(np.int64)
    word = data[offsets // 8] + 256 * data[offsets // 8 + 1]
    return (word // _POW2[offsets % 8]) % (1 << nbits)


def _palette_nodes(name: str, shape: Sequence[int], lut: np.ndarray, codes: np.ndarray,
                   nbits: int, scale: np.ndarray | None = None) -> tuple[list[Any], list[Any]]:
    """Nodes rebuilding ``name`` = lut[codes].reshape(shape) (* scale) from packed codes."""
    from onnx import TensorProto, helper, numpy_helper

    def t(suffix: str) -> str:
        return f"{name}/palette/{suffix}"

    count = codes.size
    inits = {"lut": lut.astype(np.float32), "shape": np.array(shape, np.int64)}
    nodes = []
    if nbits == 8:
        inits["codes"] = codes.astype(np.uint8)
        nodes.append(helper.make_node("Cast", [t("codes")], [t("index")], to=TensorProto.INT32))
    else:
        inits.update(packed=pack_bits(codes, nbits), count=np.array(count, np.int64),
                     zero=np.array(0, np.int64), one=np.array(1, np.int64),
                     nbits=np.array(nbits, np.int64), eight=np.array(8, np.int64),
                     byte=np.array(256, np.int32), pow2=_POW2,
                     levels=np.array(1 << nbits, np.int32))
        steps = [("Cast", ["packed"], "bytes", {"to": TensorProto.INT32}),
                 ("Range", ["zero", "count", "one"], "position", {}),
                 ("Mul", ["position", "nbits"], "offset", {}),
                 ("Div", ["offset", "eight"], "first", {}),
                 ("Mod", ["offset", "eight"], "shift", {}),
                 ("Add", ["first", "one"], "second", {}),
                 ("Gather", ["bytes", "first"], "low", {}),
                 ("Gather", ["bytes", "second"], "high", {}),
                 ("Mul", ["high", "byte"], "high256", {}),
                 ("Add", ["low", "high256"], "word", {}),
                 ("Gather", ["pow2", "shift"], "divisor", {}),
                 ("Div", ["word", "divisor"], "shifted", {}),
                 ("Mod", ["shifted", "levels"], "index", {})]
        nodes += [helper.make_node(op, [t(i) for i in ins], [t(o)], **attrs)
                  for op, ins, o, attrs in steps]
    nodes += [helper.make_node("Gather", [t("lut"), t("index")], [t("flat")]),
              helper.make_node("Reshape", [t("flat"), t("shape")],
                               [name if scale is None else t("unscaled")])]
    if scale is not None:
        inits["scale"] = scale.astype(np.float32)
        nodes.append(helper.make_node("Mul", [t("unscaled"), t("scale")], [name]))
    return nodes, [numpy_helper.from_array(v, t(k)) for k, v in inits.items()]


def _channel_axis(model: Any, name: str, ndim: int) -> int:
    """The output-channel axis of a weight, from the first node that reads it."""
    for node in model.graph.node:
        if name in node.input:
            if node.op_type == "MatMul":
                return ndim - 1
            if node.op_type == "ConvTranspose":
                return 1
            if node.op_type == "Gemm" and list(node.input).index(name) == 1:
                trans = {a.name: a.i for a in node.attribute}.get("transB", 0)
                return 0 if trans else ndim - 1
            return 0
    return 0


def channel_scales(weights: np.ndarray, axis: int) -> np.ndarray:
    """Max |w| per output channel, shaped to broadcast against ``weights`` (0 -> 1)."""
    reduce = tuple(a for a in range(weights.ndim) if a != axis % weights.ndim)
    scale = np.max(np.abs(weights), axis=reduce, keepdims=True)
    return np.where(scale > 0, scale, 1.0).astype(np.float32)


def palettize(source: Path, out: Path, nbits: int = 4, min_elements: int = 4096,
              per_channel_scale: bool = True) -> list[str]:
    """k-means (2**nbits clusters per tensor) weight palettization with packed indices.

    With ``per_channel_scale`` each output channel is first divided by its max |w| (kept
    as one float per channel), so channels of very different magnitude (typical after
    batch-norm folding) share the palette without the small ones collapsing to zero.
    """
    from onnx import numpy_helper

    if not isinstance(nbits, int) or not 2 <= nbits <= 8:
        raise InvalidInput(f"nbits must be an int in 2..8, not {nbits!r}")
    model = _load(source)
    graph = model.graph
    targets = weight_initializers(model, min_elements)
    new_nodes, new_inits = [], []
    for tensor in targets:
        weights = numpy_helper.to_array(tensor)
        scale = channel_scales(weights, _channel_axis(model, tensor.name, weights.ndim)) \
            if per_channel_scale and weights.ndim > 1 else None
        lut, codes = nn.kmeans_1d(weights if scale is None else weights / scale, 1 << nbits)
        nodes, inits = _palette_nodes(tensor.name, weights.shape, lut, codes, nbits, scale)
        new_nodes += nodes
        new_inits += inits
    names = {t.name for t in targets}
    kept = [t for t in graph.initializer if t.name not in names] + new_inits
    del graph.initializer[:]
    graph.initializer.extend(kept)
    inputs = [i for i in graph.input if i.name not in names]
    del graph.input[:]
    graph.input.extend(inputs)
    nodes = new_nodes + list(graph.node)  # weights are rebuilt before anything reads them
    del graph.node[:]
    graph.node.extend(nodes)
    _save(model, out)
    if not targets:
        return ["no float32 weight tensors to palettize (already quantized?); graph unchanged"]
    return [f"{len(targets)} weight tensors palettized to {1 << nbits} values each; ONNX "
            "Runtime rebuilds float32 weights when the session loads (smaller file, same "
            "memory and speed)"]


# -- pruning ----------------------------------------------------------------------------
def prune(source: Path, out: Path, sparsity: float = 0.5, min_elements: int = 4096) -> list[str]:
    """Zeroes the ``sparsity`` fraction of smallest-magnitude values of each weight tensor."""
    from onnx import numpy_helper

    if not isinstance(sparsity, (int, float)) or not 0.0 < sparsity < 1.0:
        raise InvalidInput(f"sparsity must be in (0, 1), not {sparsity!r}")
    model = _load(source)
    targets = weight_initializers(model, min_elements)
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
    return [f"{zeroed / max(total, 1):.1%} of {total} weights in {len(targets)} tensors are "
            "zero; ONNX stores them densely, so only the zipped size shrinks and ONNX Runtime "
            "runs no faster"]
