"""TensorFlow SavedModel directory -> ONNX (tf2onnx), verified against TensorFlow.

The ``serving_default`` signature (or the one named) is converted with tf2onnx's own
SavedModel path, with ``continue_on_error=False`` so an op tf2onnx cannot convert is an
error rather than a silently broken graph. ONNX inputs and outputs keep the signature's
argument and output names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError
from sensekit.tools.convert.verify import compare_outputs, run_onnx

SIGNATURE = "serving_default"


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (
        (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()
    )


def check_saved_model_dir(path: Path) -> None:
    """Raises ConversionError naming what a SavedModel directory lacks."""
    if not path.is_dir():
        raise ConversionError(f"SavedModel directory {path} does not exist")
    missing = []
    if not ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()):
        missing.append("saved_model.pb")
    if not (path / "variables").is_dir():
        missing.append("variables/")
    elif not list((path / "variables").glob("variables.index")):
        missing.append("variables/variables.index")
    if missing:
        raise ConversionError(f"{path} is not a complete SavedModel: missing {', '.join(missing)}")


def _signature(path: Path, signature: str) -> Any:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        raise ConversionError(f"TensorFlow cannot load the SavedModel {path}: {e}") from e
    if signature not in loaded.signatures:
        raise ConversionError(
            f"The SavedModel has no signature {signature!r}; it has {sorted(loaded.signatures)}"
        )
    return loaded, loaded.signatures[signature]


def _random_feeds(function: Any) -> dict[str, np.ndarray]:
    """Fixed-seed inputs of the signature's shapes (unknown dims -> 2)."""
    rng = np.random.default_rng(0)
    _, specs = function.structured_input_signature
    feeds = {}
    for name, spec in specs.items():
        shape = [d if d is not None else 2 for d in spec.shape.as_list()]
        dtype = spec.dtype.as_numpy_dtype
        feeds[name] = (
            rng.standard_normal(shape).astype(dtype)
            if spec.dtype.is_floating
            else rng.integers(0, 2, shape).astype(dtype)
        )
    return feeds


def run_signature(function: Any, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    try:
        out = function(**{k: tf.constant(v) for k, v in feeds.items()})
    except Exception as e:
        raise ConversionError(f"TensorFlow cannot run the SavedModel signature: {e}") from e
    return {k: v.numpy() for k, v in out.items()}


def convert_saved_model(
    path: str | Path,
    out_path: str | Path,
    sample_inputs: Any = None,
    tolerance: float = 1e-4,
    opset: int = 17,
    signature: str = SIGNATURE,
) -> dict[str, Any]:
    """Converts a SavedModel signature to ONNX and verifies it.

    Args:
        path: the SavedModel directory.
        out_path: where to write the ONNX file.
        sample_inputs: {input name: array}; random inputs of the signature's shapes if None.
        tolerance: largest accepted max abs diff between TensorFlow and ONNX Runtime.

    Returns:
        {"max_abs_diff", "inputs", "outputs"}.

    Raises:
        ConversionError: missing files, an unconvertible op, or outputs that disagree.
    """

    from sensekit.tools.convert.tfjs import _patch_numpy_for_tf2onnx

    path = Path(path)
    check_saved_model_dir(path)
    _patch_numpy_for_tf2onnx()
    import tensorflow as tf
    from tf2onnx import convert, tf_loader

    _, function = _signature(path, signature)
    feeds = dict(sample_inputs) if isinstance(sample_inputs, Mapping) else _random_feeds(function)
    try:
        graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
            str(path),
            None,
            None,
            None,
            [signature],
            None,
            False,
            return_initialized_tables=True,
            return_tensors_to_rename=True,
        )
        with tf.device("/cpu:0"):
            convert._convert_common(
                graph_def,
                name=path.name,
                continue_on_error=False,
                opset=opset,
                input_names=inputs,
                output_names=outputs,
                tensors_to_rename=renames,
                initialized_tables=tables,
                output_path=str(out_path),
            )
    except Exception as e:
        raise ConversionError(f"tf2onnx could not convert the SavedModel {path}: {e}") from e
    expected = run_signature(function, feeds)
    import onnx

    names = [o.name for o in onnx.load(str(out_path), load_external_data=False).graph.output]
    actual = run_onnx(out_path, feeds)
    if set(names) != set(expected):
        raise ConversionError(
            f"The ONNX outputs {names} do not match the signature's {sorted(expected)}"
        )
    diff = compare_outputs([expected[n] for n in names], actual, tolerance, path.name)
    return {"max_abs_diff": diff, "inputs": list(feeds), "outputs": names}
