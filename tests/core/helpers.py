"""A tiny random-weights ONNX package for plumbing tests (never evidence a task works)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sensekit.core.package import write_package


def tiny_graph(
    path: Path, seed: int = 0, batch: int | str = "batch"
) -> tuple[np.ndarray, np.ndarray]:
    """Writes y = x @ W + b ([batch, 4] -> [batch, 3]); returns (W, b)."""
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((4, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return weight, bias


def tiny_package(destination: Path, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    manifest = {
        "name": "tiny",
        "task": "test",
        "graphs": {"main": "model.onnx"},
        "labels": "labels.txt",
        "license": "CC0-1.0",
    }
    with write_package(destination, manifest) as writer:
        weight, bias = tiny_graph(writer.dir / "model.onnx", seed)
        writer.add_text("labels.txt", "a\nb\nc\n")
    return destination, weight, bias
