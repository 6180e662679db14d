"""Every ``sensekit`` verb run as a real subprocess on real media.

Each verb's text and JSON output is checked for its key content, and bad input must
end with exit code 2 and one ``sensekit: error:`` line, never a traceback. Models come
from the default cache (built once per machine); ``models build/list/info/verify`` run
against a fresh ``SENSEKIT_HOME`` in a temporary directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sensekit.core import registry
from sensekit.core.sources import PackageSource, fetch
from sensekit.zoo.silero_vad import MODEL as VAD_SOURCE

TIMEOUT_S = 600  # a cold cache builds the model first

# Real events, written for this test (not in the QA data set).
INAUGURATION = (
    "John F. Kennedy was sworn in as the 35th President of the United States on January "
    "20, 1961, at the east front of the Capitol in Washington. Chief Justice Earl Warren "
    "administered the oath of office. In his inaugural address Kennedy told the nation that "
    "the torch had been passed to a new generation of Americans, and he closed with the "
    'words: "And so, my fellow Americans: ask not what your country can do for you, ask '
    'what you can do for your country." The poet Robert Frost recited "The Gift '
    'Outright" at the ceremony.'
)
JFK_WORDS = "ask not what your country can do for you"
# MediaPipe's short-range face detector (128x128 RGB in [-1, 1]), 230 kB.
FACE_TFLITE = PackageSource(
    "pypi",
    "mediapipe",
    "0.10.21",
    "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
)


def sensekit(
    *args: object, home: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``sensekit ARGS`` in a new Python process (``home`` becomes SENSEKIT_HOME)."""
    env = dict(os.environ)
    if home is not None:
        env["SENSEKIT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "sensekit.cli", *map(str, args)],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The standard output of a run that must have exited 0."""
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.stdout


def failed_cleanly(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    """Exit code 2, a ``sensekit: error:`` line naming the problem, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("sensekit: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr[-2000:]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("answer") / "inauguration.txt"
    path.write_text(INAUGURATION, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vad_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh SENSEKIT_HOME where ``sensekit models build silero-vad`` ran (its output)."""
    home = tmp_path_factory.mktemp("home")
    return home, succeeded(sensekit("models", "build", "silero-vad", home=home))


# -- language --------------------------------------------------------------------------------
def test_answer_text_json_and_stdin(document: Path) -> None:
    text = succeeded(sensekit("answer", "Who administered the oath of office?", "--file", document))
    score, start, end, span = re.fullmatch(r"(\S+)  \[(\d+):(\d+)\]  (.+)\n", text).groups()
    assert "Earl Warren" in span and INAUGURATION[int(start) : int(end)] == span
    assert 0.0 < float(score) <= 1.0

    answers = json.loads(
        succeeded(
            sensekit(
                "answer", "When was Kennedy sworn in?", "--file", document, "--json", "--top-k", "3"
            )
        )
    )
    assert len(answers) == 3 and set(answers[0]) == {"text", "score", "start", "end"}
    assert answers[0]["text"] == "January 20, 1961"
    assert all(INAUGURATION[a["start"] : a["end"]] == a["text"] for a in answers)
    scores = [a["score"] for a in answers]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0 and scores[0] <= 1

    piped = json.loads(
        succeeded(
            sensekit("answer", "Which poem did Robert Frost recite?", "--json", stdin=INAUGURATION)
        )
    )
    assert "The Gift Outright" in piped["text"]
    assert INAUGURATION[piped["start"] : piped["end"]] == piped["text"]


def test_embed_json_equals_the_api_and_ranks_meaning() -> None:
    from sensekit.language import embed

    texts = ["a dog runs in the park", "a puppy plays outside", "stock markets fell today"]
    vectors = json.loads(succeeded(sensekit("embed", *texts)))
    assert list(vectors) == texts
    matrix = np.array([vectors[t] for t in texts])
    assert matrix.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(matrix, embed(texts), atol=1e-6)  # printed to 6 decimals
    related, unrelated = matrix[0] @ matrix[1], matrix[0] @ matrix[2]
    assert related > unrelated + 0.2, (related, unrelated)  # measured 0.45 vs 0.01


# -- speech ----------------------------------------------------------------------------------
def test_transcribe_text_and_json(media) -> None:
    import soundfile as sf

    jfk = media("jfk.wav")
    text = succeeded(sensekit("transcribe", jfk))
    assert JFK_WORDS in text.lower().replace(",", "")

    result = json.loads(
        succeeded(sensekit("transcribe", jfk, "--format", "json", "--beam-size", "1"))
    )
    assert JFK_WORDS in result["text"].lower().replace(",", "")
    assert result["language"] == "en"
    assert result["duration"] == pytest.approx(sf.info(str(jfk)).duration, abs=0.05)
    segments = result["segments"]
    assert segments and "".join(s["text"] for s in segments).strip() == result["text"]
    times = [t for s in segments for t in (s["start"], s["end"])]
    assert times == sorted(times) and times[0] >= 0 and times[-1] <= result["duration"]


def test_transcribe_several_files_into_subtitles(media, tmp_path: Path) -> None:
    files = [media("Front_Center.wav"), media("jfk.wav")]
    out = succeeded(
        sensekit(
            "transcribe",
            *files,
            "--format",
            "srt",
            "--beam-size",
            "1",
            "--output-dir",
            tmp_path / "subs",
        )
    )
    written = [Path(line) for line in out.splitlines()]
    assert written == [tmp_path / "subs" / "Front_Center.srt", tmp_path / "subs" / "jfk.srt"]
    center, jfk = (p.read_text(encoding="utf-8") for p in written)
    assert "front center" in center.lower()
    blocks = jfk.strip().split("\n\n")
    for number, block in enumerate(blocks, 1):
        index, times, *_ = block.splitlines()
        assert index == str(number)
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", times)
    assert JFK_WORDS in jfk.lower().replace(",", "").replace("\n", " ")


# -- vision and sound: the output modes tests/vision and tests/sound do not run --------------
def test_detect_and_pose_text(media) -> None:
    lines = succeeded(sensekit("detect", media("dog.jpg"))).splitlines()
    assert lines[0] == f"{media('dog.jpg')}:"
    labels = {line.split()[0] for line in lines[1:]}
    assert {"dog", "bicycle"} <= labels and all("box=(" in line for line in lines[1:])

    people = succeeded(sensekit("pose", media("person.jpg"))).splitlines()[1:]
    assert len(people) >= 1 and all(p.strip().startswith("person ") for p in people)
    assert "nose=(" in people[0] and "left_hip=(" in people[0]


# -- models ----------------------------------------------------------------------------------
def test_models_build_into_a_fresh_home(vad_home: tuple[Path, str]) -> None:
    home, out = vad_home
    package = home / "models" / "silero-vad.skmodel"
    assert out.strip() == f"silero-vad: {package}"
    assert sha256(package / "model.onnx") == VAD_SOURCE.sha256  # the registry file, unchanged
    again = succeeded(sensekit("models", "build", "silero-vad", home=home))
    assert again == out  # cached: the same package


def test_models_list_and_info(vad_home: tuple[Path, str]) -> None:
    home, _ = vad_home
    rows = [line.split() for line in succeeded(sensekit("models", "list", home=home)).splitlines()]
    states = {row[0]: " ".join(row[2:4]) for row in rows}
    assert set(states) == set(registry.recipes())
    assert states.pop("silero-vad").startswith("built ")
    assert all(state == "not built" for state in states.values())

    info = json.loads(succeeded(sensekit("models", "info", "silero-vad", home=home)))
    assert info["name"] == "silero-vad" and info["task"] == "speech-activity"
    package = home / "models" / "silero-vad.skmodel"
    assert info["files"] == {"model.onnx": sha256(package / "model.onnx")}
    assert info["source"]["model"]["package"] == "silero-vad"


def test_models_verify_finds_a_flipped_byte(vad_home: tuple[Path, str], tmp_path: Path) -> None:
    home, _ = vad_home
    assert succeeded(sensekit("models", "verify", home=home)) == "silero-vad: ok\n"
    copy = tmp_path / "models" / "silero-vad.skmodel"
    shutil.copytree(home / "models" / "silero-vad.skmodel", copy)
    assert succeeded(sensekit("models", "verify", copy)) == f"{copy}: ok\n"
    graph = copy / "model.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0x01
    graph.write_bytes(bytes(data))
    for target, home_dir in ((copy, None), ("silero-vad", tmp_path)):
        result = sensekit("models", "verify", target, home=home_dir)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stdout.startswith(f"{target}: FAILED: ")
        assert "'model.onnx' has sha256" in result.stdout


def test_models_convert_a_tflite_file(media, tmp_path: Path) -> None:
    from sensekit.accelerate import image
    from sensekit.core.model import Model

    source = fetch(FACE_TFLITE, registry.home() / "downloads")
    out = json.loads(
        succeeded(
            sensekit(
                "models",
                "convert",
                source,
                "--output",
                tmp_path / "face.skmodel",
                "--name",
                "face",
                "--task",
                "face-detection",
                "--license",
                "Apache-2.0",
            )
        )
    )
    assert out["path"] == str(tmp_path / "face.skmodel") and out["task"] == "face-detection"
    assert out["conversion"]["from"] == "tflite"
    assert 0 <= out["conversion"]["max_abs_diff"] <= out["conversion"]["tolerance"] == 1e-3
    model = Model.load(out["path"])
    assert model.manifest.license == "Apache-2.0"
    scores = {}
    for name in ("astronaut.png", "coffee.png"):  # a face, and a cup of coffee
        rgb = image.decode(media(name).read_bytes())
        x = image.resize(rgb, 128, 128).astype(np.float32)[None] / 127.5 - 1
        logits = model.predict({"input": x})["classificators"]
        scores[name] = float(1 / (1 + np.exp(-logits.max())))
    assert scores["astronaut.png"] > 0.5 > scores["coffee.png"], scores


@pytest.fixture(scope="module")
def photo_inputs(media, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EfficientNet-Lite0 inputs of four real photos, as ``compress --samples`` takes."""
    from sensekit.core.model import Model
    from sensekit.vision.image_input import load_image, preprocess

    spec = Model.load("efficientnet-lite0").manifest.preprocess
    batch = np.concatenate(
        [
            preprocess(load_image(media(p)), spec)[0]
            for p in ("chelsea.png", "coffee.png", "giraffe.jpg", "rocket.jpg")
        ]
    )
    path = tmp_path_factory.mktemp("samples") / "photos.npz"
    np.savez(path, image=batch)
    return path


def test_models_compress_fp16_and_classify_with_it(
    media, photo_inputs: Path, tmp_path: Path
) -> None:
    from sensekit.vision import ImageClassifier

    target = tmp_path / "fp16.skmodel"
    report = json.loads(
        succeeded(
            sensekit(
                "models",
                "compress",
                "efficientnet-lite0",
                "fp16",
                "--output",
                target,
                "--samples",
                photo_inputs,
            )
        )
    )
    assert report["kept"] == "compressed" and report["path"] == str(target)
    assert report["method"] == "fp16" and report["metric"] == "top1_agreement"
    assert 0.45 < report["size_ratio"] < 0.55  # float16 weights: half the bytes
    assert report["score_before"] == report["score_after"] == 1.0
    photos = [media("dog.jpg"), media("horses.jpg")]  # not among the samples
    found = json.loads(
        succeeded(sensekit("classify", *photos, "--json", "--model", target, "--top-k", "3"))
    )
    original = ImageClassifier.from_model("efficientnet-lite0")
    for photo in photos:
        want = original.classify(photo, top_k=3)
        got = found[str(photo)]
        assert [c["label"] for c in got] == [c.label for c in want]
        np.testing.assert_allclose([c["score"] for c in got], [c.score for c in want], atol=5e-3)


def test_models_update_trains_a_head_that_hears_new_clips(media, tmp_path: Path) -> None:
    from sensekit.sound.identify import SoundClassifier

    yamnet = SoundClassifier.from_model("yamnet")
    clips = {
        "voice": ["Front_Center.wav", "Front_Left.wav", "Rear_Right.wav"],
        "chime": ["bell.oga", "complete.oga", "dialog-warning.oga", "camera-shutter.oga"],
    }
    features, labels = [], []
    for label, names in clips.items():
        for name in names:
            vectors = yamnet.embeddings(media(name), None)
            features.append(vectors)
            labels += [label] * len(vectors)
    examples = tmp_path / "examples.npz"
    np.savez(examples, features=np.concatenate(features), labels=np.array(labels))
    target = tmp_path / "voice-or-chime.skmodel"
    result = json.loads(
        succeeded(
            sensekit(
                "models",
                "update",
                "yamnet",
                "--examples",
                examples,
                "--name",
                "voice-or-chime",
                "--output",
                target,
                "--feature-output",
                "embedding",
                "--holdout",
                "0",
            )
        )
    )
    assert result["path"] == str(target) and result["labels"] == ["chime", "voice"]
    assert result["train_accuracy"] == 1.0 and result["holdout_accuracy"] is None
    assert result["method"] == "logistic" and not result["cancelled"]
    unseen = {"Side_Left.wav": "voice", "phone-incoming-call.oga": "chime"}
    heard = json.loads(
        succeeded(sensekit("identify", *(media(n) for n in unseen), "--model", target, "--json"))
    )
    for name, label in unseen.items():
        assert {e["label"] for e in heard[str(media(name))]} == {label}, heard


# -- bad input: exit code 2 and one error line, for every verb -------------------------------
BAD_INPUTS = {
    "answer-missing-file": (["answer", "Who?", "--file", "{tmp}/missing.txt"], "Cannot read"),
    "answer-empty-question": (["answer", "", "--file", "{tmp}/notes.txt"], "question is empty"),
    "embed-empty-text": (["embed", " "], "text is empty"),
    "transcribe-not-audio": (["transcribe", "{tmp}/notes.txt"], "Cannot decode"),
    "transcribe-language": (["transcribe", "{media}/jfk.wav", "--language", "fr"], "English-only"),
    "transcribe-beam-size": (["transcribe", "{media}/jfk.wav", "--beam-size", "0"], "beam_size"),
    "classify-top-k": (["classify", "{media}/dog.jpg", "--top-k", "0"], "top_k"),
    "detect-threshold": (["detect", "{media}/dog.jpg", "--threshold", "2"], "threshold"),
    "pose-max-people": (["pose", "{media}/person.jpg", "--max-people", "0"], "max_people"),
    "identify-not-audio": (["identify", "{tmp}/notes.txt"], "notes.txt"),
    "models-info-unknown": (["models", "info", "no-such-model"], "Available models"),
    "models-build-nothing": (["models", "build"], "name a model"),
    "models-convert-unknown-kind": (
        ["models", "convert", "{tmp}/notes.txt"],
        "Cannot tell what kind",
    ),
    "models-compress-no-samples": (
        ["models", "compress", "silero-vad", "fp16", "--samples", "{tmp}/missing.npz"],
        "Cannot read",
    ),
    "models-update-bad-examples": (
        ["models", "update", "yamnet", "--examples", "{tmp}/x.npz", "--name", "x"],
        "must hold arrays",
    ),
    "classify-draw-unwritable": (
        ["classify", "{media}/dog.jpg", "--draw", "{tmp}/no/x.png"],
        "cannot write an image",
    ),
    "classify-sound-not-audio": (["classify-sound", "{tmp}/notes.txt"], "notes.txt"),
    "speech-activity-missing": (["speech-activity", "{tmp}/missing.wav"], "not found"),
    "dice-missing-model": (
        ["dice", "{tmp}/notes.mp4", "--model", "{tmp}/shapes.skmodel"],
        "shapes.skmodel",
    ),
    "train-detector-empty": (
        ["train", "detector", "{tmp}", "--out", "{tmp}/x.skmodel"],
        "expected a YOLO folder",
    ),
    "train-detector-bad-out": (
        ["train", "detector", "{tmp}", "--out", "{tmp}/x.onnx"],
        "must end in .skmodel",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_exit_2(case: str, media, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a picture, not a sound", encoding="utf-8")
    np.savez(tmp_path / "x.npz", weights=np.zeros(3))
    argv, fragment = BAD_INPUTS[case]
    folders = {"tmp": str(tmp_path), "media": str(media("jfk.wav").parent)}
    failed_cleanly(sensekit(*(a.format(**folders) for a in argv)), fragment)


# -- verbs added with the task table, dice and detector training -----------------------------
def test_doctor_names_the_cpu_and_the_kernels() -> None:
    report = json.loads(succeeded(sensekit("doctor", "--json")))
    from sensekit.accelerate import cpu

    assert report["cpu"] == cpu.describe().removeprefix("CPU: ")
    assert report["sensekit"] and "CPUExecutionProvider" in report["onnxruntime"]
    assert report["log-mel kernel"].startswith(("C (", "numpy"))
    assert report["int8 weights"].startswith(cpu.int8_weights() + " (")
    assert "cpu:" in succeeded(sensekit("doctor"))


def test_train_detector_then_dice_and_detect_use_the_package(tmp_path: Path) -> None:
    """A tiny YOLO folder of rendered dice: the CLI trains, writes a package, and the dice
    and detect verbs read it (plumbing: two steps do not make a useful detector)."""
    import cv2

    from sensekit.vision.synthetic.dice import write_dataset

    data = write_dataset(tmp_path / "dice", 8, seed=3)
    out = tmp_path / "tiny.skmodel"
    text = succeeded(
        sensekit(
            "train",
            "detector",
            data,
            "--out",
            out,
            "--epochs",
            "1",
            "--size",
            "64",
            "--batch-size",
            "4",
            "--validation",
            "0.25",
            "--all-orientations",
            "--class-agnostic",
        )
    )
    assert str(out) in text and "validation mAP@0.5" in text
    photo = next((data / "images").iterdir())
    reading = json.loads(
        succeeded(
            sensekit("dice", photo, "--model", out, "--json", "--draw", tmp_path / "drawn.png")
        )
    )
    assert set(reading) == {"values", "total", "dice"} and reading["total"] == sum(
        reading["values"]
    )
    assert cv2.imread(str(tmp_path / "drawn.png")) is not None
    detections = json.loads(
        succeeded(sensekit("detect", photo, "--model", out, "--json", "--threshold", "0"))
    )
    assert {d["label"] for d in detections} <= {"1", "2", "3", "4", "5", "6"}
