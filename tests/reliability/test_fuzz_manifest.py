"""Bounded fuzzing of the manifest parser (hypothesis): any input -> a manifest or a clean error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from sensekit.core.errors import ModelIntegrityError, SensekitError
from sensekit.core.package import Manifest, ModelPackage

sys.path.insert(0, str(Path(__file__).parent.parent / "core"))
from helpers import tiny_package

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "schema",
        "name",
        "task",
        "graphs",
        "files",
        "labels",
        "preprocess",
        "source",
        "conversion",
        "postprocess",
    ]
)
_manifests = st.dictionaries(
    _keys, _json | st.just(1) | st.just({"main": "model.onnx"}), max_size=10
)

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
    with pytest.raises(ModelIntegrityError) as error:  # never a crash, never "not found"
        ModelPackage.open(root)
    assert str(error.value)


# -- valid JSON that reaches the schema checks ---------------------------------------------
# One change to the manifest of a real, correctly hashed package, with the outcome it must
# have: the JSON always parses, so every rejection comes from the schema or the hashes.
_REQUIRED = {"schema": int, "name": str, "task": str, "graphs": dict, "files": dict}
_OBJECTS = ["conversion", "postprocess", "preprocess", "source"]
_values = st.recursive(  # what json.loads can return (no NaN: it is not JSON)
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_changes = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(sorted(_REQUIRED)), st.none()),
    st.tuples(st.just("retype"), st.sampled_from(sorted(_REQUIRED)), _values),
    st.tuples(st.just("object"), st.sampled_from(_OBJECTS), _values),
    st.tuples(
        st.just("extra"), st.text(max_size=12).filter(lambda k: k not in Manifest._KNOWN), _values
    ),
    st.tuples(
        st.just("rehash"),
        st.sampled_from(["model.onnx", "labels.txt"]),
        st.text("0123456789abcdef", min_size=64, max_size=64),
    ),
)


@pytest.fixture(scope="module")
def hashed_package(tmp_path_factory):
    root, _, _ = tiny_package(tmp_path_factory.mktemp("valid") / "tiny.skmodel")
    return root, json.loads((root / "manifest.json").read_text())


def _apply(manifest, kind, key, value):
    """The changed manifest, and whether it must still open."""
    changed = json.loads(json.dumps(manifest))
    if kind == "drop":
        del changed[key]
        return changed, False
    if kind == "rehash":
        assume(value != changed["files"][key])
        changed["files"][key] = value
        return changed, False
    if kind == "retype":  # a value of another JSON type than the schema asks for
        kind_of = _REQUIRED[key]
        assume(not isinstance(value, kind_of) or isinstance(value, bool))
    changed[key] = value
    return changed, kind == "extra" or (kind == "object" and isinstance(value, dict))


@_FUZZ
@given(change=_changes)
@example(change=("retype", "schema", True))  # JSON true == 1 in Python: once accepted
@example(change=("retype", "schema", 1.0))
def test_valid_json_manifest_changes_give_the_right_outcome(hashed_package, change):
    root, original = hashed_package
    changed, must_open = _apply(original, *change)
    text = json.dumps(changed, allow_nan=False)
    assert json.loads(text) == changed  # well-formed JSON: the parse step always passes
    (root / "manifest.json").write_text(text)
    try:
        if must_open:
            opened = ModelPackage.open(root, verify=True).manifest.to_dict()
            assert opened[change[1]] == change[2]
        else:
            with pytest.raises(ModelIntegrityError) as error:
                ModelPackage.open(root, verify=True)
            assert "not valid JSON" not in str(error.value)
    finally:
        (root / "manifest.json").write_text(json.dumps(original))


@_FUZZ
@given(st.dictionaries(st.text(max_size=30), st.text(min_size=64, max_size=64), max_size=5))
def test_arbitrary_file_names_never_escape(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("fuzz") / "y.skmodel"
    root.mkdir()
    manifest = {
        "schema": 1,
        "name": "y",
        "task": "t",
        "graphs": {"main": "model.onnx"},
        "files": dict(files, **{"model.onnx": "0" * 64}),
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    try:
        package = ModelPackage.open(root, verify=False)
    except SensekitError:
        return
    for relative in package.manifest.files:  # everything accepted resolves inside the package
        resolved = (root / relative).resolve()
        assert resolved == root.resolve() or root.resolve() in resolved.parents
