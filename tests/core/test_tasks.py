"""The task table: every entry resolves, is a CLI verb, and runs a real model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sensekit.cli import build_parser
from sensekit.core.errors import InvalidInput
from sensekit.core.tasks import TASKS, task, to_jsonable


@pytest.mark.parametrize("name", list(TASKS))
def test_every_entry_resolves(name):
    spec = TASKS[name]
    cls = spec.task_class()
    assert callable(cls.from_model) and callable(getattr(cls, spec.method))
    assert set(spec.inputs) <= {"image", "audio", "text", "question", "document"}
    for field in spec.option_fields():
        assert not field.startswith("_")


def test_every_task_is_a_cli_verb():
    verbs = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(TASKS) <= set(verbs), set(TASKS) - set(verbs)


def test_unknown_task_and_options_are_clear_errors():
    with pytest.raises(InvalidInput, match="Unknown task 'clasify'; tasks: classify"):
        task("clasify")
    with pytest.raises(InvalidInput, match=r"Unknown option\(s\) \['topk'\]"):
        task("classify").create(topk=3)
    with pytest.raises(InvalidInput, match="top_k must be a positive int"):
        task("classify").create(top_k=0)
    with pytest.raises(InvalidInput, match=r"threshold must be in \(0, 1\)"):
        task("speech-activity").create(threshold=1.5)
    with pytest.raises(InvalidInput, match=r"takes 2 input\(s\)"):
        spec = task("answer")
        spec.run(object(), "only a question")


def test_a_table_task_gives_the_same_answer_as_the_domain_api(media):
    from sensekit import vision

    spec = task("classify")
    result = to_jsonable(spec.run(spec.create(top_k=3), media("chelsea.png")))
    assert result == [c.to_dict() for c in vision.classify(media("chelsea.png"), top_k=3)]
    assert result[0]["label"] in ("tiger cat", "tabby, tabby cat", "Egyptian cat")


def test_to_jsonable_handles_arrays_and_nesting():
    assert to_jsonable({"v": np.array([1.5, 2.0]), "n": None, "l": [(1, "a")]}) == {
        "v": [1.5, 2.0],
        "n": None,
        "l": [[1, "a"]],
    }
    with pytest.raises(TypeError):
        to_jsonable(object())


def test_generated_verb_runs_from_the_command_line(media):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensekit.cli",
            "classify-sound",
            str(media("jfk.wav")),
            "--top-k",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["label"] == "Speech"
    bad = subprocess.run(
        [sys.executable, "-m", "sensekit.cli", "speech-activity", "missing.wav"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "sensekit: error: Audio file not found" in bad.stderr
    assert "Traceback" not in bad.stderr


# -- the Task base ----------------------------------------------------------------------
MIGRATED = list(TASKS)


@pytest.mark.parametrize("name", MIGRATED)
def test_task_classes_share_the_base(name):
    from sensekit.core.tasks import Task

    cls = TASKS[name].task_class()
    assert issubclass(cls, Task)
    assert TASKS[name].default_model == cls.DEFAULT_MODEL
    assert TASKS[name].manifest_tasks == cls.MANIFEST_TASKS
    assert "__enter__" not in vars(cls) and "__exit__" not in vars(cls)
    # only the VAD (one thread), the detector (a "+" ensemble) and pose (a person
    # detector for the landmark model) load their own way; the rest use the base's
    assert ("from_model" in vars(cls)) == (name in ("speech-activity", "detect", "pose"))


@pytest.mark.parametrize(
    ("runner", "package"),
    [("classify", "nanodet-m"), ("detect", "efficientnet-lite0"), ("answer", "minilm-embed")],
)
def test_a_package_for_another_task_is_refused_by_its_manifest_task(runner, package):
    cls = TASKS[runner].task_class()
    with pytest.raises(InvalidInput, match=f"is a '.*' package; {cls.__name__} runs"):
        cls.from_model(package, compute_units="cpu")


def test_options_of_another_task_are_refused():
    from sensekit.vision.classify import ImageClassifier
    from sensekit.vision.detect import DetectorOptions

    with pytest.raises(
        InvalidInput, match="ImageClassifier takes ClassifierOptions, not DetectorOptions"
    ):
        ImageClassifier.from_model(options=DetectorOptions(), compute_units="cpu")


def test_from_model_defaults_and_the_context_manager(media):
    from sensekit.vision.classify import ImageClassifier

    with ImageClassifier.from_model(compute_units="cpu") as classifier:
        assert classifier.model.name == "efficientnet-lite0"
        (top,) = classifier.classify(media("chelsea.png"), top_k=1)
        assert top.label in {"tiger cat", "tabby", "Egyptian cat"}  # Chelsea, a tabby
        assert classifier.options.top_k == 5  # the override was for that call only


def test_label_filter():
    from sensekit.core.tasks import LabelFilter

    lower = np.array(["cat", "dog", "person"])
    assert LabelFilter(["Dog", "person"], None).mask(lower).tolist() == [False, True, True]
    assert LabelFilter(None, "DOG").mask(lower).tolist() == [True, False, True]
    assert LabelFilter().keeps("anything") and not LabelFilter(deny=["x"]).keeps("X")
    with pytest.raises(InvalidInput, match=r"both allowed and denied: \['dog'\]"):
        LabelFilter(["dog"], ["DOG"])
    with pytest.raises(InvalidInput, match="allow must be a list of label strings"):
        LabelFilter([3])
    with pytest.raises(InvalidInput, match="deny must be a list of label strings"):
        LabelFilter(deny=7)


def test_speech_activity_takes_vad_options(media):
    """The table entry carries VadOptions: batch, serve and the CLI read them from it."""
    from sensekit.sound.vad import VadOptions

    spec = task("speech-activity")
    assert set(spec.option_fields()) >= {"threshold", "min_speech", "min_silence"}
    default = spec.create()  # no options: the package's own thresholds
    assert default.options == VadOptions.from_manifest(default.model.manifest.postprocess)
    ranges = spec.run(default, str(media("jfk.wav")))
    strict = spec.run(default, str(media("jfk.wav")), min_speech=5.0)
    assert ranges and len(strict) < len(ranges)
    assert all(r.duration >= 5.0 for r in strict)
