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
    with pytest.raises(InvalidInput, match="takes no options"):
        task("speech-activity").create(threshold=0.5)
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
