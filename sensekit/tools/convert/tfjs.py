"""TF.js graph model (``model.json`` + weight shards) -> ONNX, verified against TensorFlow.

tf2onnx reads TF.js graph models directly (``tf2onnx.tfjs_utils``). The reference for
verification is the same graph rebuilt as a TensorFlow ``GraphDef`` (the ``modelTopology``
of a graph model *is* a ``GraphDef`` in JSON form, minus the constant values, which live in
the weight shards) and run by TensorFlow itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError
from sensekit.tools.convert.verify import compare_outputs, run_onnx

DEFAULT_TOLERANCE = 1e-4  # max abs diff allowed between TensorFlow and ONNX Runtime outputs


def _patch_numpy_for_tf2onnx() -> None:
    """tf2onnx 1.17 still calls ``np.product``, which NumPy 2 removed."""
    if not hasattr(np, "product"):
        np.product = np.prod  # type: ignore[attr-defined]


def read_model_json(model_json: str | Path) -> dict[str, Any]:
    """Loads a TF.js ``model.json`` and checks that it is a graph model."""
    path = Path(model_json)
    try:
        model = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConversionError(f"Cannot read the TF.js model {path}: {e}") from e
    if model.get("format") != "graph-model" or "modelTopology" not in model:
        raise ConversionError(
            f"{path.name} is not a TF.js graph model (format "
            f"{model.get('format')!r}); convert layers models with "
            "tfjs-converter first"
        )
    if len(model.get("weightsManifest", [])) != 1:
        # tf2onnx 1.17 reads only weightsManifest[0] and would silently drop the others.
        raise ConversionError(
            f"{path.name} has {len(model.get('weightsManifest', []))} weight "
            "groups; only single-group models are supported"
        )
    return model


def read_weights(model_json: str | Path, model: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Reads (and de-quantizes) every weight of a single-group TF.js graph model."""
    group = model["weightsManifest"][0]
    base = Path(model_json).parent
    data = b"".join((base / shard).read_bytes() for shard in group["paths"])
    weights, offset = {}, 0
    for spec in group["weights"]:
        quant = spec.get("quantization", {})
        stored = np.dtype(quant.get("dtype", spec["dtype"]))
        count = int(np.prod(spec["shape"], dtype=np.int64))
        array = np.frombuffer(data, dtype=stored, count=count, offset=offset)
        offset += array.nbytes
        if "scale" in quant:  # affine uint8/uint16 quantization
            array = array.astype(np.float32) * quant["scale"] + quant["min"]
        weights[spec["name"]] = array.astype(spec["dtype"]).reshape(spec["shape"])
    if offset != len(data):
        raise ConversionError(
            f"Weight shards hold {len(data)} bytes, the manifest describes {offset}"
        )
    return weights


def _graph_def(model: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> Any:
    """Builds a TensorFlow GraphDef from the topology, with the weights as Const values."""
    import tensorflow as tf
    from google.protobuf import json_format

    nodes = {"node": model["modelTopology"]["node"]}
    graph_def = json_format.ParseDict(nodes, tf.compat.v1.GraphDef())
    for node in graph_def.node:
        if node.op == "Const" and node.name in weights:
            value = weights[node.name]
            if node.attr["dtype"].type:  # TF.js stores int64 constants as int32
                value = value.astype(tf.as_dtype(node.attr["dtype"].type).as_numpy_dtype)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
    return graph_def


def signature_names(model: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Input and output tensor names (``name:0``) from the model's signature, in its order."""
    signature = model.get("signature", {})
    inputs = [spec["name"] for spec in signature.get("inputs", {}).values()]
    outputs = [spec["name"] for spec in signature.get("outputs", {}).values()]
    if not inputs or not outputs:
        raise ConversionError("The TF.js model has no signature naming its inputs and outputs")
    return inputs, outputs


def run_tfjs_graph(model_json: str | Path, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Runs a TF.js graph model with TensorFlow; outputs in signature order.

    Args:
        model_json: path of ``model.json`` (weight shards next to it).
        feeds: input arrays keyed by signature input name (e.g. ``"input_1:0"``).
    """
    import tensorflow as tf

    model = read_model_json(model_json)
    graph_def = _graph_def(model, read_weights(model_json, model))
    _, outputs = signature_names(model)
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            try:
                return session.run(outputs, feed_dict=dict(feeds))
            except Exception as e:
                raise ConversionError(f"TensorFlow cannot run {Path(model_json).name}: {e}") from e


def _input_shapes(model: Mapping[str, Any]) -> dict[str, list[int]]:
    """Static input shapes from the signature (unknown dims -> 1)."""
    shapes = {}
    for spec in model["signature"]["inputs"].values():
        dims = spec.get("tensorShape", {}).get("dim", [])
        shapes[spec["name"]] = [max(int(d.get("size", 1)), 1) for d in dims]
    return shapes


def verify_tfjs(
    model_json: str | Path,
    onnx_path: str | Path,
    feeds: Mapping[str, np.ndarray] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> float:
    """Max abs difference between TensorFlow and ONNX Runtime on ``feeds``.

    Without ``feeds`` a fixed-seed uniform [0, 1) input of the signature's shape is used.
    ONNX input/output names equal the TF.js signature keys (tf2onnx renames them so).

    Raises:
        ConversionError: the graphs disagree by more than ``tolerance``.
    """
    model = read_model_json(model_json)
    if feeds is None:
        rng = np.random.default_rng(0)
        feeds = {
            name: rng.random(shape, dtype=np.float32)
            for name, shape in _input_shapes(model).items()
        }
    expected = run_tfjs_graph(model_json, feeds)
    actual = run_onnx(onnx_path, {name: np.asarray(x) for name, x in feeds.items()})
    return compare_outputs(expected, actual, tolerance, Path(model_json).name)


def convert_tfjs(
    model_json: str | Path,
    out_onnx: str | Path,
    opset: int = 17,
    verify_inputs: Sequence[Mapping[str, np.ndarray]] = (),
    tolerance: float = DEFAULT_TOLERANCE,
) -> Path:
    """Converts a TF.js graph model to ONNX and verifies it against TensorFlow.

    Args:
        model_json: the ``model.json`` of a TF.js graph model (weights next to it).
        out_onnx: where to write the ONNX file.
        opset: ONNX opset.
        verify_inputs: feeds to verify on; a random input is always checked as well.
        tolerance: largest accepted max abs diff.

    Returns:
        ``out_onnx`` as a Path. ONNX tensors keep the signature names (``input_1:0``, ...).

    Raises:
        ConversionError: reading, conversion or verification failed.
    """
    _patch_numpy_for_tf2onnx()
    import tensorflow as tf
    from tf2onnx import convert

    out_onnx = Path(out_onnx)
    read_model_json(model_json)
    try:
        with tf.device("/cpu:0"):
            convert._convert_common(  # the CLI's own path; tf2onnx has no public from_tfjs
                None,
                name=Path(model_json).stem,
                tfjs_path=str(model_json),
                opset=opset,
                input_names=None,
                output_names=None,
                continue_on_error=False,
                output_path=str(out_onnx),
            )
    except Exception as e:
        raise ConversionError(f"tf2onnx could not convert {model_json}: {e}") from e
    for feeds in [None, *verify_inputs]:
        verify_tfjs(model_json, out_onnx, feeds, tolerance)
    return out_onnx
