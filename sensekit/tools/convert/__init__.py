"""Conversion of trained models from other frameworks into sensekit model packages.

:func:`convert` is the one entry point (Core ML's ``coremltools.convert``): it detects
the source's kind, converts it with the matching module (one per source format),
verifies the ONNX graph against the source on sample inputs and writes a package whose
manifest records ``conversion.max_abs_diff``::

    convert(module, sample_inputs=[x])               # PyTorch nn.Module
    convert("bert-squad/")                           # Hugging Face directory
    convert("pose.tflite"), convert("model.json")    # TFLite, TF.js graph model
    convert("saved_model/"), convert(fitted_sklearn_estimator, sample_inputs=X)
    convert("whisper-ct2/")                          # CTranslate2 Whisper
    convert("model.onnx")                            # an ONNX file, checked and packaged
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError, InvalidInput, SensekitError
from sensekit.tools.convert.verify import compare_outputs, run_onnx

__all__ = ["KINDS", "compare_outputs", "convert", "detect_kind"]

KINDS = (
    "pytorch",
    "transformers",
    "tflite",
    "tfjs",
    "saved_model",
    "sklearn",
    "ctranslate2",
    "onnx",
)
GRAPH = "model.onnx"
_DEFAULT_TASKS = {"sklearn": "tabular", "ctranslate2": "speech-recognition"}
Fields = dict[str, Any]  # what a converter returns: manifest fields plus "_files", "_labels"


def detect_kind(source: Any) -> str:
    """The kind of ``source``: an object's framework, or what a path holds.

    Raises:
        ConversionError: the source is of no kind sensekit converts.
    """
    module = type(source).__module__
    if module.startswith("sklearn."):
        return "sklearn"
    if module.startswith("transformers.") and hasattr(source, "save_pretrained"):
        return "transformers"
    if _is_torch_module(source):
        return "pytorch"
    if not isinstance(source, (str, os.PathLike)):
        raise ConversionError(
            f"Cannot convert a {type(source).__name__}: pass a PyTorch "
            f"module, a fitted scikit-learn estimator or a model path"
        )
    from sensekit.tools.convert.saved_model import is_saved_model
    from sensekit.tools.convert.transformers_hf import is_transformers_dir

    path = Path(source)
    if not path.exists():
        raise ConversionError(f"Model source {path} does not exist")
    if path.is_file():
        suffix = {".tflite": "tflite", ".onnx": "onnx", ".json": "tfjs"}.get(path.suffix.lower())
        if suffix:
            return suffix
    elif is_transformers_dir(path):
        return "transformers"
    elif is_saved_model(path) or (path / "variables").is_dir():
        return "saved_model"
    elif (path / "model.json").is_file():
        return "tfjs"
    elif (path / "model.bin").is_file() and (path / "config.json").is_file():
        return "ctranslate2"
    raise ConversionError(f"Cannot tell what kind of model {path} is; pass kind= one of {KINDS}")


def _is_torch_module(source: Any) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(source, torch.nn.Module)


# -- converters: each writes its graph(s) into ``workdir`` and returns manifest fields --------
def _graph_io(path: Path) -> tuple[list[str], list[str]]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers], [
        o.name for o in graph.output
    ]


def _from_pytorch(
    source: Any, workdir: Path, samples: Any, tolerance: float, options: dict[str, Any]
) -> Fields:
    from sensekit.tools.convert.pytorch import convert_pytorch

    if samples is None:
        raise ConversionError(
            "Converting a PyTorch module needs sample_inputs (a list of "
            "arrays, or a dict of input name -> array)"
        )
    if isinstance(samples, Mapping):
        names, arrays = list(samples), [np.asarray(v) for v in samples.values()]
    else:
        arrays = [
            np.asarray(v) for v in (samples if isinstance(samples, (list, tuple)) else [samples])
        ]
        names = ["input"] if len(arrays) == 1 else [f"input_{i}" for i in range(len(arrays))]
    outputs = options.get("output_names") or _torch_output_names(source, arrays)
    axes = options.get("dynamic_axes") or {n: {0: "batch"} for n in [*names, *outputs]}
    diff = convert_pytorch(
        source, arrays, workdir / GRAPH, names, outputs, axes, tolerance=tolerance
    )
    return {"graphs": {"main": GRAPH}, "max_abs_diff": diff}


def _torch_output_names(module: Any, arrays: list[np.ndarray]) -> list[str]:
    import torch

    try:
        with torch.no_grad():
            result = module.eval()(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays))
    except Exception as e:
        raise ConversionError(f"{type(module).__name__} fails on the sample inputs: {e}") from e
    count = 1 if isinstance(result, torch.Tensor) else len(result)
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


def _from_transformers(
    source: Any, workdir: Path, samples: Any, tolerance: float, options: dict[str, Any]
) -> Fields:
    import tempfile

    from sensekit.tools.convert.transformers_hf import convert_transformers

    if not isinstance(source, (str, os.PathLike)):  # a model object: save it first
        with tempfile.TemporaryDirectory() as saved:
            source.save_pretrained(saved)
            return _from_transformers(saved, workdir, samples, tolerance, options)
    result = convert_transformers(source, workdir / GRAPH, tolerance=tolerance)
    for path in result["tokenizer_files"]:
        (workdir / path.name).write_bytes(path.read_bytes())
    return {
        "graphs": {"main": GRAPH},
        "max_abs_diff": result["max_abs_diff"],
        "task": result["task"],
        "preprocess": result["preprocess"],
        "postprocess": result["postprocess"],
        "architecture": result["architecture"],
    }


def _from_sklearn(
    source: Any, workdir: Path, samples: Any, tolerance: float, options: dict[str, Any]
) -> Fields:
    from sensekit.tools.convert.sklearn import convert_sklearn, is_estimator

    if not is_estimator(source):
        raise ConversionError(f"{type(source).__name__} is not a scikit-learn estimator")
    result = convert_sklearn(source, workdir / GRAPH, samples, tolerance)
    kind = "classification" if result["classifier"] else "regression"
    post = {
        "kind": kind,
        **(
            {"output": "probabilities", "label": "label"}
            if result["classifier"]
            else {"output": result["outputs"][0]}
        ),
    }
    return {
        "graphs": {"main": GRAPH},
        "max_abs_diff": result["max_abs_diff"],
        "task": f"tabular-{kind}",
        "postprocess": post,
        "_labels": result["labels"],
        "preprocess": {"kind": "tabular", "input": "input"},
    }


def _from_tflite(
    source: Any, workdir: Path, samples: Any, tolerance: float, options: dict[str, Any]
) -> Fields:
    from sensekit.tools.convert.tflite import convert_tflite, verify_tflite

    feeds = dict(samples) if isinstance(samples, Mapping) else None
    convert_tflite(
        source, workdir / GRAPH, verify_inputs=[feeds] if feeds else (), tolerance=tolerance
    )
    diff = verify_tflite(source, workdir / GRAPH, feeds, tolerance)
    return {"graphs": {"main": GRAPH}, "max_abs_diff": diff}


def _from_tfjs(
    source: Any, workdir: Path, samples: Any, tolerance: float, options: dict[str, Any]
) -> Fields:
    from sensekit.tools.convert.tfjs import convert_tfjs, verify_tfjs

    path = Path(source)
    model_json = path / "model.json" if path.is_dir() else path
    feeds = dict(samples) if isinstance(samples, Mapping) else None
    convert_tfjs(
        model_json, workdir / GRAPH, verify_inputs=[feeds] if feeds else (), tolerance=tolerance
    )
    diff = verify_tfjs(model_json, workdir / GRAPH, feeds, tolerance)
    return {"graphs": {"main": GRAPH}, "max_abs_diff": diff}


def _from_saved_model(
    source: Any, workdir: Path, samples: Any, tolerance: float, options: dict[str, Any]
) -> Fields:
    from sensekit.tools.convert.saved_model import SIGNATURE, convert_saved_model

    result = convert_saved_model(
        source, workdir / GRAPH, samples, tolerance, signature=options.get("signature", SIGNATURE)
    )
    return {"graphs": {"main": GRAPH}, "max_abs_diff": result["max_abs_diff"]}


def _from_ctranslate2(
    source: Any, workdir: Path, samples: Any, tolerance: float, options: dict[str, Any]
) -> Fields:
    try:
        from sensekit.tools.convert.whisper import export_whisper_onnx
    except ImportError as e:
        raise ConversionError(f"CTranslate2 conversion is not available: {e}") from e
    result = export_whisper_onnx(source, workdir, tolerance=tolerance)
    for name in ("tokenizer.json", "vocabulary.txt", "vocabulary.json"):
        if (Path(source) / name).is_file():
            (workdir / name).write_bytes((Path(source) / name).read_bytes())
    return {
        "graphs": {"encoder": "encoder.onnx", "decoder": "decoder.onnx"},
        "max_abs_diff": max(result["max_abs_diff"].values()),
        "whisper": {"dims": result["dims"], "io": result["io"]},
    }


def _from_onnx(
    source: Any, workdir: Path, samples: Any, tolerance: float, options: dict[str, Any]
) -> Fields:
    """An existing ONNX file: checked (schema, ops, shapes), run once, and repackaged."""
    import onnx

    from sensekit.tools.onnx_utils import save_onnx

    try:
        proto = onnx.load(str(source))
    except Exception as e:
        raise ConversionError(f"{Path(source).name} is not a valid ONNX file: {e}") from e
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:
        unknown = re.search(r"No (?:Op|Schema) registered for (\w+)", str(e))
        reason = f"unsupported op {unknown.group(1)}" if unknown else str(e).splitlines()[0]
        raise ConversionError(f"{Path(source).name} fails the ONNX checker: {reason}") from e
    save_onnx(proto, workdir / GRAPH)
    _inputs, _ = _graph_io(workdir / GRAPH)
    feeds = dict(samples) if isinstance(samples, Mapping) else _random_feeds(workdir / GRAPH)
    run_onnx(workdir / GRAPH, feeds)
    return {"graphs": {"main": GRAPH}, "max_abs_diff": 0.0}


def _random_feeds(path: Path) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    from sensekit.tools.onnx_utils import random_feeds

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ConversionError(f"ONNX Runtime cannot load {path.name}: {e}") from e
    return random_feeds(session)


_CONVERTERS: dict[str, Callable[..., Fields]] = {
    "pytorch": _from_pytorch,
    "transformers": _from_transformers,
    "sklearn": _from_sklearn,
    "tflite": _from_tflite,
    "tfjs": _from_tfjs,
    "saved_model": _from_saved_model,
    "ctranslate2": _from_ctranslate2,
    "onnx": _from_onnx,
}


# -- the entry point --------------------------------------------------------------------
_OPTION_KEYS = ("output_names", "dynamic_axes", "signature")  # converter options, not manifest


def _default_name(source: Any) -> str:
    raw = Path(source).stem if isinstance(source, (str, os.PathLike)) else type(source).__name__
    if raw == "model" and isinstance(source, (str, os.PathLike)):
        raw = Path(source).resolve().parent.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.").lower() or "model"


def _describe(source: Any) -> str:
    return (
        str(Path(source).resolve())
        if isinstance(source, (str, os.PathLike))
        else f"{type(source).__module__}.{type(source).__name__}"
    )


def _check_graphs(workdir: Path) -> None:
    """write_package check: every graph of the package opens in ONNX Runtime."""
    import json

    import onnxruntime as ort

    manifest = json.loads((workdir / "manifest.json").read_text(encoding="utf-8"))
    for name, relative in manifest["graphs"].items():
        try:
            ort.InferenceSession(str(workdir / relative), providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ConversionError(f"Converted graph {name!r} does not load: {e}") from e


def _write_labels(writer: Any, labels: Any) -> str | None:
    if labels is None:
        return None
    if isinstance(labels, (str, os.PathLike)) and Path(labels).is_file():
        labels = Path(labels).read_text(encoding="utf-8").splitlines()
    if isinstance(labels, str) or not all(isinstance(v, str) and "\n" not in v for v in labels):
        raise InvalidInput(
            "metadata['labels'] must be a list of single-line strings or the path of a labels file"
        )
    writer.add_text("labels.txt", "\n".join(labels) + "\n")
    return "labels.txt"


def _manifest(
    name: str,
    kind: str,
    source: Any,
    task: str | None,
    fields: Fields,
    metadata: dict[str, Any],
    tolerance: float,
) -> dict[str, Any]:
    manifest = {
        "name": name,
        "task": task or fields.get("task") or _DEFAULT_TASKS.get(kind, "custom"),
        "version": "1",
        "license": "unknown",
        "description": "",
        "source": {"kind": kind, "from": _describe(source)},
        "graphs": fields["graphs"],
        "preprocess": fields.get("preprocess", {}),
        "postprocess": fields.get("postprocess", {}),
        "conversion": {
            "from": kind,
            "max_abs_diff": float(fields["max_abs_diff"]),
            "tolerance": tolerance,
            **({"architecture": fields["architecture"]} if "architecture" in fields else {}),
        },
    }
    if "whisper" in fields:
        manifest["whisper"] = fields["whisper"]
    manifest.update({k: v for k, v in metadata.items() if k != "labels"})
    return manifest


def convert(
    source: Any,
    *,
    kind: str | None = None,
    destination: str | os.PathLike[str] | None = None,
    name: str | None = None,
    task: str | None = None,
    metadata: dict[str, Any] | None = None,
    sample_inputs: Any = None,
    tolerance: float = 1e-3,
) -> Path:
    """Converts a model from another framework into a verified sensekit package.

    Args:
        source: a PyTorch ``nn.Module``, a fitted scikit-learn estimator, a transformers
            model or directory, or the path of a .tflite file, a TF.js ``model.json``, a
            SavedModel directory, a CTranslate2 Whisper directory or an .onnx file.
        kind: one of :data:`KINDS`; detected from ``source`` when None.
        destination: the package directory; default ``$SENSEKIT_HOME/models/NAME.skmodel``.
        name: the model's name; default derived from the source.
        task: the manifest's task (default per kind, e.g. "question-answering").
        metadata: extra manifest fields (license, description, preprocess, postprocess,
            labels as a list or file). Converter options are taken out of it, not stored:
            ``output_names``, ``dynamic_axes`` (PyTorch), ``signature`` (SavedModel).
        sample_inputs: inputs to convert and verify with; required for PyTorch (arrays or
            {name: array}); [N, F] rows for scikit-learn; {name: array} for TF sources.
        tolerance: largest accepted max abs difference between source and ONNX outputs.

    Returns:
        The path of the written package (``manifest.conversion.max_abs_diff`` is set).

    Raises:
        ConversionError: an unreadable or corrupt source, an op that cannot be converted,
            missing files, or outputs that differ from the source by more than ``tolerance``.
        InvalidInput: bad ``kind``, ``name`` or ``metadata``.
    """
    from sensekit.core import registry
    from sensekit.core.package import SUFFIX, write_package

    kind = kind or detect_kind(source)
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {KINDS}, not {kind!r}")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInput("metadata must be a dict of manifest fields")
    metadata = dict(metadata or {})
    options = {k: metadata.pop(k) for k in _OPTION_KEYS if k in metadata}
    name = name or _default_name(source)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise InvalidInput(f"name must be letters, digits, '.', '_' or '-', not {name!r}")
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0):
        raise InvalidInput(f"tolerance must be a non-negative number, not {tolerance!r}")
    target = (
        Path(destination) if destination is not None else registry.models_dir() / f"{name}{SUFFIX}"
    )
    manifest: dict[str, Any] = {}
    with write_package(target, manifest, check=_check_graphs) as writer:
        try:
            fields = _CONVERTERS[kind](source, writer.dir, sample_inputs, float(tolerance), options)
        except SensekitError:
            raise
        except Exception as e:  # a converter library failed in a way it did not wrap
            raise ConversionError(
                f"Converting {_describe(source)} as {kind} failed: {type(e).__name__}: {e}"
            ) from e
        manifest.update(_manifest(name, kind, source, task, fields, metadata, tolerance))
        labels = _write_labels(writer, metadata.get("labels", fields.get("_labels")))
        if labels:
            manifest["labels"] = labels
    return target
