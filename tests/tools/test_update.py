"""tools.update: new classification heads appended to a model's feature output."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.package import ModelPackage, sha256_file, write_package
from sensekit.tools.update import UpdateResult, fit_head, split_holdout

D = 6  # feature width of the synthetic base model


def _feature_package(destination: Path) -> Path:
    """A base model x [batch, D] -> features = relu-free x @ W, logits = features @ V."""
    rng = np.random.default_rng(0)
    w = (np.eye(D) + 0.1 * rng.standard_normal((D, D))).astype(np.float32)
    v = rng.standard_normal((D, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["features"]),
            helper.make_node("MatMul", ["features", "V"], ["logits"]),
        ],
        "base",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", D])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", D]),
        ],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(v, "V")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    manifest = {
        "name": "base",
        "task": "test-classification",
        "graphs": {"main": "model.onnx"},
        "labels": "labels.txt",
        "license": "CC0-1.0",
        "preprocess": {"kind": "test"},
        "postprocess": {"activation": "softmax", "output": "logits", "features": "features"},
    }
    with write_package(destination, manifest) as writer:
        onnx.save(model, str(writer.dir / "model.onnx"))
        writer.add_text("labels.txt", "a\nb\nc\n")
    return destination


def _blobs(rng: np.random.Generator, per_class: int) -> tuple[np.ndarray, list[str]]:
    centres = {
        "red": np.full(D, 2.0),
        "green": np.r_[np.full(3, -2.0), np.full(D - 3, 2.0)],
        "blue": np.full(D, -2.0),
    }
    x = np.concatenate([c + 0.5 * rng.standard_normal((per_class, D)) for c in centres.values()])
    return x.astype(np.float32), [n for n in centres for _ in range(per_class)]


@pytest.fixture()
def base(tmp_path: Path) -> Model:
    return Model.load(_feature_package(tmp_path / "base.skmodel"))


def test_split_holdout_is_stratified_and_keeps_training_examples() -> None:
    ids = np.array([0] * 10 + [1] * 5 + [2])
    train, held = split_holdout(ids, 0.2, seed=1)
    assert sorted(np.r_[train, held]) == list(range(16))
    assert np.bincount(ids[held], minlength=3).tolist() == [2, 1, 0]
    assert 2 in ids[train]  # a single-example class is always trained on
    with pytest.raises(InvalidInput):
        split_holdout(ids, 1.0)


@pytest.mark.parametrize("method", ["logistic", "knn"])
def test_head_classifies_new_inputs_through_the_new_graph(
    base: Model, tmp_path: Path, method: str
) -> None:
    rng = np.random.default_rng(3)
    inputs, labels = _blobs(rng, 20)
    features = base.predict({"x": inputs})["features"]
    before = {p.name: sha256_file(p) for p in base.package.root.iterdir()}
    result = fit_head(
        features, labels, base, "features", tmp_path / "new.skmodel", "colours", method=method
    )
    assert result.labels == ("blue", "green", "red")
    assert result.train_accuracy == 1.0 and result.holdout_accuracy == 1.0
    assert {p.name: sha256_file(p) for p in base.package.root.iterdir()} == before
    updated = Model.load(result.path)
    test_inputs, test_labels = _blobs(rng, 10)
    out = updated.predict({"x": test_inputs})
    assert set(out) == {"logits", "features"}
    predicted = [updated.labels[i] for i in out["logits"].argmax(1)]
    assert np.mean(np.array(predicted) == np.array(test_labels)) >= 0.95
    manifest = updated.manifest
    assert manifest.task == "test-classification" and manifest.name == "colours"
    assert manifest.postprocess["output"] == "logits"
    assert manifest.extra["update"]["base"] == "base"
    assert manifest.extra["update"]["examples"] == 60


def test_updated_model_can_be_updated_again(base: Model, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    inputs, labels = _blobs(rng, 8)
    first = fit_head(
        base.predict({"x": inputs})["features"],
        labels,
        base,
        "features",
        tmp_path / "one.skmodel",
        "one",
    )
    again = Model.load(first.path)
    two_labels = ["warm" if v == "red" else "cold" for v in labels]
    second = fit_head(
        again.predict({"x": inputs})["features"],
        two_labels,
        again,
        "features",
        tmp_path / "two.skmodel",
        "two",
    )
    out = Model.load(second.path).predict({"x": inputs})
    assert out["logits"].shape == (len(inputs), 2)
    assert Model.load(second.path).manifest.extra["update"]["base"] == "one"


def test_cancel_writes_nothing(base: Model, tmp_path: Path) -> None:
    inputs, labels = _blobs(np.random.default_rng(5), 5)
    features = base.predict({"x": inputs})["features"]
    seen: list[int] = []
    result = fit_head(
        features,
        labels,
        base,
        "features",
        tmp_path / "x.skmodel",
        "x",
        progress=lambda epoch, loss: seen.append(epoch) or epoch < 4,
    )
    assert result.cancelled and result.path is None and result.epochs_run == 5
    assert not (tmp_path / "x.skmodel").exists() and seen == [0, 1, 2, 3, 4]
    stop = threading.Event()
    stop.set()
    assert fit_head(
        features, labels, base, "features", tmp_path / "y.skmodel", "y", cancel=stop
    ).cancelled


@pytest.mark.parametrize(
    "change, match",
    [
        ({"labels": ["a"] * 15}, "at least 2 classes"),
        ({"labels": ["a", "b"]}, "one per feature row"),
        ({"features": np.full((15, D), np.nan)}, "finite"),
        ({"feature_output": "nope"}, "no output 'nope'"),
        ({"feature_output": "logits"}, "must not be named"),
        ({"features": np.zeros((15, D + 1))}, "features"),
        ({"method": "svm"}, "method"),
        ({"name": "a/b"}, "name"),
    ],
)
def test_bad_input_is_refused(base: Model, tmp_path: Path, change: dict, match: str) -> None:
    inputs, labels = _blobs(np.random.default_rng(6), 5)
    args = {
        "features": base.predict({"x": inputs})["features"],
        "labels": labels,
        "feature_output": "features",
        "name": "n",
        "method": "logistic",
    }
    args.update(change)
    with pytest.raises(InvalidInput, match=match):
        fit_head(base=base, destination=tmp_path / "n.skmodel", **args)


def test_destination_cannot_be_the_base(base: Model) -> None:
    inputs, labels = _blobs(np.random.default_rng(7), 5)
    with pytest.raises(InvalidInput, match="base package"):
        fit_head(
            base.predict({"x": inputs})["features"],
            labels,
            base,
            "features",
            base.package.root,
            "same",
        )
    ModelPackage.open(base.package.root)


# -- real model, real photos ----------------------------------------------------------------
def _augmented_crops(path: Path, count: int, spec: dict, rng: np.random.Generator) -> np.ndarray:
    from sensekit.vision.image_input import load_image, preprocess

    image = load_image(path)
    height, width = image.shape[:2]
    batch = []
    for _ in range(count):
        scale = rng.uniform(0.45, 0.9)
        h, w = int(height * scale), int(width * scale)
        y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        crop = image[y : y + h, x : x + w][:, :: -1 if rng.random() < 0.5 else 1]
        batch.append(preprocess(np.ascontiguousarray(crop), spec)[0])
    return np.concatenate(batch)


# Heads train on crops of one photo per label and are scored on photos they never saw:
# person.jpg (a dog beside a woman and a horse) and the motorcycle from the stereo pair's
# other camera. Scoring crops of the training photos would pass a head that memorized them.
TRAIN_PHOTOS = {
    "cat": "chelsea.png",
    "coffee cup": "coffee.png",
    "dog": "dog.jpg",
    "motorcycle": "motorcycle_left.png",
}
UNSEEN_PHOTOS = {"dog": "person.jpg", "motorcycle": "motorcycle_right.png"}


def test_efficientnet_heads_recognize_photos_they_were_not_trained_on(
    media, tmp_path: Path
) -> None:
    from sensekit.vision.classify import ImageClassifier

    base = Model.load("efficientnet-lite0")
    rng = np.random.default_rng(0)
    spec = base.manifest.preprocess
    batch = np.concatenate(
        [_augmented_crops(media(f), 10, spec, rng) for f in TRAIN_PHOTOS.values()]
    )
    features = base.predict({"image": batch})["features"]
    labels = [label for label in TRAIN_PHOTOS for _ in range(10)]
    for method in ("logistic", "knn"):
        result = fit_head(
            features,
            labels,
            base,
            "features",
            tmp_path / f"{method}.skmodel",
            f"photos-{method}",
            method=method,
        )
        assert isinstance(result, UpdateResult) and result.holdout_accuracy == 1.0
        classifier = ImageClassifier.from_model(result.path)
        for label, photo in UNSEEN_PHOTOS.items():
            best = classifier.classify(media(photo), top_k=3)
            # top-1 only: the knn head scored dog 0.56 on person.jpg when this was written
            assert best[0].label == label, (method, photo, best)
        assert classifier.features(media("dog.jpg")).shape == (1280,)
    ModelPackage.open(base.package.root, verify=True)  # the zoo package is untouched
