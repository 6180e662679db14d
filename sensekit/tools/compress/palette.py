"""Weight palettization for :mod:`sensekit.tools.compress` (coremltools' ``palettize``).

Each weight tensor is k-means clustered into ``2**nbits`` values; the graph stores the
look-up table(s) and bit-packed indices and rebuilds the float32 weight with a few
Gather nodes that ONNX Runtime constant-folds when the session loads (smaller file, same
memory and speed at run time). Two granularities:

* ``per_tensor`` — one table per tensor; each output channel is first divided by its
  max |w| (one float per channel kept), so channels of different magnitude share it.
* ``clustering="uniform"`` — instead of k-means, 2**nbits evenly spaced values per
  (scaled) channel: linear quantization, which keeps the largest weights exact where
  k-means spends its values on the crowded middle (better for BN-folded CNNs).
* ``per_channel`` — one table per output channel (coremltools' ``per_grouped_channel``
  with group 1), stored as float16; tensors whose rows are too short for their own
  table (fewer than 4 values per entry, e.g. depthwise 3x3) fall back to per_tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sensekit.accelerate import nn
from sensekit.core.errors import InvalidInput

_POW2 = np.array([1 << i for i in range(8)], np.int32)
GRANULARITIES = ("per_tensor", "per_channel")
CLUSTERINGS = ("kmeans", "uniform")


def uniform_palette(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k evenly spaced values over [-1, 1] and the nearest one's index of each value
    (linear quantization; with per-channel scales it bounds every channel's error)."""
    lut = np.linspace(-1.0, 1.0, k).astype(np.float32)
    codes = np.rint((np.clip(np.asarray(values, np.float64).ravel(), -1, 1) + 1) / 2 * (k - 1))
    return lut, codes.astype(np.int64)


def pack_bits(codes: np.ndarray, nbits: int) -> np.ndarray:
    """Little-endian bit stream of ``nbits``-bit codes, plus one zero byte of padding
    (so the graph can always read the byte after a code's first byte)."""
    codes = np.asarray(codes).ravel()
    bits = (codes.astype(np.uint16)[:, None] >> np.arange(nbits, dtype=np.uint16)) & 1
    packed = np.packbits(bits.astype(np.uint8).ravel(), bitorder="little")
    return np.concatenate([packed, np.zeros(1, np.uint8)])


def unpack_bits(packed: np.ndarray, nbits: int, count: int) -> np.ndarray:
    """numpy mirror of the in-graph unpacking (for tests)."""
    offsets = np.arange(count, dtype=np.int64) * nbits
    data = packed.astype(np.int64)
    word = data[offsets // 8] + 256 * data[offsets // 8 + 1]
    return (word // _POW2[offsets % 8]) % (1 << nbits)


def _index_nodes(t: Any, codes: np.ndarray, nbits: int) -> tuple[list[Any], dict[str, Any]]:
    """Nodes producing ``t("index")`` (int32 codes, flat) from the stored codes."""
    from onnx import TensorProto, helper

    if nbits == 8:
        return [helper.make_node("Cast", [t("codes")], [t("index")], to=TensorProto.INT32)], {
            "codes": codes.astype(np.uint8).ravel()
        }
    inits = {
        "packed": pack_bits(codes, nbits),
        "count": np.array(codes.size, np.int64),
        "zero": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "nbits": np.array(nbits, np.int64),
        "eight": np.array(8, np.int64),
        "byte": np.array(256, np.int32),
        "pow2": _POW2,
        "levels": np.array(1 << nbits, np.int32),
    }
    steps = [
        ("Cast", ["packed"], "bytes", {"to": TensorProto.INT32}),
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
        ("Mod", ["shifted", "levels"], "index", {}),
    ]
    return [
        helper.make_node(op, [t(i) for i in ins], [t(o)], **attrs) for op, ins, o, attrs in steps
    ], inits


def _palette_nodes(
    name: str,
    shape: Sequence[int],
    lut: np.ndarray,
    codes: np.ndarray,
    nbits: int,
    scale: np.ndarray | None = None,
) -> tuple[list[Any], list[Any]]:
    """Nodes rebuilding ``name`` = lut[codes].reshape(shape) (* scale) from packed codes."""
    from onnx import helper, numpy_helper

    def t(suffix: str) -> str:
        return f"{name}/palette/{suffix}"

    nodes, inits = _index_nodes(t, codes, nbits)
    inits.update(lut=lut.astype(np.float32), shape=np.array(shape, np.int64))
    nodes += [
        helper.make_node("Gather", [t("lut"), t("index")], [t("flat")]),
        helper.make_node(
            "Reshape", [t("flat"), t("shape")], [name if scale is None else t("unscaled")]
        ),
    ]
    if scale is not None:
        inits["scale"] = scale.astype(np.float32)
        nodes.append(helper.make_node("Mul", [t("unscaled"), t("scale")], [name]))
    return nodes, [numpy_helper.from_array(v, t(k)) for k, v in inits.items()]


def _channel_palette_nodes(
    name: str, shape: Sequence[int], axis: int, luts: np.ndarray, codes: np.ndarray, nbits: int
) -> tuple[list[Any], list[Any]]:
    """Nodes rebuilding ``name`` from per-channel tables ``luts`` [C, L] (float16) and
    ``codes`` [C, K] (rows = output channels, the weight moved to channel-first)."""
    from onnx import TensorProto, helper, numpy_helper

    def t(suffix: str) -> str:
        return f"{name}/palette/{suffix}"

    perm = [axis] + [a for a in range(len(shape)) if a != axis]
    moved = [shape[a] for a in perm]
    nodes, inits = _index_nodes(t, codes, nbits)
    inits.update(
        lut=luts.astype(np.float16),
        rows=np.array(codes.shape, np.int64),
        moved=np.array(moved, np.int64),
    )
    nodes += [
        helper.make_node("Cast", [t("lut")], [t("lut32")], to=TensorProto.FLOAT),
        helper.make_node("Reshape", [t("index"), t("rows")], [t("index2d")]),
        helper.make_node("GatherElements", [t("lut32"), t("index2d")], [t("values")], axis=1),
        helper.make_node(
            "Reshape", [t("values"), t("moved")], [name if axis == 0 else t("channel_first")]
        ),
    ]
    if axis != 0:
        nodes.append(
            helper.make_node("Transpose", [t("channel_first")], [name], perm=list(np.argsort(perm)))
        )
    return nodes, [numpy_helper.from_array(v, t(k)) for k, v in inits.items()]


def channel_axis(model: Any, name: str, ndim: int) -> int:
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
            if node.op_type == "Gather":  # embedding table: one row per token
                return 0
            return 0
    return 0


def channel_scales(weights: np.ndarray, axis: int) -> np.ndarray:
    """Max |w| per output channel, shaped to broadcast against ``weights`` (0 -> 1)."""
    reduce = tuple(a for a in range(weights.ndim) if a != axis % weights.ndim)
    scale = np.max(np.abs(weights), axis=reduce, keepdims=True)
    return np.where(scale > 0, scale, 1.0).astype(np.float32)


def palettize_tensor(
    model: Any,
    tensor: Any,
    nbits: int,
    granularity: str,
    per_channel_scale: bool,
    clustering: str = "kmeans",
) -> tuple[list[Any], list[Any], str]:
    """(nodes, initializers, granularity used) replacing one weight initializer."""
    from onnx import numpy_helper

    weights = numpy_helper.to_array(tensor)
    axis = channel_axis(model, tensor.name, weights.ndim) if weights.ndim > 1 else 0
    levels = 1 << nbits
    if (
        granularity == "per_channel"
        and clustering == "kmeans"
        and weights.ndim > 1
        and weights.size // weights.shape[axis] >= 4 * levels
    ):
        rows = np.moveaxis(weights, axis, 0).reshape(weights.shape[axis], -1)
        luts, codes = nn.kmeans_1d_rows(rows, levels)
        nodes, inits = _channel_palette_nodes(tensor.name, weights.shape, axis, luts, codes, nbits)
        return nodes, inits, "per_channel"
    scale = (
        channel_scales(weights, axis)
        if per_channel_scale and weights.ndim > 1
        else np.maximum(np.abs(weights).max(keepdims=True), 1e-30)
        if clustering == "uniform"
        else None
    )
    cluster = uniform_palette if clustering == "uniform" else nn.kmeans_1d
    lut, codes = cluster(weights if scale is None else weights / scale, levels)
    nodes, inits = _palette_nodes(tensor.name, weights.shape, lut, codes, nbits, scale)
    return nodes, inits, "per_tensor"


def check_palette_params(nbits: Any, granularity: Any, clustering: Any = "kmeans") -> None:
    if not isinstance(nbits, int) or isinstance(nbits, bool) or not 2 <= nbits <= 8:
        raise InvalidInput(f"nbits must be an int in 2..8, not {nbits!r}")
    if granularity not in GRANULARITIES:
        raise InvalidInput(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if clustering not in CLUSTERINGS:
        raise InvalidInput(f"clustering must be one of {CLUSTERINGS}, not {clustering!r}")
    if clustering == "uniform" and granularity == "per_channel":
        raise InvalidInput(
            "clustering='uniform' is per-channel already (per_tensor granularity "
            "with per_channel_scale); granularity='per_channel' is for k-means"
        )


def replace_initializers(model: Any, names: set[str], nodes: list[Any], inits: list[Any]) -> None:
    """Swaps initializers ``names`` for ``inits`` and puts ``nodes`` first in the graph."""
    graph = model.graph
    kept = [t for t in graph.initializer if t.name not in names] + inits
    del graph.initializer[:]
    graph.initializer.extend(kept)
    inputs = [i for i in graph.input if i.name not in names]
    del graph.input[:]
    graph.input.extend(inputs)
    ordered = nodes + list(graph.node)  # weights are rebuilt before anything reads them
    del graph.node[:]
    graph.node.extend(ordered)


def palettize(
    model: Any,
    targets: list[Any],
    nbits: int = 4,
    granularity: str = "per_tensor",
    per_channel_scale: bool = True,
    clustering: str = "kmeans",
) -> list[str]:
    """Palettizes ``targets`` (weight initializers of ``model``) in place; returns notes."""
    check_palette_params(nbits, granularity, clustering)
    nodes, inits, used = [], [], {"per_tensor": 0, "per_channel": 0}
    for tensor in targets:
        new_nodes, new_inits, kind = palettize_tensor(
            model, tensor, nbits, granularity, per_channel_scale, clustering
        )
        nodes += new_nodes
        inits += new_inits
        used[kind] += 1
    replace_initializers(model, {t.name for t in targets}, nodes, inits)
    if not targets:
        return ["no float32 weight tensors to palettize (already quantized?); graph unchanged"]
    split = ", ".join(f"{v} {k}" for k, v in used.items() if v)
    return [
        f"{len(targets)} weight tensors palettized to {1 << nbits} values ({split}); "
        "ONNX Runtime rebuilds float32 weights when the session loads (smaller file, "
        "same memory and speed)"
    ]
