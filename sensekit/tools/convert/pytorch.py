"""PyTorch nn.Module -> ONNX, verified against eager PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError
from sensekit.tools.convert.verify import compare_outputs, run_onnx


def convert_pytorch(
    module: Any,
    example_inputs: Sequence[np.ndarray],
    out_path: str | Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]] | None = None,
    opset: int = 17,
    tolerance: float = 1e-3,
) -> float:
    """Exports ``module`` to ``out_path`` and verifies it on ``example_inputs``.

    Returns:
        The max absolute difference between PyTorch and ONNX Runtime outputs.

    Raises:
        ConversionError: export failed or the outputs differ by more than ``tolerance``.
    """
    import torch

    module = module.eval()
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in example_inputs)
    try:
        with torch.no_grad():
            expected = module(*tensors)
            torch.onnx.export(
                module,
                tensors,
                str(out_path),
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes or {},
                opset_version=opset,
                dynamo=False,
            )
    except Exception as e:
        raise ConversionError(f"torch.onnx.export failed for {type(module).__name__}: {e}") from e
    if isinstance(expected, torch.Tensor):
        expected = (expected,)
    feeds = dict(zip(input_names, (np.ascontiguousarray(x) for x in example_inputs)))
    actual = run_onnx(out_path, feeds)
    return compare_outputs([t.numpy() for t in expected], actual, tolerance, type(module).__name__)
