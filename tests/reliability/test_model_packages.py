"""Malicious and broken model packages, and crash safety of the model cache."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from sensekit.core import registry
from sensekit.core.build_stages import BUILD_STAGES
from sensekit.core.errors import ModelIntegrityError, ModelNotFound, SensekitError
from sensekit.core.model import Model
from sensekit.core.package import ModelPackage, sha256_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "core"))
import killable_build
from helpers import tiny_graph, tiny_package


def _rehash(root):
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"] = {
        name: sha256_file(root / name) for name in manifest["files"] if (root / name).is_file()
    }
    (root / "manifest.json").write_text(json.dumps(manifest))


def _tamper(root, case):
    """Applies one kind of damage to a valid package."""
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if case == "pickle_payload":  # a pickle where the weights should be, hashes updated
        (root / "model.onnx").write_bytes(pickle.dumps({"__reduce__": "os.system"}))
        _rehash(root)
    elif case == "truncated_weights":
        data = (root / "model.onnx").read_bytes()
        (root / "model.onnx").write_bytes(data[: len(data) // 2])
        _rehash(root)
    elif case == "tampered_weights":
        data = bytearray((root / "model.onnx").read_bytes())
        data[-5] ^= 0xFF
        (root / "model.onnx").write_bytes(bytes(data))
    elif case == "missing_file":
        (root / "labels.txt").unlink()
    elif case == "labels_symlink_out":
        (root / "labels.txt").unlink()
        os.symlink("/etc/hostname", root / "labels.txt")
    elif case == "manifest_symlink":
        target = root.parent / "elsewhere.json"
        target.write_text(manifest_path.read_text())
        manifest_path.unlink()
        os.symlink(target, manifest_path)
    elif case in ("traversal_graph", "absolute_graph"):
        bad = "../../model.onnx" if case == "traversal_graph" else "/tmp/model.onnx"
        manifest["files"][bad] = manifest["files"]["model.onnx"]
        manifest["graphs"]["main"] = bad
        manifest_path.write_text(json.dumps(manifest))
    elif case == "unhashed_graph":
        manifest["graphs"]["main"] = "other.onnx"
        manifest_path.write_text(json.dumps(manifest))
    elif case == "schema_2":
        manifest["schema"] = 2
        manifest_path.write_text(json.dumps(manifest))
    elif case == "schema_missing":
        del manifest["schema"]
        manifest_path.write_text(json.dumps(manifest))
    elif case == "manifest_list":
        manifest_path.write_text("[1, 2, 3]")
    elif case == "manifest_binary":
        manifest_path.write_bytes(os.urandom(256))
    elif case == "manifest_empty":
        manifest_path.write_bytes(b"")
    elif case == "bad_hash_format":
        manifest["files"]["model.onnx"] = "abc"
        manifest_path.write_text(json.dumps(manifest))
    elif case == "graphs_not_dict":
        manifest["graphs"] = "model.onnx"
        manifest_path.write_text(json.dumps(manifest))
    else:
        raise KeyError(case)


CASES = [
    "pickle_payload",
    "truncated_weights",
    "tampered_weights",
    "missing_file",
    "labels_symlink_out",
    "manifest_symlink",
    "traversal_graph",
    "absolute_graph",
    "unhashed_graph",
    "schema_2",
    "schema_missing",
    "manifest_list",
    "manifest_binary",
    "manifest_empty",
    "bad_hash_format",
    "graphs_not_dict",
]


@pytest.mark.parametrize("case", CASES)
def test_damaged_package_is_refused_with_a_clear_error(tmp_path, case):
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    _tamper(root, case)
    with pytest.raises(SensekitError) as error:
        model = Model.load(root)
        model.predict({"x": np.zeros((1, 4), np.float32)})
    assert isinstance(error.value, (ModelIntegrityError, ModelNotFound))
    assert str(error.value)


KILLABLE_BUILD = Path(__file__).with_name("killable_build.py")
_WATCHDOG_S = 120  # only for a child that hangs before its stage; kills never wait on time
# (mode, stage) pairs: a first build, and a forced rebuild over a package already in place;
# "replacing" exists only when rebuilding.
KILL_POINTS = [
    (mode, stage)
    for mode in ("first", "rebuild")
    for stage in BUILD_STAGES
    if (mode, stage) != ("first", "replacing")
]


@pytest.fixture(scope="module")
def killable_graph(tmp_path_factory):
    graph = tmp_path_factory.mktemp("graph") / "tiny.onnx"
    tiny_graph(graph)
    return graph


def _kill_at(stage, graph):
    """Runs killable_build.py to ``stage``, SIGKILLs it there; returns (stages seen, pid)."""
    child = subprocess.Popen(
        [sys.executable, str(KILLABLE_BUILD), str(graph), stage],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(_WATCHDOG_S, child.kill)
    watchdog.start()
    seen = []
    try:
        for line in child.stdout:
            seen.append(line.split()[-1])
            if line.strip() == f"stage {stage}":
                child.send_signal(signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        child.kill()
        child.wait(timeout=60)
        stderr = child.stderr.read()
        for stream in (child.stdin, child.stdout, child.stderr):
            stream.close()
    assert child.returncode == -signal.SIGKILL, f"{seen}\n{stderr[-2000:]}"
    return seen, child.pid


def _open_or_none(package):
    """The verified package, or None when there is none; any other error fails the test."""
    try:
        return ModelPackage.open(package, verify=True)
    except ModelNotFound:
        return None


def _leftovers(models):
    return sorted(
        p.name for p in models.iterdir() if p.name.startswith(f".{killable_build.NAME}.skmodel")
    )


@pytest.mark.parametrize("mode,stage", KILL_POINTS)
def test_build_killed_at_each_stage_leaves_no_half_package(
    tmp_path, monkeypatch, killable_graph, mode, stage
):
    monkeypatch.setenv("SENSEKIT_HOME", str(tmp_path))
    recipe = killable_build.recipe(killable_graph)
    monkeypatch.setitem(registry._RECIPES, recipe.name, recipe)
    package = registry.package_path(recipe.name)
    if mode == "rebuild":
        registry.build(recipe.name, progress=False)
    seen, child_pid = _kill_at(stage, killable_graph)
    expected = [s for s in BUILD_STAGES if mode == "rebuild" or s != "replacing"]
    assert seen == expected[: expected.index(stage) + 1]  # each stage in order, killed at ours

    # The kill landed mid-build: the temp dir or the moved-aside older package is there.
    leftovers = _leftovers(package.parent)
    if stage in ("writing", "verified", "renaming", "replacing"):
        assert any(name.endswith(".tmp") for name in leftovers), leftovers
    if stage in ("replacing", "renamed") and mode == "rebuild":
        assert f".{package.name}.old-{child_pid}" in leftovers, leftovers
    # No half package: either none at all, or a complete verified one.
    found = _open_or_none(package)
    if stage == "renamed":
        assert found is not None and found.manifest.extra["built_by_pid"] == child_pid
    elif mode == "rebuild" and stage != "replacing":
        assert found is not None and found.manifest.extra["built_by_pid"] == os.getpid()
    else:
        assert found is None

    # The next build (not forced) succeeds and clears what the killed one left.
    registry.build(recipe.name, progress=False)
    rebuilt = ModelPackage.open(package, verify=True)
    builder = child_pid if stage == "renamed" else os.getpid()
    assert rebuilt.manifest.extra["built_by_pid"] == builder
    assert registry.is_current(recipe.name)
    assert _leftovers(package.parent) == []
