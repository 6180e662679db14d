"""Bounded fuzzing of the manifest parser (hypothesis): any input -> a manifest or a clean error."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensekit.core.errors import ModelIntegrityError, SensekitError
from sensekit.core.package import Manifest, ModelPackage

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=20)
_keys = st.sampled_from(["schema", "name", "task", "graphs", "files", "labels", "preprocess",
                         "source", "conversion", "postprocess"])
_manifests = st.dictionaries(_keys, _json | st.just(1) | st.just({"main": "model.onnx"}),
                             max_size=10)

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@_FUZZ
@given(_manifests)
def test_manifest_parser_accepts_or_rejects_cleanly(data):
    try:
        manifest = Manifest.from_dict(data)
    except ModelIntegrityError as e:
        assert str(e)
        return
    assert manifest.schema == 1 and isinstance(manifest.graphs, dict) and manifest.graphs


@_FUZZ
@given(st.binary(max_size=512))
def test_manifest_file_of_random_bytes(tmp_path_factory, payload):
    root = tmp_path_factory.mktemp("fuzz") / "x.skmodel"
    root.mkdir()
    (root / "manifest.json").write_bytes(payload)
    try:
        ModelPackage.open(root)
    except SensekitError as e:
        assert str(e)


@_FUZZ
@given(st.dictionaries(st.text(max_size=30), st.text(min_size=64, max_size=64), max_size=5))
def test_arbitrary_file_names_never_escape(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("fuzz") / "y.skmodel"
    root.mkdir()
    manifest = {"schema": 1, "name": "y", "task": "t", "graphs": {"main": "model.onnx"},
                "files": dict(files, **{"model.onnx": "0" * 64})}
    (root / "manifest.json").write_text(json.dumps(manifest))
    try:
        package = ModelPackage.open(root, verify=False)
    except SensekitError:
        return
    for relative in package.manifest.files:  # everything accepted resolves inside the package
        resolved = (root / relative).resolve()
        assert resolved == root.resolve() or root.resolve() in resolved.parents
