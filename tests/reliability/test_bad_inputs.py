"""Every public entry point survives the generated bad-input corpus.

Each entry point runs the whole corpus in a child process (so a crash cannot take the
test run down and is reported with the case that caused it). Every case must end in a
``sensekit`` exception with a message, or a result; valid controls must give a result;
no case may take longer than the bound.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from summary import record

RUNNER = Path(__file__).with_name("run_corpus.py")
BOUND_S = {"speech.transcribe": 60.0}
DEFAULT_BOUND_S = 20.0
ENTRY_POINTS = [
    "vision.classify",
    "vision.detect",
    "vision.pose",
    "sound.identify",
    "sound.classify",
    "speech.transcribe",
    "language.answer",
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_point_survives_bad_inputs(entry, tmp_path):
    out = tmp_path / "results.json"
    root = str(Path(__file__).resolve().parents[2])  # the child imports this checkout
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.run(
        [sys.executable, str(RUNNER), entry, str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
    )
    last_case = [line for line in process.stderr.splitlines() if line.startswith("case ")][-1:]
    crashed = process.returncode != 0
    results = json.loads(out.read_text())["results"] if out.is_file() else []
    bound = BOUND_S.get(entry, DEFAULT_BOUND_S)
    outcomes = collections.Counter(r["outcome"] for r in results)
    hangs = [r["case"] for r in results if r["seconds"] > bound]
    record(entry, len(results), dict(outcomes), int(crashed), len(hangs))
    assert not crashed, (
        f"{entry} crashed (exit {process.returncode}) at {last_case}: {process.stderr[-3000:]}"
    )
    unexpected = [r for r in results if r["outcome"].startswith("UNEXPECTED")]
    assert not unexpected, f"non-sensekit exceptions: {unexpected[:5]}"
    silent = [r["case"] for r in results if r["outcome"] != "ok" and not r["message"]]
    assert not silent, f"errors without a message: {silent}"
    failed_controls = [r for r in results if ":valid" in r["case"] and r["outcome"] != "ok"]
    assert not failed_controls, f"valid inputs were refused: {failed_controls}"
    assert not hangs, f"cases over {bound} s: {hangs}"
    assert len(results) >= 20
