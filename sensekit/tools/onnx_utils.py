"""Small ONNX helpers shared by tools.update, tools.compress and tools.convert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_SAVE_EXTERNAL_BYTES = 1_500_000_000  # protobuf refuses files of 2 GiB and more


def external_files(model: Any) -> set[str]:
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    return {
        entry.value
        for tensor in _get_all_tensors(model)
        if uses_external_data(tensor)
        for entry in tensor.external_data
        if entry.key == "location"
    }


def save_onnx(model: Any, path: Path) -> None:
    """Saves a ModelProto, with weights in ``<name>.data`` when it would be too big."""
    import onnx

    large = sum(t.ByteSize() for t in model.graph.initializer) > _SAVE_EXTERNAL_BYTES
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=large,
        location=f"{path.name}.data" if large else None,
    )


def random_feeds(session: Any, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Fixed-seed inputs for an ONNX Runtime session (dynamic batch -> ``batch``, others -> 1)."""
    from sensekit.core.model import _ORT_DTYPES

    rng = np.random.default_rng(seed)
    feeds = {}
    for arg in session.get_inputs():
        shape = [
            d if isinstance(d, int) and d > 0 else (batch if i == 0 else 1)
            for i, d in enumerate(arg.shape)
        ]
        dtype = np.dtype(_ORT_DTYPES.get(arg.type, np.float32))
        feeds[arg.name] = (
            rng.standard_normal(shape).astype(dtype)
            if dtype.kind == "f"
            else np.zeros(shape, dtype)
        )
    return feeds


def rename_tensor(graph: Any, old: str, new: str) -> None:
    """Renames a tensor everywhere in ``graph`` (not inside subgraphs that shadow it)."""
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for info in list(graph.output) + list(graph.value_info):
        if info.name == old:
            info.name = new


def _subgraph_inputs(node: Any) -> set[str]:
    """Names a control-flow node's subgraphs read from the enclosing scope (superset)."""
    names: set[str] = set()
    for attribute in node.attribute:
        for sub in list(attribute.g.node if attribute.HasField("g") else []) + [
            n for g in attribute.graphs for n in g.node
        ]:
            names.update(sub.input)
            names |= _subgraph_inputs(sub)
    return names


def prune_graph(graph: Any) -> None:
    """Drops nodes, initializers and value_info no graph output depends on."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(n for n in node.input if n)
            needed |= _subgraph_inputs(node)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    infos = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(infos)
