"""Graph specialization for :mod:`sensekit.tools.compress`: inputs fed one fixed value.

Some graphs carry branches for inputs an application always feeds with the same value.
Silero VAD, for one, holds a 16 kHz and an 8 kHz network behind ``If(sr == 16000)``; a
caller that resamples everything to 16 kHz never runs the second one. :func:`fix_inputs`
turns such inputs into constants, evaluates the small comparisons that read them, inlines
the ``If`` branch that is taken and drops what nothing reads any more. The result is
exact for the fixed values, and the graph no longer takes those inputs.

:func:`store_constants_fp16` stores float ``Constant`` nodes (at any subgraph depth) that
hold weights as float16, for weight-only float16.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sensekit.core.errors import InvalidInput

# ops evaluated when all their inputs are known (what guards on fixed inputs use)
_FOLD: dict[str, Callable[..., np.ndarray]] = {
    "Equal": np.equal,
    "Greater": np.greater,
    "Less": np.less,
    "GreaterOrEqual": np.greater_equal,
    "LessOrEqual": np.less_equal,
    "And": np.logical_and,
    "Or": np.logical_or,
    "Not": np.logical_not,
    "Identity": lambda x: x,
}


def _constant_value(node: Any) -> np.ndarray | None:
    from onnx import numpy_helper

    for attribute in node.attribute:
        if attribute.name == "value" and attribute.HasField("t"):
            return numpy_helper.to_array(attribute.t)
    return None


def _known_values(graph: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    known = {
        t.name: numpy_helper.to_array(t)
        for t in graph.initializer
        if int(np.prod(t.dims, dtype=np.int64)) <= 16
    }
    for node in graph.node:
        if node.op_type == "Constant":
            value = _constant_value(node)
            if value is not None and value.size <= 16:
                known[node.output[0]] = value
    return known


def _fold(graph: Any) -> int:
    """Replaces comparison/logic nodes whose inputs are all known by Constants."""
    from onnx import helper, numpy_helper

    known, folded, nodes = _known_values(graph), 0, []
    for node in graph.node:
        if node.op_type in _FOLD and node.input and all(i in known for i in node.input):
            value = np.asarray(_FOLD[node.op_type](*(known[i] for i in node.input)))
            known[node.output[0]] = value
            node = helper.make_node(
                "Constant",
                [],
                [node.output[0]],
                name=node.name,
                value=numpy_helper.from_array(value, node.output[0]),
            )
            folded += 1
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return folded


def _inline_ifs(graph: Any) -> int:
    """Replaces each ``If`` whose condition is known by the nodes of the branch it takes."""
    from onnx import helper

    known, inlined, nodes = _known_values(graph), 0, []
    for node in graph.node:
        cond = known.get(node.input[0]) if node.op_type == "If" else None
        if cond is None or cond.size != 1:
            nodes.append(node)
            continue
        name = "then_branch" if bool(cond.ravel()[0]) else "else_branch"
        branch = next(a.g for a in node.attribute if a.name == name)
        graph.initializer.extend(branch.initializer)
        nodes.extend(branch.node)
        nodes.extend(
            helper.make_node("Identity", [inner.name], [outer], name=f"{outer}__inlined")
            for inner, outer in zip(branch.output, node.output)
        )
        inlined += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return inlined


def fix_inputs(model: Any, fixed: dict[str, Any]) -> list[str]:
    """Bakes ``fixed`` ({input name: value}) into ``model`` (in place); returns notes."""
    from onnx import helper, numpy_helper

    from sensekit.tools.onnx_utils import prune_graph

    graph = model.graph
    inputs = {i.name: i for i in graph.input}
    if not isinstance(fixed, dict) or not fixed or not set(fixed) <= set(inputs):
        raise InvalidInput(
            f"fixed_inputs must map some of the graph's inputs {sorted(inputs)} "
            f"to values, not {fixed!r}"
        )
    for name, value in fixed.items():
        tensor_type = inputs[name].type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        array = np.asarray(value, dtype=dtype)
        if array.ndim != len(tensor_type.shape.dim):
            raise InvalidInput(
                f"fixed input {name!r} needs rank {len(tensor_type.shape.dim)}, got {array.ndim}"
            )
        graph.initializer.append(numpy_helper.from_array(array, name))
    kept = [i for i in graph.input if i.name not in fixed]
    del graph.input[:]
    graph.input.extend(kept)
    folded = inlined = 0
    while True:  # an inlined branch can hold guards on the same inputs
        step = _fold(graph), _inline_ifs(graph)
        folded, inlined = folded + step[0], inlined + step[1]
        if not any(step):
            break
    prune_graph(graph)  # drops the branches not taken and the initializers they read
    _hoist_constants(graph)
    values = ", ".join(f"{k}={np.asarray(v).tolist()}" for k, v in fixed.items())
    return [
        f"specialized for {values}: {folded} guard(s) evaluated, {inlined} branch(es) "
        "inlined, the branches not taken dropped; those inputs are no longer fed"
    ]


def _hoist_constants(graph: Any, min_elements: int = 16) -> None:
    """Top-level float Constant nodes of weight size -> initializers (where the weight
    tools look for them; inlined branches keep their weights in Constant nodes)."""
    from onnx import numpy_helper

    nodes = []
    for node in graph.node:
        value = _constant_value(node) if node.op_type == "Constant" else None
        if value is not None and value.dtype == np.float32 and value.size >= min_elements:
            graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)


def _is_weight(node: Any, min_elements: int) -> bool:
    from onnx import TensorProto

    return node.op_type == "Constant" and any(
        a.name == "value"
        and a.HasField("t")
        and a.t.data_type == TensorProto.FLOAT
        and int(np.prod(a.t.dims, dtype=np.int64)) >= min_elements
        for a in node.attribute
    )


def store_constants_fp16(model: Any, min_elements: int) -> int:
    """Float ``Constant`` weights (any subgraph) -> float16 Constant + Cast to float32,
    under the same output name; returns how many."""
    return _constants_fp16(model.graph, min_elements)


def _constants_fp16(graph: Any, min_elements: int) -> int:
    from onnx import TensorProto, helper, numpy_helper

    count, nodes = 0, []
    for node in graph.node:
        if not _is_weight(node, min_elements):
            nodes.append(node)
            continue
        output = node.output[0]
        half = numpy_helper.from_array(_constant_value(node).astype(np.float16), f"{output}__fp16")
        nodes += [
            helper.make_node("Constant", [], [half.name], name=f"{output}__fp16", value=half),
            helper.make_node(
                "Cast", [half.name], [output], name=f"{output}__to_fp32", to=TensorProto.FLOAT
            ),
        ]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                count += _constants_fp16(attribute.g, min_elements)
            for sub in attribute.graphs:
                count += _constants_fp16(sub, min_elements)
    return count
