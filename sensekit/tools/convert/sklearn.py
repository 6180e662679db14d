"""scikit-learn estimator -> ONNX (skl2onnx), verified against the estimator itself.

Classifiers export two outputs, ``label`` [N] and ``probabilities`` [N, C] (no ZipMap, so
the graph returns plain tensors); regressors and transformers export ``variable``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError
from sensekit.tools.convert.verify import compare_outputs, run_onnx

INPUT = "input"


def is_estimator(obj: Any) -> bool:
    """True for a fitted-or-not scikit-learn estimator or pipeline."""
    return type(obj).__module__.startswith("sklearn.") and hasattr(obj, "get_params")


def _is_classifier(estimator: Any) -> bool:
    return getattr(estimator, "_estimator_type", None) == "classifier" or (
        hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")
    )


def _sample(estimator: Any, sample_inputs: Any) -> np.ndarray:
    """[N, F] float32 rows to export and verify with (random normal when none are given)."""
    if sample_inputs is None:
        features = getattr(estimator, "n_features_in_", None)
        if features is None:
            raise ConversionError(
                "Pass sample_inputs: the estimator does not say how many "
                "features it takes (is it fitted?)"
            )
        return np.random.default_rng(0).standard_normal((16, int(features))).astype(np.float32)
    if isinstance(sample_inputs, dict):
        sample_inputs = next(iter(sample_inputs.values()))
    if (
        isinstance(sample_inputs, (list, tuple))
        and sample_inputs
        and isinstance(sample_inputs[0], np.ndarray)
        and sample_inputs[0].ndim == 2
    ):
        sample_inputs = sample_inputs[0]
    x = np.asarray(sample_inputs, dtype=np.float32)
    if x.ndim != 2 or not x.size:
        raise ConversionError(
            f"sample_inputs for a scikit-learn model must be [N, F] rows, got shape {x.shape}"
        )
    return x


def convert_sklearn(
    estimator: Any,
    out_path: str | Path,
    sample_inputs: Any = None,
    tolerance: float = 1e-3,
    opset: int = 17,
) -> dict[str, Any]:
    """Exports a fitted estimator to ``out_path`` and checks it on sample rows.

    Returns:
        {"max_abs_diff": float, "labels": [class names] or None, "outputs": [...],
        "classifier": bool}.

    Raises:
        ConversionError: unfitted/unsupported estimator, or outputs that disagree
            (probabilities beyond ``tolerance``, or any differing predicted label).
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.exceptions import NotFittedError

    x = _sample(estimator, sample_inputs)
    classifier = _is_classifier(estimator)
    options = {id(estimator): {"zipmap": False}} if classifier else None
    try:
        expected = estimator.predict(x)
        proto = to_onnx(
            estimator,
            options=options,
            target_opset=opset,
            initial_types=[(INPUT, FloatTensorType([None, x.shape[1]]))],
        )
    except NotFittedError as e:
        raise ConversionError(f"{type(estimator).__name__} is not fitted: {e}") from e
    except Exception as e:
        raise ConversionError(f"skl2onnx cannot convert {type(estimator).__name__}: {e}") from e
    Path(out_path).write_bytes(proto.SerializeToString())
    actual = run_onnx(out_path, {INPUT: x})
    names = [o.name for o in proto.graph.output]
    what = type(estimator).__name__
    if not classifier:
        diff = compare_outputs(
            [np.asarray(expected, np.float32).reshape(actual[0].shape)], actual[:1], tolerance, what
        )
        return {"max_abs_diff": diff, "labels": None, "outputs": names, "classifier": False}
    if not np.array_equal(np.asarray(expected).astype(str), np.asarray(actual[0]).astype(str)):
        raise ConversionError(
            f"{what}: the ONNX graph predicts other labels than the estimator "
            f"on {int(np.sum(np.asarray(expected) != actual[0]))} rows"
        )
    diff = compare_outputs([estimator.predict_proba(x)], actual[1:2], tolerance, what)
    return {
        "max_abs_diff": diff,
        "labels": [str(c) for c in estimator.classes_],
        "outputs": names,
        "classifier": True,
    }
