"""tools.compress: every method measured; palettization and pruning checked exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sensekit.accelerate.nn import kmeans_1d, kmeans_1d_rows
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.package import ModelPackage, write_package
from sensekit.tools.compress import compress, top1_agreement
from sensekit.tools.compress.palette import pack_bits, unpack_bits


def _mlp_package(destination: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """x [batch, 64] -> MatMul W1 [64, 128] -> Relu -> MatMul W2 [128, 10] -> logits."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((64, 128)).astype(np.float32) * np.linspace(0.1, 2, 128)
    w2 = rng.standard_normal((128, 10)).astype(np.float32) * 0.2
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W1"], ["h"], name="mm1"),
            helper.make_node("Relu", ["h"], ["r"], name="relu"),
            helper.make_node("MatMul", ["r", "W2"], ["logits"], name="mm2"),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(w1.astype(np.float32), "W1"), numpy_helper.from_array(w2, "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    manifest = {
        "name": "mlp",
        "task": "test",
        "graphs": {"main": "model.onnx"},
        "labels": "labels.txt",
    }
    with write_package(destination, manifest) as writer:
        onnx.save(model, str(writer.dir / "model.onnx"))
        writer.add_text("labels.txt", "\n".join(str(i) for i in range(10)) + "\n")
    return destination, w1.astype(np.float32), w2


@pytest.fixture()
def mlp(tmp_path: Path) -> tuple[Model, np.ndarray, np.ndarray]:
    path, w1, w2 = _mlp_package(tmp_path / "mlp.skmodel")
    return Model.load(path), w1, w2


def _feeds(count: int = 4) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [{"x": rng.standard_normal((8, 64)).astype(np.float32)} for _ in range(count)]


def test_kmeans_1d_assigns_nearest_centroid_and_is_exact_on_few_values() -> None:
    x = np.random.default_rng(0).standard_normal(50_000).astype(np.float32)
    centroids, assignment = kmeans_1d(x, 16)
    nearest = np.argmin(np.abs(x[:, None] - centroids[None]), axis=1)
    assert len(centroids) == 16 and np.all(np.diff(centroids) > 0)
    assert np.array_equal(assignment, nearest)
    assert np.mean(np.abs(centroids[assignment] - x)) < 0.1
    centroids, assignment = kmeans_1d(np.array([3.0, 1.0, 1.0, 2.0]), 8)
    assert centroids.tolist() == [1.0, 2.0, 3.0] and assignment.tolist() == [2, 0, 0, 1]


@pytest.mark.parametrize("nbits", [2, 3, 4, 5, 6, 7])
def test_bit_packing_round_trips(nbits: int) -> None:
    codes = np.random.default_rng(nbits).integers(0, 1 << nbits, 1001)
    packed = pack_bits(codes, nbits)
    assert len(packed) == -(-1001 * nbits // 8) + 1
    assert np.array_equal(unpack_bits(packed, nbits, 1001), codes)


@pytest.mark.parametrize("nbits", [3, 4, 8])
def test_palettized_graph_equals_its_palette(mlp, tmp_path: Path, nbits: int) -> None:
    model, w1, w2 = mlp
    report = compress(
        model,
        "palettize",
        tmp_path / "p.skmodel",
        sample_inputs=_feeds(),
        nbits=nbits,
        min_elements=1,
        per_channel_scale=False,
        repeats=3,
    )
    assert report.kept == "compressed" and report.path == tmp_path / "p.skmodel"
    assert report.size_after < report.size_before * (nbits + 1) / 32 + 2000
    expected = []
    for w in (w1, w2):
        lut, codes = kmeans_1d(w, 1 << nbits)
        expected.append(lut[codes].reshape(w.shape))
    x = _feeds(1)[0]["x"]
    want = np.maximum(x @ expected[0], 0) @ expected[1]
    got = Model.load(report.path).predict({"x": x})["logits"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert Model.load(report.path).manifest.extra["compression"]["method"] == "palettize"


def test_per_channel_scale_helps_weights_of_mixed_magnitude(mlp, tmp_path: Path) -> None:
    model = mlp[0]
    errors = [
        compress(
            model,
            "palettize",
            tmp_path / f"{flag}.skmodel",
            sample_inputs=_feeds(),
            nbits=3,
            min_elements=1,
            per_channel_scale=flag,
            repeats=2,
        ).max_abs_diff
        for flag in (False, True)
    ]
    assert errors[1] < errors[0]


def test_prune_zeroes_the_smallest_weights_and_says_what_it_costs(mlp, tmp_path: Path) -> None:
    model, w1, _ = mlp
    report = compress(
        model,
        "prune",
        tmp_path / "z.skmodel",
        sample_inputs=_feeds(),
        sparsity=0.5,
        min_elements=1,
        repeats=2,
    )
    pruned = numpy_helper.to_array(
        next(
            t
            for t in onnx.load(str(report.path / "model.onnx")).graph.initializer
            if t.name == "W1"
        )
    )
    assert abs(np.mean(pruned == 0) - 0.5) < 0.01
    kept = pruned != 0
    assert np.abs(w1[~kept]).max() <= np.abs(w1[kept]).min()
    assert abs(report.size_after - report.size_before) < 0.05 * report.size_before
    assert report.zipped_after < 0.8 * report.zipped_before
    assert any("no faster" in note for note in report.notes)


def test_gate_keeps_the_original_when_accuracy_drops(mlp, tmp_path: Path) -> None:
    model = mlp[0]
    report = compress(
        model,
        "palettize",
        tmp_path / "g.skmodel",
        sample_inputs=_feeds(),
        nbits=2,
        min_elements=1,
        verify=top1_agreement,
        max_drop=0.0,
        repeats=2,
    )
    assert report.kept == "original" and report.path == model.package.root
    assert "accuracy dropped" in report.reason and report.accuracy_drop > 0
    assert not (tmp_path / "g.skmodel").exists()


def test_int8_methods_and_fp16_on_the_mlp(mlp, tmp_path: Path) -> None:
    model = mlp[0]
    scale = float(np.abs(model.predict(_feeds(1)[0])["logits"]).max())
    for method in ("fp16", "int8-dynamic", "int8-static"):
        report = compress(
            model, method, tmp_path / f"{method}.skmodel", sample_inputs=_feeds(), repeats=2
        )
        assert report.size_after < 0.6 * report.size_before, method
        assert report.score_after >= 0.9 and report.max_abs_diff < 0.1 * scale, method
        ModelPackage.open(report.path)


def test_fp16_weights_only_halves_the_file_and_computes_in_float32(mlp, tmp_path: Path) -> None:
    model, w1, w2 = mlp
    report = compress(
        model,
        "fp16",
        tmp_path / "w16.skmodel",
        sample_inputs=_feeds(),
        repeats=2,
        weights_only=True,
    )
    assert report.size_after < 0.55 * report.size_before
    graph = onnx.load(str(ModelPackage.open(report.path).graph_path()))
    halves = [t.name for t in graph.graph.initializer if t.data_type == TensorProto.FLOAT16]
    assert sorted(halves) == ["W1__fp16", "W2__fp16"]
    assert [n.op_type for n in graph.graph.node] == ["Cast", "Cast", "MatMul", "Relu", "MatMul"]
    x = _feeds(1)[0]["x"]
    h1, h2 = w1.astype(np.float16).astype(np.float32), w2.astype(np.float16).astype(np.float32)
    want = np.maximum(x @ h1, 0) @ h2  # float32 compute on float16-rounded weights
    got = Model.load(report.path).predict({"x": x})["logits"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "method, params, match",
    [
        ("zip", {}, "method"),
        ("palettize", {"nbits": 1}, "nbits"),
        ("prune", {"sparsity": 1.5}, "sparsity"),
        ("int8-static", {}, "calibrate"),
        ("fp16", {"colour": "red"}, "Bad parameters"),
    ],
)
def test_bad_requests_are_refused(
    mlp, tmp_path: Path, method: str, params: dict, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        compress(mlp[0], method, tmp_path / "bad.skmodel", **params)


def test_kmeans_1d_rows_equals_kmeans_1d_on_every_row() -> None:
    x = np.random.default_rng(2).standard_normal((40, 300)) * np.linspace(0.01, 5, 40)[:, None]
    luts, codes = kmeans_1d_rows(x, 8)
    for row in (0, 17, 39):
        lut, code = kmeans_1d(x[row], 8)
        np.testing.assert_allclose(luts[row], lut, rtol=1e-6)
        assert np.array_equal(codes[row], code)


def _initializer(path: Path, name: str) -> np.ndarray | None:
    found = [t for t in onnx.load(str(path / "model.onnx")).graph.initializer if t.name == name]
    return numpy_helper.to_array(found[0]) if found else None


@pytest.mark.parametrize("nbits", [2, 4])
def test_per_channel_palettes_rebuild_exactly(mlp, tmp_path: Path, nbits: int) -> None:
    model, w1, w2 = mlp
    report = compress(
        model,
        "palettize",
        tmp_path / "pc.skmodel",
        sample_inputs=_feeds(),
        nbits=nbits,
        min_elements=1,
        granularity="per_channel",
        repeats=2,
    )
    assert "2 per_channel" in report.notes[0]
    rebuilt = []
    for w in (w1, w2):  # MatMul weights: output channels are the columns
        luts, codes = kmeans_1d_rows(w.T, 1 << nbits)
        rebuilt.append(np.take_along_axis(luts.astype(np.float16).astype(np.float32), codes, 1).T)
    x = _feeds(1)[0]["x"]
    got = Model.load(report.path).predict({"x": x})["logits"]
    np.testing.assert_allclose(
        got, np.maximum(x @ rebuilt[0], 0) @ rebuilt[1], rtol=1e-4, atol=1e-4
    )


def test_uniform_palette_is_linear_per_channel_quantization(mlp, tmp_path: Path) -> None:
    model, w1, w2 = mlp
    report = compress(
        model,
        "palettize",
        tmp_path / "u.skmodel",
        sample_inputs=_feeds(),
        nbits=8,
        clustering="uniform",
        min_elements=1,
        repeats=2,
    )
    rebuilt = []
    for w in (w1, w2):
        scale = np.abs(w).max(0, keepdims=True)  # MatMul: one scale per output column
        codes = np.rint((w / scale + 1) / 2 * 255).astype(int)
        rebuilt.append(np.linspace(-1, 1, 256, dtype=np.float32)[codes] * scale)
        assert np.abs(rebuilt[-1] - w).max() <= scale.max() / 255 + 1e-6
    x = _feeds(1)[0]["x"]
    got = Model.load(report.path).predict({"x": x})["logits"]
    np.testing.assert_allclose(
        got, np.maximum(x @ rebuilt[0], 0) @ rebuilt[1], rtol=1e-3, atol=1e-3
    )
    with pytest.raises(InvalidInput, match="clustering"):
        compress(model, "palettize", tmp_path / "b.skmodel", clustering="median")


def test_exclude_keeps_named_layers_in_float(mlp, tmp_path: Path) -> None:
    model, w1, w2 = mlp
    pal = compress(
        model,
        "palettize",
        tmp_path / "x.skmodel",
        sample_inputs=_feeds(),
        nbits=3,
        min_elements=1,
        exclude=["last"],
        repeats=2,
    )
    assert np.array_equal(_initializer(pal.path, "W2"), w2)
    assert _initializer(pal.path, "W1") is None  # rebuilt from its palette
    dyn = compress(
        model,
        "int8-dynamic",
        tmp_path / "d.skmodel",
        sample_inputs=_feeds(),
        exclude=["mm1"],
        repeats=2,
    )
    assert np.array_equal(_initializer(dyn.path, "W1"), w1)
    with pytest.raises(InvalidInput, match="exclude"):
        compress(model, "prune", tmp_path / "e.skmodel", exclude="first")


def _qdq_package(destination: Path) -> tuple[Path, np.ndarray]:
    """x -> Q/DQ -> MatMul(DQ(Q(W float, per-column scales))): a fake-quantized graph."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((32, 16)).astype(np.float32)
    scale = (np.abs(w).max(0) / 127).astype(np.float32)
    inits = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(scale, "ws"),
        numpy_helper.from_array(np.zeros(16, np.int8), "wz"),
        numpy_helper.from_array(np.array(0.05, np.float32), "xs"),
        numpy_helper.from_array(np.array(128, np.uint8), "xz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["W", "ws", "wz"], ["Wq"], axis=1),
        helper.make_node("DequantizeLinear", ["Wq", "ws", "wz"], ["Wd"], axis=1),
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        helper.make_node("MatMul", ["xd", "Wd"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 16])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with write_package(
        destination, {"name": "qdq", "task": "test", "graphs": {"main": "model.onnx"}}
    ) as writer:
        onnx.save(model, str(writer.dir / "model.onnx"))
    return destination, w


def test_int8_on_a_qdq_graph_stores_its_weights_as_int8_losslessly(tmp_path: Path) -> None:
    path, _w = _qdq_package(tmp_path / "qdq.skmodel")
    x = {"x": np.random.default_rng(4).standard_normal((8, 32)).astype(np.float32)}
    report = compress(path, "int8-static", tmp_path / "s.skmodel", sample_inputs=[x], repeats=2)
    assert report.max_abs_diff == 0.0 and "lossless" in report.notes[0]
    assert _initializer(report.path, "Wq").dtype == np.int8
    assert _initializer(report.path, "W") is None and report.size_after < report.size_before


# -- real model on real photos --------------------------------------------------------------
PHOTOS = ["chelsea.png", "coffee.png", "dog.jpg", "giraffe.jpg", "horses.jpg", "rocket.jpg"]


def test_efficientnet_fp16_and_int8_static_on_photos(media, tmp_path: Path) -> None:
    from sensekit.vision.classify import ImageClassifier
    from sensekit.vision.image_input import load_image, preprocess

    base = Model.load("efficientnet-lite0")
    feeds = [
        {"image": preprocess(load_image(media(p)), base.manifest.preprocess)[0]} for p in PHOTOS
    ]
    fp16 = compress(base, "fp16", tmp_path / "fp16.skmodel", sample_inputs=feeds, repeats=3)
    assert fp16.size_ratio < 0.55 and fp16.score_after == 1.0
    int8 = compress(base, "int8-static", tmp_path / "int8.skmodel", sample_inputs=feeds, repeats=3)
    assert int8.size_ratio < 0.3 and int8.score_after >= 4 / 6
    original = ImageClassifier.from_model(base.package.root).classify(media("dog.jpg"))[0]
    for report in (fp16, int8):
        best = ImageClassifier.from_model(report.path).classify(media("chelsea.png"))[0]
        assert "cat" in best.label.lower(), best
    assert (
        ImageClassifier.from_model(fp16.path).classify(media("dog.jpg"))[0].label == original.label
    )


# -- mixed precision and specialization -----------------------------------------------------
def test_mixed_stores_the_least_sensitive_layer_at_8_bits_and_the_rest_as_fp16(
    mlp, tmp_path: Path
) -> None:
    from sensekit.tools.compress import graph as compress_graph

    model, w1, w2 = mlp
    source = onnx.load(str(model.package.graph_path()))
    weights = compress_graph.weight_initializers(source, 1024)
    errors = compress_graph.layer_sensitivity(source, weights, _feeds())
    assert set(errors) == {"W1", "W2"} and all(0 < e < 1e-3 for e in errors.values())
    report = compress(
        model,
        "mixed",
        tmp_path / "mixed.skmodel",
        sample_inputs=_feeds(),
        repeats=2,
        target_ratio=2.2,
        min_elements=1024,
    )
    graph = onnx.load(str(ModelPackage.open(report.path).graph_path()))
    stored = {t.name: t.data_type for t in graph.graph.initializer}
    low = min(errors, key=errors.__getitem__)
    high = "W2" if low == "W1" else "W1"
    assert f"{low}/palette/lut" in stored and low not in stored  # 8-bit codes + table
    assert stored.get(f"{high}__fp16") == TensorProto.FLOAT16
    assert report.size_after < report.size_before / 2
    x = _feeds(1)[0]["x"]
    want = np.maximum(x @ w1, 0) @ w2
    got = Model.load(report.path).predict({"x": x})["logits"]
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max()
    assert report.score_after == 1.0
    with pytest.raises(InvalidInput, match="target_ratio"):
        compress(model, "mixed", tmp_path / "bad.skmodel", target_ratio=5)


def _branchy_package(destination: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """y = x @ (W16 if sr == 16000 else W8), the weights held in Constant nodes of the
    If branches (the shape Silero VAD's export has)."""
    rng = np.random.default_rng(3)
    w16 = rng.standard_normal((64, 64)).astype(np.float32)
    w8 = rng.standard_normal((64, 64)).astype(np.float32)

    def branch(name: str, w: np.ndarray) -> onnx.GraphProto:
        return helper.make_graph(
            [
                helper.make_node(
                    "Constant", [], [f"{name}_w"], value=numpy_helper.from_array(w, f"{name}_w")
                ),
                helper.make_node("MatMul", ["x", f"{name}_w"], [f"{name}_y"]),
            ],
            name,
            [],
            [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, None)],
        )

    graph = helper.make_graph(
        [
            helper.make_node(
                "Constant",
                [],
                ["rate16k"],
                value=numpy_helper.from_array(np.array(16000, np.int64), "rate16k"),
            ),
            helper.make_node("Equal", ["sr", "rate16k"], ["is16k"], name="eq"),
            helper.make_node(
                "If",
                ["is16k"],
                ["y"],
                name="if",
                then_branch=branch("hi", w16),
                else_branch=branch("lo", w8),
            ),
        ],
        "branchy",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    manifest = {"name": "branchy", "task": "test", "graphs": {"main": "model.onnx"}}
    with write_package(destination, manifest) as writer:
        onnx.save(model, str(writer.dir / "model.onnx"))
    return destination, w16, w8


def _branchy_feeds(seed: int, count: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {"x": rng.standard_normal((1, 64)).astype(np.float32), "sr": np.array(16000, np.int64)}
        for _ in range(count)
    ]


def test_fixed_inputs_drop_the_branch_not_taken_and_fp16_reaches_constant_weights(
    tmp_path: Path,
) -> None:
    path, w16, w8 = _branchy_package(tmp_path / "branchy.skmodel")
    feeds = _branchy_feeds(seed=4, count=3)
    base = Model.load(path)
    report = compress(
        base,
        "fp16",
        tmp_path / "fixed.skmodel",
        sample_inputs=feeds,
        repeats=2,
        weights_only=True,
        fixed_inputs={"sr": 16000},
    )
    assert any("specialized for sr=16000" in n for n in report.notes)
    graph = onnx.load(str(ModelPackage.open(report.path).graph_path())).graph
    assert [i.name for i in graph.input] == ["x"]
    assert "If" not in {n.op_type for n in graph.node}
    assert report.size_after < report.size_before / 3.5  # one branch of two, at 16 bits
    x = feeds[0]["x"]
    got = Model.load(report.path).predict({"x": x})["y"]
    np.testing.assert_allclose(
        got, x @ w16.astype(np.float16).astype(np.float32), rtol=1e-4, atol=1e-4
    )
    # the 8 kHz branch is still what the original computes for sr=8000
    low = base.predict({"x": x, "sr": np.array(8000, np.int64)})["y"]
    np.testing.assert_allclose(low, x @ w8, rtol=1e-4, atol=1e-4)
    with pytest.raises(InvalidInput, match="no graph"):
        compress(base, "fp16", tmp_path / "bad.skmodel", fixed_inputs={"rate": 16000})


def test_silero_vad_fixed_at_16k_in_fp16_keeps_its_speech_probabilities(
    media, tmp_path: Path
) -> None:
    from sensekit.core.audio import load_audio
    from sensekit.sound.vad import SpeechActivity

    report = compress(
        "silero-vad",
        "fp16",
        tmp_path / "vad16.skmodel",
        repeats=2,
        weights_only=True,
        fixed_inputs={"sr": 16000},
        sample_inputs=_vad_feeds(),
    )
    assert report.size_ratio < 0.5
    audio = load_audio(media("jfk.wav"))
    want = SpeechActivity.from_model("silero-vad").probabilities(audio)
    got = SpeechActivity.from_model(report.path).probabilities(audio)
    assert np.abs(got - want).max() < 0.02
    assert np.array_equal(got > 0.5, want > 0.5)


def _vad_feeds() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    return [
        {
            "input": 0.1 * rng.standard_normal((1, 576)).astype(np.float32),
            "state": np.zeros((2, 1, 128), np.float32),
            "sr": np.array(16000, np.int64),
        }
        for _ in range(3)
    ]


def test_int8_sensitivity_finds_the_layer_that_cannot_take_8_bits(tmp_path: Path) -> None:
    """Two MatMuls; the second has one huge outlier weight per tensor, so per-tensor int8
    flattens the rest of it: that layer must rank as the sensitive one."""
    from sensekit.tools.compress import graph as compress_graph

    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((64, 64)).astype(np.float32)
    w2 = rng.standard_normal((64, 64)).astype(np.float32)
    w2[0, 0] = 400.0
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W1"], ["h"], name="mm1"),
            helper.make_node("MatMul", ["h", "W2"], ["y"], name="mm2"),
        ],
        "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    source = tmp_path / "two.onnx"
    onnx.save(model, str(source))
    feeds = [{"x": rng.standard_normal((16, 64)).astype(np.float32)}]
    errors = compress_graph.int8_sensitivity(source, feeds, weight_type="int8", per_channel=False)
    assert set(errors) == {"mm1", "mm2"}
    assert errors["mm2"] > 10 * errors["mm1"]


def test_graph_inputs_must_name_inner_graphs(mlp, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="graph_inputs"):
        compress(mlp[0], "mixed", tmp_path / "bad.skmodel", graph_inputs={"main": _feeds()})
    with pytest.raises(InvalidInput, match="target_ratio names graphs"):
        compress(mlp[0], "mixed", tmp_path / "bad.skmodel", target_ratio={"landmarks": 3.0})


def test_blazepose_mixed_ranks_the_landmark_graph_on_real_crops(media, tmp_path: Path) -> None:
    """The detector stays float16 (ratio 2), the landmark graph is ranked on crops the
    real pipeline feeds it and goes 2.5x; the pose on a real photo barely moves."""
    from sensekit.vision.image_input import load_image, prepare
    from sensekit.vision.pose import PoseDetector

    base = Model.load("blazepose")
    recorder = PoseDetector(base)
    crops, forward = [], recorder._forward

    def record(tensor: np.ndarray, graph: str) -> dict[str, np.ndarray]:
        if graph == "landmarks":
            crops.append({recorder._lmk_spec.input: tensor})
        return forward(tensor, graph)

    recorder._forward = record  # type: ignore[method-assign]
    photo = load_image(media("astronaut.png"))
    want = recorder.detect(photo)
    assert crops and want
    spec = base.manifest.preprocess["detector"]
    feeds = [{spec.get("input", "input_1"): prepare(photo, spec).tensor}]
    report = compress(
        base,
        "mixed",
        tmp_path / "pose.skmodel",
        sample_inputs=feeds,
        graph_inputs={"landmarks": crops},
        repeats=2,
        target_ratio={"detector": 2.0, "landmarks": 2.5},
    )
    assert report.size_ratio < 1 / 2.1
    assert not any("random inputs" in n for n in report.notes)
    got = PoseDetector.from_model(report.path, people="own").detect(photo)
    side = max(want[0].box.width, want[0].box.height)
    moved = [np.hypot(a.x - b.x, a.y - b.y) for a, b in zip(got[0].keypoints, want[0].keypoints)]
    assert len(got) == len(want) and max(moved) < 0.05 * side


def test_fp16_and_int8_static_on_a_graph_already_dynamically_quantized(mlp, tmp_path: Path) -> None:
    """The shape of the shipped Whisper graphs: MatMulInteger layers beside float ones.
    fp16 keeps the integer quantization in float32 and the rest goes to float16; static
    int8 quantizes only the float layers left."""
    model = mlp[0]
    feeds = _feeds()
    dynamic = compress(
        model,
        "int8-dynamic",
        tmp_path / "dyn.skmodel",
        sample_inputs=feeds,
        repeats=2,
        exclude=["mm2"],
    )  # mm2 stays a float MatMul
    ops = {
        n.op_type for n in onnx.load(str(ModelPackage.open(dynamic.path).graph_path())).graph.node
    }
    assert {"MatMulInteger", "MatMul"} <= ops
    base = Model.load(dynamic.path)
    want = base.predict(feeds[0])["logits"]
    half = compress(base, "fp16", tmp_path / "half.skmodel", sample_inputs=feeds, repeats=2)
    assert any("DynamicQuantizeLinear" in n and "MatMulInteger" in n for n in half.notes)
    graph = onnx.load(str(ModelPackage.open(half.path).graph_path())).graph
    w2 = next(t for t in graph.initializer if t.name.startswith("W2"))
    assert w2.data_type == TensorProto.FLOAT16
    got = Model.load(half.path).predict(feeds[0])["logits"]
    assert np.abs(got - want).max() < 0.01 * np.abs(want).max()
    static = compress(
        base, "int8-static", tmp_path / "static.skmodel", sample_inputs=feeds, repeats=2
    )
    assert any("float MatMul/Conv/Gemm layers only" in n for n in static.notes)
    ops = [
        n.op_type for n in onnx.load(str(ModelPackage.open(static.path).graph_path())).graph.node
    ]
    assert "MatMulInteger" in ops and "QuantizeLinear" in ops
    got = Model.load(static.path).predict(feeds[0])["logits"]
    assert np.abs(got - want).max() < 0.1 * np.abs(want).max()


def test_int8_static_calibrates_a_specialized_graph_without_the_fixed_input(tmp_path: Path) -> None:
    path, w16, _ = _branchy_package(tmp_path / "branchy.skmodel")
    feeds = _branchy_feeds(seed=5, count=4)
    # uint8 weights: int8 ones saturate ONNX Runtime's u8s8 kernel on AVX2 without VNNI
    report = compress(
        Model.load(path),
        "int8-static",
        tmp_path / "st.skmodel",
        sample_inputs=feeds,
        repeats=2,
        fixed_inputs={"sr": 16000},
        weight_type="uint8",
    )
    assert any("specialized for sr=16000" in n for n in report.notes)
    for f in feeds:
        got = Model.load(report.path).predict({"x": f["x"]})["y"]
        want = f["x"] @ w16
        assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_int8_static_keeps_an_infinite_max_pool_padding_in_float(tmp_path: Path) -> None:
    """TF exports pad with -inf before a MaxPool (NanoDet does); that tensor's calibrated
    range is infinite, and quantizing it made every output NaN."""
    rng = np.random.default_rng(6)
    w1 = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((2, 4, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "W1"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
            helper.make_node("Pad", ["c", "pads", "ninf"], ["p"], name="pad"),
            helper.make_node("MaxPool", ["p"], ["m"], name="pool", kernel_shape=[3, 3]),
            helper.make_node("Conv", ["m", "W2"], ["y"], name="conv2"),
        ],
        "padded",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])],
        [
            numpy_helper.from_array(w1, "W1"),
            numpy_helper.from_array(w2, "W2"),
            numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
            numpy_helper.from_array(np.array(-np.inf, np.float32), "ninf"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with write_package(
        tmp_path / "padded.skmodel",
        {"name": "padded", "task": "test", "graphs": {"main": "model.onnx"}},
    ) as w:
        onnx.save(model, str(w.dir / "model.onnx"))
    base = Model.load(tmp_path / "padded.skmodel")
    feeds = [{"x": rng.standard_normal((1, 1, 8, 8)).astype(np.float32)} for _ in range(4)]
    report = compress(
        base,
        "int8-static",
        tmp_path / "st.skmodel",
        sample_inputs=feeds,
        repeats=2,
        weight_type="uint8",
    )
    assert any("infinite padding" in n for n in report.notes)
    for f in feeds:
        want, got = base.predict(f)["y"], Model.load(report.path).predict(f)["y"]
        assert np.all(np.isfinite(got))
        assert np.abs(got - want).max() < 0.1 * np.abs(want).max()
