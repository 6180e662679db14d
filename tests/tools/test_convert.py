"""tools.convert.convert: one entry point, every conversion verified against its source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from sensekit.core.errors import ConversionError, InvalidInput
from sensekit.core.model import Model
from sensekit.tools.convert import convert, detect_kind

WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    *(
        [
            "the",
            "a",
            "cat",
            "sat",
            "on",
            "mat",
            "what",
            "where",
            "is",
            "who",
            "dog",
            "coffee",
            "cup",
            "paris",
            "france",
            "capital",
            "of",
        ]
    ),
]


@pytest.fixture(scope="module")
def tiny_bert_qa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BertForQuestionAnswering saved like a hub checkpoint."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-bert-qa")
    (directory / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    BertTokenizerFast(vocab=str(directory / "vocab.txt")).save_pretrained(directory)
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        architectures=["BertForQuestionAnswering"],
    )
    BertForQuestionAnswering(config).save_pretrained(directory)
    return directory


def test_transformers_qa_directory_becomes_a_text_package(
    tiny_bert_qa: Path, tmp_path: Path
) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import BertForQuestionAnswering

    assert detect_kind(tiny_bert_qa) == "transformers"
    path = convert(tiny_bert_qa, destination=tmp_path / "qa.skmodel", name="tiny-qa")
    model = Model.load(path)
    manifest = model.manifest
    assert manifest.task == "question-answering"
    assert manifest.preprocess == {
        "kind": "text",
        "tokenizer": "tokenizer.json",
        "max_seq_len": 64,
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
    }
    assert 0 <= manifest.conversion["max_abs_diff"] < 1e-4
    assert {"tokenizer.json", "vocab.txt"} <= set(manifest.files)
    tokenizer = Tokenizer.from_file(str(model.package.path("tokenizer.json")))
    encoding = tokenizer.encode("what is the capital of france", "paris is the capital")
    feeds = {
        "input_ids": np.array([encoding.ids]),
        "attention_mask": np.array([encoding.attention_mask]),
        "token_type_ids": np.array([encoding.type_ids]),
    }
    assert encoding.tokens[0] == "[CLS]" and "paris" in encoding.tokens
    out = model.predict(feeds)
    reference = BertForQuestionAnswering.from_pretrained(tiny_bert_qa).eval()
    with torch.no_grad():
        expected = reference(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    np.testing.assert_allclose(out["start_logits"], expected.start_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(out["end_logits"], expected.end_logits.numpy(), atol=1e-4)


def test_pytorch_module_with_named_inputs_and_metadata(tmp_path: Path) -> None:
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    path = convert(
        net,
        sample_inputs={"x": x},
        destination=tmp_path / "n.skmodel",
        metadata={"labels": ["a", "b", "c"], "license": "MIT", "output_names": ["scores"]},
    )
    model = Model.load(path)
    assert model.labels == ["a", "b", "c"] and model.manifest.license == "MIT"
    assert "output_names" not in model.manifest.extra
    with torch.no_grad():
        expected = net(torch.from_numpy(x[:2])).numpy()
    np.testing.assert_allclose(model.predict({"x": x[:2]})["scores"], expected, atol=1e-5)


def test_outputs_that_do_not_match_the_source_are_refused(tmp_path: Path) -> None:
    import torch

    class CountsCalls(torch.nn.Module):  # tracing bakes the Python counter in as a constant
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x * 2 + float(self.calls)

    with pytest.raises(ConversionError, match="differ from the source"):
        convert(
            CountsCalls(),
            sample_inputs=[np.ones((1, 3), np.float32)],
            destination=tmp_path / "bad.skmodel",
        )
    assert not (tmp_path / "bad.skmodel").exists()


def test_corrupt_onnx_and_unsupported_op_are_refused(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage that is not a protobuf" * 10)
    with pytest.raises(ConversionError, match="not a valid ONNX file"):
        convert(corrupt, destination=tmp_path / "c.skmodel")
    graph = helper.make_graph(
        [helper.make_node("FrobnicateTensor", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    unsupported = tmp_path / "odd.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(unsupported)
    )
    with pytest.raises(ConversionError, match="unsupported op FrobnicateTensor"):
        convert(unsupported, destination=tmp_path / "o.skmodel")
    assert not list(tmp_path.glob("*.skmodel"))


def test_plain_onnx_file_is_checked_and_packaged(tmp_path: Path) -> None:
    from tests.core.helpers import tiny_graph

    weight, bias = tiny_graph(tmp_path / "tiny.onnx")
    path = convert(tmp_path / "tiny.onnx", destination=tmp_path / "t.skmodel")
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(
        Model.load(path).predict({"x": x})["y"], x @ weight + bias, rtol=1e-6
    )
    assert json.loads((path / "manifest.json").read_text())["conversion"]["from"] == "onnx"


def test_sklearn_classifier_on_iris(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    names = np.array(iris.target_names)[iris.target]
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    estimator.fit(iris.data, names)
    assert detect_kind(estimator) == "sklearn"
    path = convert(estimator, sample_inputs=iris.data, destination=tmp_path / "iris.skmodel")
    model = Model.load(path)
    assert model.manifest.task == "tabular-classification"
    assert model.labels == ["setosa", "versicolor", "virginica"]
    out = model.predict({"input": iris.data.astype(np.float32)})
    assert np.mean(out["label"] == names) > 0.95
    np.testing.assert_allclose(
        out["probabilities"], estimator.predict_proba(iris.data.astype(np.float32)), atol=1e-4
    )


def test_sklearn_unfitted_is_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ConversionError, match="not fitted"):
        convert(
            LogisticRegression(), sample_inputs=np.zeros((2, 3)), destination=tmp_path / "u.skmodel"
        )


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tensorflow as tf

    class Scorer(tf.Module):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.w = tf.Variable(rng.standard_normal((4, 3)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            return {"scores": tf.nn.softmax(tf.matmul(x, self.w))}

    directory = tmp_path_factory.mktemp("saved") / "scorer"
    module = Scorer()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.__call__})
    return directory


def test_saved_model_directory(saved_model: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    assert detect_kind(saved_model) == "saved_model"
    path = convert(saved_model, destination=tmp_path / "s.skmodel")
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    expected = (
        tf.saved_model.load(str(saved_model))
        .signatures["serving_default"](x=tf.constant(x))["scores"]
        .numpy()
    )
    np.testing.assert_allclose(Model.load(path).predict({"x": x})["scores"], expected, atol=1e-5)


def test_saved_model_missing_files(saved_model: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(saved_model, broken)
    shutil.rmtree(broken / "variables")
    with pytest.raises(ConversionError, match="missing variables/"):
        convert(broken, kind="saved_model", destination=tmp_path / "b.skmodel")


def test_detect_kind_and_bad_options(tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(b"")
    assert detect_kind(tmp_path / "m.tflite") == "tflite"
    with pytest.raises(ConversionError, match="does not exist"):
        detect_kind(tmp_path / "nothing")
    with pytest.raises(ConversionError, match="Cannot tell"):
        detect_kind(tmp_path)
    with pytest.raises(ConversionError, match="Cannot convert a dict"):
        detect_kind({})
    with pytest.raises(InvalidInput, match="kind"):
        convert(tmp_path / "m.tflite", kind="caffe")
