"""TFLite flatbuffer -> ONNX (tf2onnx), with sparse weights densified first, verified
against the TFLite interpreter.

Some MediaPipe models (BlazePose's ``pose_detection.tflite``) store convolution weights in
TFLite's sparse format and expand them at run time with ``DENSIFY`` ops, which tf2onnx does
not convert. :func:`densify_tflite` rewrites the flatbuffer: each ``DENSIFY`` output becomes
a constant tensor holding the expanded weights and the op is removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError
from sensekit.tools.convert.verify import compare_outputs, run_onnx

# Largest accepted difference between the TFLite interpreter and ONNX Runtime, relative to
# each output's magnitude (max(1, max|output|)). MediaPipe outputs are raw pixels or logits:
# BlazePose's segmentation logits reach ~1500, where float32 reordering alone gives ~0.4.
DEFAULT_TOLERANCE = 1e-3


def _schema() -> Any:
    """The TFLite flatbuffer schema module that ships with TensorFlow."""
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def _numpy_dtype(tensor_type: int) -> np.dtype:
    """numpy dtype of a TFLite ``TensorType`` (the types weights are stored in)."""
    types = _schema().TensorType
    table = {
        types.FLOAT32: np.float32,
        types.FLOAT16: np.float16,
        types.INT8: np.int8,
        types.UINT8: np.uint8,
        types.INT32: np.int32,
        types.INT64: np.int64,
    }
    if tensor_type not in table:
        raise ConversionError(f"Sparse weights of TFLite type {tensor_type} are not supported")
    return np.dtype(table[tensor_type])


def densify_tensor(tensor: Any, data: bytes) -> np.ndarray:
    """Expands one sparse constant (leading dims DENSE, last dim SPARSE_CSR, no blocks).

    Args:
        tensor: a ``TensorT`` with ``sparsity`` parameters.
        data: the bytes of its buffer (the non-zero values, row after row).
    """
    schema, sparsity, shape = _schema(), tensor.sparsity, [int(d) for d in tensor.shape]
    formats = [d.format for d in sparsity.dimMetadata]
    dense_dims = schema.DimensionType.DENSE
    if (
        (sparsity.blockMap is not None and len(sparsity.blockMap))
        or list(sparsity.traversalOrder) != list(range(len(shape)))
        or formats != [dense_dims] * (len(shape) - 1) + [schema.DimensionType.SPARSE_CSR]
    ):
        raise ConversionError(
            f"Sparse tensor {tensor.name!r} uses a layout other than "
            "row-major CSR over its last dimension; it cannot be densified"
        )
    last = sparsity.dimMetadata[-1]
    segments = np.asarray(last.arraySegments.values, dtype=np.int64)
    columns = np.asarray(last.arrayIndices.values, dtype=np.int64)
    values = np.frombuffer(data, dtype=_numpy_dtype(tensor.type))
    rows = int(np.prod(shape[:-1]))
    if segments.size != rows + 1 or values.size != columns.size or segments[-1] != values.size:
        raise ConversionError(f"Sparse tensor {tensor.name!r} has inconsistent CSR arrays")
    dense = np.zeros((rows, shape[-1]), dtype=values.dtype)
    dense[np.repeat(np.arange(rows), np.diff(segments)), columns] = values
    return dense.reshape(shape)


def _load_model(path: str | Path) -> Any:
    """Reads a .tflite file into the schema's mutable object API (``ModelT``)."""
    schema = _schema()
    try:
        raw = Path(path).read_bytes()
        return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(raw, 0))
    except Exception as e:
        raise ConversionError(f"Cannot read the TFLite model {path}: {e}") from e


def _densify_subgraph(model: Any, graph: Any, densify_code: set[int]) -> int:
    """Replaces every DENSIFY op of one subgraph by a constant; returns how many."""
    schema, kept, count = _schema(), [], 0
    for op in graph.operators:
        if op.opcodeIndex not in densify_code:
            kept.append(op)
            continue
        source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        dense = densify_tensor(source, bytes(model.buffers[source.buffer].data))
        if [int(d) for d in target.shape] != list(dense.shape):
            raise ConversionError(
                f"DENSIFY output {target.name!r} has shape "
                f"{list(target.shape)}, the expanded weights {list(dense.shape)}"
            )
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(
            dense.astype(dense.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8
        )
        model.buffers.append(buffer)
        target.buffer = len(model.buffers) - 1
        model.buffers[source.buffer].data = None  # the sparse copy is no longer read
        source.sparsity, count = None, count + 1
    graph.operators = kept
    return count


def densify_tflite(path: str | Path, out_path: str | Path) -> tuple[Path, int]:
    """Writes a copy of ``path`` without DENSIFY ops; returns (out_path, ops removed)."""
    import flatbuffers

    schema, model = _schema(), _load_model(path)
    densify_code = {
        index
        for index, code in enumerate(model.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DENSIFY
    }
    removed = sum(_densify_subgraph(model, g, densify_code) for g in model.subgraphs)
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out_path = Path(out_path)
    out_path.write_bytes(bytes(builder.Output()))
    return out_path, removed


def run_tflite(
    path: str | Path, feeds: Mapping[str, np.ndarray], xnnpack: bool = False
) -> list[np.ndarray]:
    """Runs a .tflite file with the TFLite interpreter; outputs in the model's order.

    The reference is TFLite's built-in kernels, not the XNNPACK delegate it applies by
    default: XNNPACK starts each convolution's sum at the bias and rounds every fused
    multiply-add against it, which on BlazePose's landmark graph put it 4.1e-3 from a
    float64 evaluation against 1.3e-3 for the built-in kernels (and 1.0e-3 for ONNX
    Runtime). ``xnnpack=True`` runs the default delegate instead.
    """
    import tensorflow as tf

    try:
        resolver = tf.lite.experimental.OpResolverType
        interpreter = tf.lite.Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=resolver.AUTO
            if xnnpack
            else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.asarray(feeds[detail["name"]]))
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]
    except Exception as e:
        raise ConversionError(f"The TFLite interpreter cannot run {Path(path).name}: {e}") from e


def random_feeds(path: str | Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Fixed-seed uniform [0, 1) inputs of the model's own input shapes."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    interpreter = tf.lite.Interpreter(model_path=str(path))
    return {
        d["name"]: rng.random(tuple(d["shape"])).astype(d["dtype"])
        for d in interpreter.get_input_details()
    }


def verify_tflite(
    tflite_path: str | Path,
    onnx_path: str | Path,
    feeds: Mapping[str, np.ndarray] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> float:
    """Max abs difference between the TFLite interpreter and ONNX Runtime on ``feeds``.

    ``tflite_path`` should be the *original* file, so densification is verified too.
    ONNX tensors keep the TFLite names (``input_1``; ``Identity``, ``Identity_1``, ...).

    Raises:
        ConversionError: an output differs by more than ``tolerance`` times its magnitude.
    """
    feeds = dict(feeds) if feeds is not None else random_feeds(tflite_path)
    expected = run_tflite(tflite_path, feeds)
    actual = run_onnx(onnx_path, feeds)
    scales = [max(1.0, float(np.max(np.abs(x)))) if x.size else 1.0 for x in expected]
    compare_outputs(
        [x / s for x, s in zip(expected, scales)],
        [y / s for y, s in zip(actual, scales)],
        tolerance,
        Path(tflite_path).name,
    )
    return compare_outputs(expected, actual, float("inf"), Path(tflite_path).name)


def convert_tflite(
    path: str | Path,
    out_onnx: str | Path,
    opset: int = 17,
    verify_inputs: Sequence[Mapping[str, np.ndarray]] = (),
    tolerance: float = DEFAULT_TOLERANCE,
) -> Path:
    """Converts a .tflite model to ONNX, densifying sparse weights, and verifies it.

    Args:
        path: the .tflite file.
        out_onnx: where to write the ONNX file.
        opset: ONNX opset.
        verify_inputs: feeds (by TFLite input name) to verify on; a random input is always
            checked as well.
        tolerance: largest accepted difference from the TFLite interpreter, relative to
            each output's magnitude (see :func:`verify_tflite`).

    Returns:
        ``out_onnx`` as a Path.

    Raises:
        ConversionError: reading, densifying, conversion or verification failed.
    """
    out_onnx = Path(out_onnx)
    dense_path = out_onnx.with_suffix(".dense.tflite")
    try:
        densify_tflite(path, dense_path)
        _tf2onnx(dense_path, out_onnx, Path(path).stem, opset)
    finally:
        dense_path.unlink(missing_ok=True)
    for feeds in [None, *verify_inputs]:
        verify_tflite(path, out_onnx, feeds, tolerance)
    return out_onnx


def _tf2onnx(tflite_path: Path, out_onnx: Path, name: str, opset: int) -> None:
    """tf2onnx's own tflite path (``from_tflite`` without its ``continue_on_error=True``)."""
    import tensorflow as tf
    from tf2onnx import convert

    try:
        with tf.device("/cpu:0"):
            convert._convert_common(
                None,
                tflite_path=str(tflite_path),
                name=name,
                opset=opset,
                continue_on_error=False,
                input_names=None,
                output_names=None,
                output_path=str(out_onnx),
            )
    except Exception as e:
        raise ConversionError(f"tf2onnx could not convert {name}.tflite: {e}") from e
