"""On-device updating: train a new classification head on a model's features
(Core ML's ``MLUpdateTask``).

:func:`fit_head` standardizes feature vectors, trains a head and writes a *new* model
package whose graph is the base graph with the head appended to the feature output::

    image -> base network -> features ─┬─> (x - mean) / std -> MatMul -> Add -> logits
                                       └─> features  (kept, so the new model is updatable too)

Two heads: ``"logistic"`` (multinomial logistic regression, gradient descent) and
``"knn"`` (up to ``max_exemplars`` class exemplars per class, cosine similarity in-graph,
``logits = scale * max_similarity`` per class). The base package is never modified.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.accelerate import nn
from sensekit.core.errors import InvalidInput, ModelIntegrityError
from sensekit.core.model import Model
from sensekit.core.package import MANIFEST, write_package
from sensekit.tools.onnx_utils import (
    external_files,
    prune_graph,
    random_feeds,
    rename_tensor,
    save_onnx,
)

Progress = Callable[[int, float], "bool | None"]
METHODS = ("logistic", "knn")
LOGITS = "logits"
_STD_FLOOR = 1e-6  # features constant over the training set are left unscaled
_KNN_SCALE = 20.0  # cosine similarity [-1, 1] -> logits; softmax(20 * cos) is well spread
_HEAD = "sensekit_head"  # prefix of every tensor and node the head adds


@dataclass(frozen=True)
class UpdateResult:
    """What :func:`fit_head` produced.

    Attributes:
        path: the new package, or None when training was cancelled (nothing is written).
        labels: class names, in the order of the ``logits`` output.
        train_accuracy: accuracy of the head on its training examples.
        holdout_accuracy: accuracy on the held-out examples (None when none were held out).
        epochs_run: gradient-descent epochs actually run (0 for k-NN).
        cancelled: training was stopped by ``cancel`` or by ``progress`` returning False.
        method: "logistic" or "knn".
    """

    path: Path | None
    labels: tuple[str, ...]
    train_accuracy: float
    holdout_accuracy: float | None
    epochs_run: int
    cancelled: bool
    method: str = "logistic"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "labels": list(self.labels),
            "train_accuracy": self.train_accuracy,
            "holdout_accuracy": self.holdout_accuracy,
            "epochs_run": self.epochs_run,
            "cancelled": self.cancelled,
            "method": self.method,
        }


@dataclass(frozen=True)
class Head:
    """A trained head in numpy form: ``logits = head(features)`` (for checks and tests)."""

    method: str
    mean: np.ndarray  # [D]
    std: np.ndarray  # [D]
    weights: np.ndarray  # logistic: [D, C]; knn: exemplars [D, C * K], unit columns
    bias: np.ndarray  # logistic: [C]; knn: unused (zeros [C])
    classes: int

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, np.float32) - self.mean) / self.std
        if self.method == "logistic":
            return x @ self.weights + self.bias
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        similarity = (x @ self.weights).reshape(len(x), self.classes, -1)
        return _KNN_SCALE * similarity.max(axis=2)


# -- data ------------------------------------------------------------------------------
def _check_examples(features: Any, labels: Any) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Validates the examples; returns (features [N, D], sorted class names, ids [N])."""
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise InvalidInput(f"features must be a non-empty [N, D] array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise InvalidInput("features must be finite numbers (no NaN or inf)")
    if isinstance(labels, str) or len(labels) != len(x):
        raise InvalidInput(f"labels must be a list of {len(x)} strings, one per feature row")
    if not all(isinstance(v, str) and v.strip() and "\n" not in v for v in labels):
        raise InvalidInput("labels must be non-empty single-line strings")
    names = sorted(set(labels))
    if len(names) < 2:
        raise InvalidInput(f"an updated classifier needs at least 2 classes, got {names}")
    index = {name: i for i, name in enumerate(names)}
    return x.astype(np.float32), names, np.array([index[v] for v in labels], np.int64)


def split_holdout(ids: np.ndarray, holdout: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split: ``holdout`` of each class is held out, keeping >= 1 to train on.

    Returns:
        (train indices, holdout indices).
    """
    if not 0.0 <= holdout < 1.0:
        raise InvalidInput(f"holdout must be in [0, 1), not {holdout!r}")
    rng = np.random.default_rng(seed)
    train, held = [], []
    for cls in np.unique(ids):
        members = rng.permutation(np.nonzero(ids == cls)[0])
        count = min(int(round(holdout * len(members))), len(members) - 1)
        held.extend(members[:count])
        train.extend(members[count:])
    return np.sort(np.array(train, np.int64)), np.sort(np.array(held, np.int64))


def _standardizer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean.astype(np.float32), np.where(std > _STD_FLOOR, std, 1.0).astype(np.float32)


# -- training --------------------------------------------------------------------------
def _train_logistic(
    x: np.ndarray,
    ids: np.ndarray,
    classes: int,
    epochs: int,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> tuple[Head, int, bool]:
    mean, std = _standardizer(x)
    state = {"epochs": 0, "cancelled": False}

    def report(epoch: int, loss: float) -> bool:
        state["epochs"] = epoch + 1
        stop = (cancel is not None and cancel.is_set()) or (
            progress is not None and progress(epoch, loss) is False
        )
        state["cancelled"] = bool(stop)
        return not stop

    weights, bias = nn.train_softmax_regression(
        (x - mean) / std, ids, classes, epochs=epochs, progress=report
    )
    head = Head("logistic", mean, std, weights.astype(np.float32), bias.astype(np.float32), classes)
    return head, int(state["epochs"]), bool(state["cancelled"])


def _train_knn(x: np.ndarray, ids: np.ndarray, classes: int, max_exemplars: int, seed: int) -> Head:
    """Exemplars per class (k-means centroids when a class has more than ``max_exemplars``),
    padded by repetition to the same count K so the graph can take a max over [C, K]."""
    mean, std = _standardizer(x)
    z = (x - mean) / std
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    groups = []
    for cls in range(classes):
        members = z[ids == cls]
        if len(members) > max_exemplars:
            members, _ = nn.kmeans(members, max_exemplars, seed=seed)
            members = members / np.maximum(np.linalg.norm(members, axis=1, keepdims=True), 1e-12)
        groups.append(members)
    k = max(len(g) for g in groups)
    padded = [np.concatenate([g, g[np.arange(k - len(g)) % len(g)]]) for g in groups]
    exemplars = np.concatenate(padded).T.astype(np.float32)  # [D, C * K], class-major
    return Head("knn", mean, std, exemplars, np.zeros(classes, np.float32), classes)


def _accuracy(head: Head, x: np.ndarray, ids: np.ndarray) -> float | None:
    if len(x) == 0:
        return None
    return float(np.mean(np.argmax(head(x), axis=1) == ids))


# -- graph surgery ---------------------------------------------------------------------
def _opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)


def _unique_prefix(graph: Any) -> str:
    """``sensekit_head``, or ``sensekit_head2``... if a previous head still uses the name."""
    used = {n for node in graph.node for n in [node.name, *node.input, *node.output]}
    used |= {t.name for t in graph.initializer}
    prefix, count = _HEAD, 1
    while any(n.startswith(prefix + "/") for n in used):
        count += 1
        prefix = f"{_HEAD}{count}"
    return prefix


def _head_nodes(
    head: Head, features: str, opset: int, prefix: str = _HEAD
) -> tuple[list[Any], list[Any]]:
    """ONNX nodes and initializers computing ``logits`` from the ``features`` tensor."""
    from onnx import helper, numpy_helper

    def name(suffix: str) -> str:
        return f"{prefix}/{suffix}"

    inits = {"mean": head.mean, "std": head.std, "weights": head.weights}
    nodes = [
        helper.make_node("Sub", [features, name("mean")], [name("centered")], name("sub")),
        helper.make_node("Div", [name("centered"), name("std")], [name("z")], name("div")),
    ]
    if head.method == "logistic":
        inits["bias"] = head.bias
        nodes += [
            helper.make_node("MatMul", [name("z"), name("weights")], [name("zw")], name("matmul")),
            helper.make_node("Add", [name("zw"), name("bias")], [LOGITS], name("add")),
        ]
    else:
        k = head.weights.shape[1] // head.classes
        inits.update(
            ones=np.ones((len(head.mean), 1), np.float32),
            eps=np.array(1e-12, np.float32),
            scale=np.array(_KNN_SCALE, np.float32),
            shape=np.array([0, head.classes, k], np.int64),
        )
        reduce_inputs = [name("grouped")]
        reduce_attrs: dict[str, Any] = {"keepdims": 0}
        if opset >= 18:
            inits["axes"] = np.array([2], np.int64)
            reduce_inputs.append(name("axes"))
        else:
            reduce_attrs["axes"] = [2]
        steps = [
            ("Mul", [name("z"), name("z")], "z2"),
            ("MatMul", [name("z2"), name("ones")], "ss"),
            ("Sqrt", [name("ss")], "norm"),
            ("Max", [name("norm"), name("eps")], "safe"),
            ("Div", [name("z"), name("safe")], "unit"),
            ("MatMul", [name("unit"), name("weights")], "similarity"),
            ("Reshape", [name("similarity"), name("shape")], "grouped"),
        ]
        nodes += [helper.make_node(op, ins, [name(out)], name(out)) for op, ins, out in steps]
        nodes += [
            helper.make_node(
                "ReduceMax", reduce_inputs, [name("best")], name("best"), **reduce_attrs
            ),
            helper.make_node("Mul", [name("best"), name("scale")], [LOGITS], name("scale")),
        ]
    return nodes, [
        numpy_helper.from_array(np.ascontiguousarray(v), name(k)) for k, v in inits.items()
    ]


def append_head(model: Any, feature_output: str, head: Head) -> Any:
    """Returns ``model`` (an onnx ModelProto, modified in place) with ``logits`` computed
    from ``feature_output`` by ``head``; a previous ``logits`` output is replaced."""
    from onnx import TensorProto, helper

    graph = model.graph
    outputs = {o.name: o for o in graph.output}
    if feature_output not in outputs:
        raise InvalidInput(
            f"The model has no output {feature_output!r}; its outputs are {sorted(outputs)}"
        )
    if feature_output == LOGITS:
        raise InvalidInput(f"The feature output must not be named {LOGITS!r}")
    tensor_type = outputs[feature_output].type.tensor_type
    dims = tensor_type.shape.dim
    if tensor_type.elem_type != TensorProto.FLOAT or len(dims) != 2:
        raise InvalidInput(f"Output {feature_output!r} must be float32 [N, D] to train a head on")
    if dims[1].HasField("dim_value") and dims[1].dim_value != len(head.mean):
        raise InvalidInput(
            f"Output {feature_output!r} has {dims[1].dim_value} features, the "
            f"examples have {len(head.mean)}"
        )
    replaced = f"{_HEAD}_replaced/{LOGITS}"
    rename_tensor(graph, LOGITS, replaced)
    kept = [o for o in graph.output if o.name != replaced]
    del graph.output[:]
    graph.output.extend(kept)
    prune_graph(graph)  # drops the old head before the new one is named
    nodes, initializers = _head_nodes(head, feature_output, _opset(model), _unique_prefix(graph))
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)
    batch = dims[0].dim_param or (dims[0].dim_value if dims[0].HasField("dim_value") else "batch")
    logits = helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, [batch, head.classes])
    graph.output.insert(0, logits)
    return model


# -- packaging -------------------------------------------------------------------------
def _check_head(graph_file: str, feature_output: str, head: Head) -> Callable[[Path], None]:
    """write_package check: the new graph's logits equal the numpy head on its features."""

    def check(workdir: Path) -> None:
        import onnxruntime as ort

        session = ort.InferenceSession(
            str(workdir / graph_file), providers=["CPUExecutionProvider"]
        )
        logits, features = session.run([LOGITS, feature_output], random_feeds(session))
        expected = head(features)
        error = float(np.max(np.abs(logits - expected)))
        if not error <= 1e-3 * max(1.0, float(np.max(np.abs(expected)))):
            raise ModelIntegrityError(f"The updated graph disagrees with its head by {error:.3g}")

    return check


def _write_updated(
    base: Model,
    graph_key: str,
    model: Any,
    manifest: dict[str, Any],
    labels: Sequence[str],
    destination: Path,
    check: Callable[[Path], None],
) -> None:
    graph_file = base.manifest.graphs[graph_key]
    skip = {MANIFEST, graph_file, base.manifest.labels, *external_files(model)}
    label_file = (
        "labels.txt"
        if "labels.txt" not in set(base.manifest.files) - skip
        else f"{_HEAD}_labels.txt"
    )
    manifest["labels"] = label_file
    with write_package(destination, manifest, check=check) as writer:
        for relative in base.manifest.files:
            if relative not in skip:
                writer.add_file(relative, base.package.path(relative))
        (writer.dir / graph_file).parent.mkdir(parents=True, exist_ok=True)
        save_onnx(model, writer.dir / graph_file)
        writer.add_text(label_file, "\n".join(labels) + "\n")


def _updated_manifest(
    base: Model, name: str, feature_output: str, examples: int, result: UpdateResult
) -> dict[str, Any]:
    manifest = base.manifest.to_dict()
    manifest.pop("files", None)
    manifest.pop("schema", None)
    post = dict(manifest.get("postprocess") or {})
    post.update(activation="softmax", output=LOGITS, features=feature_output)
    description = manifest.get("description") or base.name
    manifest.update(
        name=name,
        postprocess=post,
        description=f"{description}; head retrained on {examples} examples of "
        f"{len(result.labels)} classes",
        update={
            "base": base.name,
            "method": result.method,
            "examples": examples,
            "classes": len(result.labels),
            "train_accuracy": result.train_accuracy,
            "holdout_accuracy": result.holdout_accuracy,
            "epochs": result.epochs_run,
        },
    )
    return manifest


def _check_options(name: Any, destination: Any, base: Model, method: str, epochs: Any) -> Path:
    if not isinstance(name, str) or not name.strip() or "/" in name or "\\" in name:
        raise InvalidInput(f"name must be a non-empty string without slashes, not {name!r}")
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {METHODS}, not {method!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise InvalidInput(f"epochs must be a positive int, not {epochs!r}")
    if not isinstance(destination, (str, os.PathLike)):
        raise InvalidInput("destination must be a path")
    path = Path(destination)
    if path.resolve() == base.package.root.resolve():
        raise InvalidInput(
            "destination is the base package itself; an update never "
            "overwrites the model it starts from"
        )
    return path


def fit_head(
    features: np.ndarray,
    labels: Sequence[str],
    base: Model | str | os.PathLike[str],
    feature_output: str,
    destination: str | os.PathLike[str],
    name: str,
    *,
    holdout: float = 0.2,
    epochs: int = 300,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    seed: int = 0,
    method: str = "logistic",
    max_exemplars: int = 32,
    graph: str | None = None,
) -> UpdateResult:
    """Trains a classification head on features of ``base`` and writes a new package.

    Args:
        features: [N, D] feature vectors, computed by ``base`` (its ``feature_output``).
        labels: N class names; classes are sorted by name in the new model.
        base: the model whose graph the head is appended to (a Model, zoo name or path).
        feature_output: the base graph output the features came from (e.g. "features").
        destination: directory of the new ``.skmodel`` package (replaced if it exists).
        name: the new model's name.
        holdout: fraction of each class held out to measure accuracy (0 = none).
        epochs: gradient-descent epochs (logistic head).
        progress: ``progress(epoch, loss)``; returning False cancels.
        cancel: an event another thread may set to cancel.
        seed: seed of the holdout split (and of k-means for the k-NN head).
        method: "logistic" or "knn".
        max_exemplars: most exemplars kept per class by the k-NN head.
        graph: the graph of ``base`` to extend (default: its main graph).

    Returns:
        An :class:`UpdateResult`; when cancelled, ``path`` is None and nothing is written.

    Raises:
        InvalidInput: bad examples or options, or no float [N, D] output ``feature_output``.
    """
    model = base if isinstance(base, Model) else Model.load(base)
    path = _check_options(name, destination, model, method, epochs)
    x, names, ids = _check_examples(features, labels)
    train, held = split_holdout(ids, holdout, seed)
    if method == "knn":
        head, epochs_run, cancelled = (
            _train_knn(x[train], ids[train], len(names), max(1, int(max_exemplars)), seed),
            0,
            False,
        )
        cancelled = cancel is not None and cancel.is_set()
    else:
        head, epochs_run, cancelled = _train_logistic(
            x[train], ids[train], len(names), epochs, progress, cancel
        )
    result = UpdateResult(
        None,
        tuple(names),
        _accuracy(head, x[train], ids[train]) or 0.0,
        _accuracy(head, x[held], ids[held]),
        epochs_run,
        cancelled,
        method,
    )
    if cancelled:
        return result
    return _package(model, graph, feature_output, head, path, name, len(x), result)


def _package(
    base: Model,
    graph: str | None,
    feature_output: str,
    head: Head,
    path: Path,
    name: str,
    examples: int,
    result: UpdateResult,
) -> UpdateResult:
    import onnx

    key = base._graph_key(graph)
    try:
        proto = onnx.load(str(base.package.graph_path(key)))
    except Exception as e:
        raise ModelIntegrityError(f"{base.name}: cannot read graph {key!r}: {e}") from e
    append_head(proto, feature_output, head)
    manifest = _updated_manifest(base, name, feature_output, examples, result)
    check = _check_head(base.manifest.graphs[key], feature_output, head)
    _write_updated(base, key, proto, manifest, result.labels, path, check)
    return UpdateResult(
        path,
        result.labels,
        result.train_accuracy,
        result.holdout_accuracy,
        result.epochs_run,
        False,
        result.method,
    )
