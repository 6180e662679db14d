"""Conversion of trained models from other frameworks into ONNX graphs.

One module per source format. Every converter verifies the converted graph against
its source on sample inputs and returns the maximum absolute difference, which the
caller records in the package manifest (``conversion.max_abs_diff``).
"""

from sensekit.core.convert.verify import compare_outputs

__all__ = ["compare_outputs"]
