"""Malicious and broken model packages, and crash safety of the model cache."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from sensekit.core.errors import ModelIntegrityError, ModelNotFound, SensekitError
from sensekit.core.model import Model
from sensekit.core.package import ModelPackage, sha256_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "core"))
from helpers import tiny_package  # noqa: E402


def _rehash(root):
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"] = {name: sha256_file(root / name) for name in manifest["files"]
                         if (root / name).is_file()}
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


CASES = ["pickle_payload", "truncated_weights", "tampered_weights", "missing_file",
         "labels_symlink_out", "manifest_symlink", "traversal_graph", "absolute_graph",
         "unhashed_graph", "schema_2", "schema_missing", "manifest_list", "manifest_binary",
         "manifest_empty", "bad_hash_format", "graphs_not_dict"]


@pytest.mark.parametrize("case", CASES)
def test_damaged_package_is_refused_with_a_clear_error(tmp_path, case):
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    _tamper(root, case)
    with pytest.raises(SensekitError) as error:
        model = Model.load(root)
        model.predict({"x": np.zeros((1, 4), np.float32)})
    assert isinstance(error.value, (ModelIntegrityError, ModelNotFound))
    assert str(error.value)


_BUILD_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {helpers!r})
    from helpers import tiny_graph
    from sensekit.core import registry
    from sensekit.core.package import write_package

    def build(ctx):
        with write_package(ctx.destination, {{"name": "slow-tiny", "task": "test",
                                              "graphs": {{"main": "model.onnx"}}}}) as writer:
            tiny_graph(writer.dir / "model.onnx")
            for i in range(40):  # a slow conversion: many partial writes
                (writer.dir / f"chunk{{i}}.bin").write_bytes(b"x" * 100000)
                time.sleep(0.01)
    registry.register(registry.Recipe("slow-tiny", "test", "test", "CC0-1.0", {{}}, build))
    registry.build("slow-tiny", progress=False)
    print("built")
""")


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.4, 0.6])
def test_build_killed_at_any_point_leaves_no_loadable_package(tmp_path, delay):
    env = dict(os.environ, SENSEKIT_HOME=str(tmp_path))
    script = _BUILD_SCRIPT.format(helpers=os.path.join(os.path.dirname(__file__), "..", "core"))
    process = subprocess.Popen([sys.executable, "-c", script], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    package = tmp_path / "models" / "slow-tiny.skmodel"
    if package.exists():  # the kill came after the atomic rename: it must be complete
        ModelPackage.open(package, verify=True)
    rebuilt = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    ModelPackage.open(package, verify=True)
    leftovers = [p.name for p in (tmp_path / "models").iterdir()
                 if p.name.startswith(".slow-tiny.skmodel")]
    assert leftovers == []  # the rebuild cleared the killed build's temp dir
