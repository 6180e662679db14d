"""Model package format: hashes, unsafe paths, atomic writes."""

from __future__ import annotations

import json
import os

import pytest
from helpers import tiny_graph, tiny_package

from sensekit.core.errors import ModelIntegrityError, ModelNotFound
from sensekit.core.package import ModelPackage, write_package


def _rewrite_manifest(root, change):
    path = root / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_written_package_verifies_and_lists_hashes(tmp_path):
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    package = ModelPackage.open(root)
    assert set(package.manifest.files) == {"model.onnx", "labels.txt"}
    assert package.labels() == ["a", "b", "c"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_flipped_byte_is_detected(tmp_path):
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    weights = root / "model.onnx"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        ModelPackage.open(root)


@pytest.mark.parametrize("bad", ["../outside.onnx", "/etc/passwd", "sub/../../x"])
def test_traversal_path_in_manifest_is_rejected(tmp_path, bad):
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    _rewrite_manifest(
        root,
        lambda d: (d["files"].__setitem__(bad, "0" * 64), d["graphs"].__setitem__("main", bad)),
    )
    with pytest.raises(ModelIntegrityError, match="escapes"):
        ModelPackage.open(root)


def test_symlink_out_of_package_is_rejected(tmp_path):
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (root / "labels.txt").unlink()
    os.symlink(outside, root / "labels.txt")
    with pytest.raises(ModelIntegrityError, match="outside"):
        ModelPackage.open(root)


def test_wrong_schema_version_is_rejected(tmp_path):
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    _rewrite_manifest(root, lambda d: d.__setitem__("schema", 99))
    with pytest.raises(ModelIntegrityError, match="schema"):
        ModelPackage.open(root)


def test_manifest_that_is_not_json_is_rejected(tmp_path):
    root, _, _ = tiny_package(tmp_path / "tiny.skmodel")
    (root / "manifest.json").write_bytes(b"\x80\x04\x95pickle")
    with pytest.raises(ModelIntegrityError, match="JSON"):
        ModelPackage.open(root)


def test_missing_package_is_model_not_found(tmp_path):
    with pytest.raises(ModelNotFound):
        ModelPackage.open(tmp_path / "nothing.skmodel")


def test_failed_build_leaves_nothing_behind(tmp_path):
    destination = tmp_path / "broken.skmodel"
    manifest = {"name": "broken", "task": "test", "graphs": {"main": "model.onnx"}}
    with (
        pytest.raises(RuntimeError, match="interrupted"),
        write_package(destination, manifest) as writer,
    ):
        tiny_graph(writer.dir / "model.onnx")
        raise RuntimeError("interrupted")
    assert not destination.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_check_keeps_the_old_package(tmp_path):
    destination, _, _ = tiny_package(tmp_path / "tiny.skmodel", seed=0)
    before = (destination / "model.onnx").read_bytes()

    def refuse(_):
        raise ValueError("verification failed")

    with (
        pytest.raises(ValueError),
        write_package(
            destination,
            {"name": "tiny", "task": "test", "graphs": {"main": "model.onnx"}},
            check=refuse,
        ) as w,
    ):
        tiny_graph(w.dir / "model.onnx", seed=1)
    assert (destination / "model.onnx").read_bytes() == before
    ModelPackage.open(destination)


def test_rebuild_replaces_package(tmp_path):
    destination, _, _ = tiny_package(tmp_path / "tiny.skmodel", seed=0)
    tiny_package(destination, seed=1)
    ModelPackage.open(destination)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.skmodel"]
