"""TF.js graph model (``model.json`` + weight shards) -> ONNX, verified against TensorFlow.

tf2onnx reads TF.js graph models directly (``tf2onnx.tfjs_utils``). The reference for
verification is the same graph rebuilt as a TensorFlow ``GraphDef`` (the ``modelTopology``
of a graph model *is* a ``GraphDef`` in JSON form, minus the constant values, which live in
the weight shards) and run by TensorFlow itself.

TF.js writes graphs that current TensorFlow does not accept as they are: attributes whose
defaults the TF.js converter dropped (``TArgs`` of ``_FusedConv2D``, ``index_type`` of
``Fill``, ...) and TF.js-only fused ops (``FusedDepthwiseConv2dNative``). ``normalize_graph``
rewrites a topology into plain TensorFlow; both the conversion and the reference run use it.
"""

from __future__ import annotations

import json
import os
import tempfile
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


# Activations TF.js fuses into a depthwise convolution, as TensorFlow ops.
_FUSED_ACTIVATIONS = {"Relu": "Relu", "Relu6": "Relu6", "Elu": "Elu", "Sigmoid": "Sigmoid"}


def _fused_ops(node: Mapping[str, Any]) -> list[str]:
    import base64

    encoded = node.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
    return [base64.b64decode(op).decode() for op in encoded]


def _split_fused_depthwise(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``FusedDepthwiseConv2dNative`` -> DepthwiseConv2dNative, BiasAdd, activation.

    The last node keeps the fused node's name, so its consumers need no change.
    """
    fused = _fused_ops(node)
    name, inputs, attr = node["name"], list(node["input"]), dict(node.get("attr", {}))
    if fused[:1] != ["BiasAdd"] or len(fused) > 2 or len(inputs) != 3:
        raise ConversionError(
            f"{name}: cannot rewrite FusedDepthwiseConv2dNative with fused ops {fused}"
        )
    activation = fused[1] if len(fused) == 2 else None
    if activation is not None and activation not in _FUSED_ACTIVATIONS:
        raise ConversionError(f"{name}: fused activation {activation!r} is not supported")
    conv_keys = ("T", "data_format", "dilations", "padding", "strides", "explicit_paddings")
    conv = {
        "name": f"{name}/depthwise",
        "op": "DepthwiseConv2dNative",
        "input": inputs[:2],
        "attr": {k: attr[k] for k in conv_keys if k in attr},
    }
    bias_attr = {k: attr[k] for k in ("T", "data_format") if k in attr}
    bias_name = f"{name}/bias" if activation else name
    nodes = [
        conv,
        {"name": bias_name, "op": "BiasAdd", "input": [conv["name"], inputs[2]], "attr": bias_attr},
    ]
    if activation:
        act_attr = {"T": attr["T"]} if "T" in attr else {}
        nodes.append(
            {
                "name": name,
                "op": _FUSED_ACTIVATIONS[activation],
                "input": [bias_name],
                "attr": act_attr,
            }
        )
    return nodes


def _fill_defaults(node: dict[str, Any]) -> None:
    """Adds the attributes TF.js left out: OpDef defaults, and ``TArgs`` of fused ops."""
    from google.protobuf import json_format
    from tensorflow.python.framework import op_def_registry

    attr = node.setdefault("attr", {})
    if node["op"] in ("_FusedConv2D", "_FusedMatMul") and "TArgs" not in attr:
        count = int(attr.get("num_args", {}).get("i", 0))
        attr["TArgs"] = {"list": {"type": [attr["T"]["type"]] * count}}
    op_def = op_def_registry.get(node["op"])
    if op_def is None:
        raise ConversionError(f"{node['name']}: op {node['op']!r} is unknown to TensorFlow")
    for spec in op_def.attr:
        if spec.name not in attr and spec.HasField("default_value"):
            attr[spec.name] = json_format.MessageToDict(spec.default_value)


def normalize_graph(model: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a TF.js graph model whose topology current TensorFlow accepts.

    Rewrites TF.js-only fused ops into TensorFlow ops and fills in the attributes the
    TF.js converter dropped. The weights manifest is unchanged.

    Raises:
        ConversionError: an op is neither TensorFlow's nor one this rewrites.
    """
    import copy

    model = copy.deepcopy(dict(model))
    nodes: list[dict[str, Any]] = []
    for node in model["modelTopology"]["node"]:
        if node["op"] == "FusedDepthwiseConv2dNative":
            nodes.extend(_split_fused_depthwise(node))
        else:
            nodes.append(node)
    for node in nodes:
        _fill_defaults(node)
    model["modelTopology"]["node"] = nodes
    return model


def _graph_def(model: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> Any:
    """Builds a TensorFlow GraphDef from the topology, with the weights as Const values."""
    import tensorflow as tf
    from google.protobuf import json_format

    nodes = {"node": normalize_graph(model)["modelTopology"]["node"]}
    graph_def = json_format.ParseDict(nodes, tf.compat.v1.GraphDef())
    for node in graph_def.node:
        if node.op == "Const" and node.name in weights:
            value = weights[node.name]
            if node.attr["dtype"].type:  # TF.js stores int64 constants as int32
                value = value.astype(tf.as_dtype(node.attr["dtype"].type).as_numpy_dtype)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
    return graph_def


def _tensor(name: str) -> str:
    """A TensorFlow tensor name: ``op`` -> ``op:0``."""
    return name if ":" in name else f"{name}:0"


def signature(model: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Inputs and outputs of the model's signature: key -> TensorFlow tensor name, in order.

    The keys are the names the converted ONNX graph uses for its inputs and outputs.
    """
    spec = model.get("signature", {})
    inputs = {key: _tensor(v["name"]) for key, v in spec.get("inputs", {}).items()}
    outputs = {key: _tensor(v["name"]) for key, v in spec.get("outputs", {}).items()}
    if not inputs or not outputs:
        raise ConversionError("The TF.js model has no signature naming its inputs and outputs")
    return inputs, outputs


def run_tfjs_graph(model_json: str | Path, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Runs a TF.js graph model with TensorFlow; outputs in signature order.

    Args:
        model_json: path of ``model.json`` (weight shards next to it).
        feeds: input arrays keyed by signature key (e.g. ``"input_1:0"``).
    """
    import tensorflow as tf

    model = read_model_json(model_json)
    graph_def = _graph_def(model, read_weights(model_json, model))
    inputs, outputs = signature(model)
    unknown = set(feeds) - set(inputs)
    if unknown:
        raise ConversionError(f"{sorted(unknown)} are not inputs of {Path(model_json).name}")
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            try:
                feed_dict = {inputs[key]: value for key, value in feeds.items()}
                return session.run(list(outputs.values()), feed_dict=feed_dict)
            except Exception as e:
                raise ConversionError(f"TensorFlow cannot run {Path(model_json).name}: {e}") from e


_NUMPY_TYPES = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_UINT8": np.uint8}


def _random_feeds(model: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Fixed-seed inputs of the signature's shapes (unknown dims -> 1): uniform [0, 1) for
    floats, 0..255 for integer (image) inputs."""
    rng = np.random.default_rng(0)
    feeds = {}
    for key, spec in model["signature"]["inputs"].items():
        dims = spec.get("tensorShape", {}).get("dim", [])
        shape = [max(int(d.get("size", 1)), 1) for d in dims]
        dtype = _NUMPY_TYPES.get(spec.get("dtype", "DT_FLOAT"), np.float32)
        if np.issubdtype(dtype, np.integer):
            feeds[key] = rng.integers(0, 256, shape).astype(dtype)
        else:
            feeds[key] = rng.random(shape, dtype=np.float32)
    return feeds


def verify_tfjs(
    model_json: str | Path,
    onnx_path: str | Path,
    feeds: Mapping[str, np.ndarray] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> float:
    """Max abs difference between TensorFlow and ONNX Runtime on ``feeds``.

    Without ``feeds`` a fixed-seed input of the signature's shape is used. The ONNX graph's
    inputs and outputs are named by the signature keys (``convert_tfjs`` names them so).

    Raises:
        ConversionError: the graphs disagree by more than ``tolerance``.
    """
    model = read_model_json(model_json)
    feeds = _random_feeds(model) if feeds is None else feeds
    expected = run_tfjs_graph(model_json, feeds)
    actual = run_onnx(onnx_path, {name: np.asarray(x) for name, x in feeds.items()})
    _, outputs = signature(model)
    actual = _in_signature_order(onnx_path, actual, list(outputs))
    return compare_outputs(expected, actual, tolerance, Path(model_json).name)


def _in_signature_order(
    onnx_path: str | Path, values: Sequence[np.ndarray], keys: Sequence[str]
) -> list[np.ndarray]:
    import onnx

    names = [o.name for o in onnx.load(str(onnx_path), load_external_data=False).graph.output]
    if sorted(names) != sorted(keys):
        raise ConversionError(
            f"The converted graph's outputs {names} are not the signature's {list(keys)}"
        )
    by_name = dict(zip(names, values))
    return [by_name[key] for key in keys]


def _name_inputs_by_signature(onnx_path: Path, model: Mapping[str, Any]) -> None:
    """Renames the ONNX graph's inputs to the signature keys (tf2onnx uses the key for some
    models and the tensor name for others)."""
    import onnx

    graph_model = onnx.load(str(onnx_path))
    inputs, _ = signature(model)
    wanted = {}
    for key, tensor in inputs.items():
        for alias in {key, tensor, _tensor(key), tensor.removesuffix(":0")}:
            wanted[alias] = key
    renames = {}
    for value in graph_model.graph.input:
        if value.name not in wanted:
            raise ConversionError(f"Converted input {value.name!r} is not in the signature")
        renames[value.name] = wanted[value.name]
    if all(old == new for old, new in renames.items()):
        return
    for value in graph_model.graph.input:
        value.name = renames[value.name]
    for node in graph_model.graph.node:
        for index, name in enumerate(node.input):
            if name in renames:
                node.input[index] = renames[name]
    onnx.save(graph_model, str(onnx_path))


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
        ``out_onnx`` as a Path. ONNX inputs and outputs are named by the signature keys.

    Raises:
        ConversionError: reading, conversion or verification failed.
    """
    _patch_numpy_for_tf2onnx()
    import tensorflow as tf
    from tf2onnx import convert

    out_onnx = Path(out_onnx)
    model = normalize_graph(read_model_json(model_json))
    with tempfile.TemporaryDirectory() as work:
        # tf2onnx reads the shards next to model.json: the normalised copy needs them too.
        normalized = Path(work) / Path(model_json).name
        normalized.write_text(json.dumps(model))
        for shard in model["weightsManifest"][0]["paths"]:
            os.symlink(Path(model_json).parent.resolve() / shard, Path(work) / shard)
        try:
            with tf.device("/cpu:0"):
                convert._convert_common(  # the CLI's own path; tf2onnx has no public from_tfjs
                    None,
                    name=Path(model_json).stem,
                    tfjs_path=str(normalized),
                    opset=opset,
                    input_names=None,
                    output_names=None,
                    continue_on_error=False,
                    output_path=str(out_onnx),
                )
        except Exception as e:
            raise ConversionError(f"tf2onnx could not convert {model_json}: {e}") from e
    _name_inputs_by_signature(out_onnx, model)
    for feeds in [None, *verify_inputs]:
        verify_tfjs(model_json, out_onnx, feeds, tolerance)
    return out_onnx
