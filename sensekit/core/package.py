"""The sensekit model package: a ``NAME.skmodel/`` directory with a manifest.

A package holds one or more ONNX graphs (``model.onnx`` by default, plus any
external-data files), optional data files (labels, vocabularies) and
``manifest.json``. The manifest records the task, preprocessing, labels, license,
source and the sha256 of every file, so that loading can verify the package and
refuse anything that was tampered with or that points outside its directory.

Packages are written atomically: files go into a temporary sibling directory,
are hashed and verified, and only then renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensekit.core.build_stages import reached
from sensekit.core.errors import InvalidInput, ModelIntegrityError, ModelNotFound

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SUFFIX = ".skmodel"
_MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a manifest with labels is a few hundred KiB at most
_HASH_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Returns the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_member(root: Path, relative: str) -> Path:
    """Resolves ``relative`` inside ``root``; refuses absolute paths, ``..`` and links out.

    Raises:
        ModelIntegrityError: if the path would leave the package directory.
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise ModelIntegrityError(f"Invalid file name in manifest: {relative!r}")
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts or relative.startswith(("/", "\\")):
        raise ModelIntegrityError(f"Manifest path {relative!r} escapes the package directory")
    resolved = (root / candidate).resolve()
    root_resolved = root.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise ModelIntegrityError(
            f"Manifest path {relative!r} resolves outside the package "
            f"(a symbolic link?): {resolved}"
        )
    return resolved


@dataclass
class Manifest:
    """The parsed ``manifest.json`` of a package; unknown keys are kept in ``extra``."""

    name: str
    task: str
    graphs: dict[str, str]
    files: dict[str, str]
    version: str = "1"
    license: str = "unknown"
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] = field(default_factory=dict)
    postprocess: dict[str, Any] = field(default_factory=dict)
    labels: str | None = None
    conversion: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    _KNOWN = (
        "schema",
        "name",
        "task",
        "graphs",
        "files",
        "version",
        "license",
        "description",
        "source",
        "preprocess",
        "postprocess",
        "labels",
        "conversion",
    )

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Validates a decoded manifest; raises ModelIntegrityError on any schema problem."""
        if not isinstance(data, dict):
            raise ModelIntegrityError("manifest.json must hold a JSON object")
        if type(data.get("schema")) is not int or data["schema"] != SCHEMA_VERSION:  # not true/1.0
            raise ModelIntegrityError(
                f"Unsupported manifest schema {data.get('schema')!r}; "
                f"this sensekit reads schema {SCHEMA_VERSION}"
            )
        for key, kind in (("name", str), ("task", str), ("graphs", dict), ("files", dict)):
            if not isinstance(data.get(key), kind):
                raise ModelIntegrityError(f"manifest.json: {key!r} must be a {kind.__name__}")
        for key in ("source", "preprocess", "postprocess", "conversion"):
            if not isinstance(data.get(key, {}), dict):
                raise ModelIntegrityError(f"manifest.json: {key!r} must be an object")
        if not data["graphs"]:
            raise ModelIntegrityError("manifest.json names no graph")
        for name, digest in data["files"].items():
            if not isinstance(digest, str) or len(digest) != 64:
                raise ModelIntegrityError(f"manifest.json: bad sha256 for {name!r}")
        for graph, file_name in data["graphs"].items():
            if file_name not in data["files"]:
                raise ModelIntegrityError(f"Graph {graph!r} file {file_name!r} is not hashed")
        labels = data.get("labels")
        if labels is not None and labels not in data["files"]:
            raise ModelIntegrityError(f"Labels file {labels!r} is not hashed")
        known = {k: data[k] for k in cls._KNOWN if k in data}
        extra = {k: v for k, v in data.items() if k not in cls._KNOWN}
        manifest = cls(**known, extra=extra)
        manifest.inputs  # noqa: B018 -- typed blocks checked now, not at the first call
        return manifest

    @property
    def inputs(self) -> dict[str, Any]:
        """The typed ``preprocess`` blocks (core.blocks): {"": block} for one graph, one per
        graph for two-stage packages, {} for kinds checked by their task."""
        cached = self.__dict__.get("_inputs")
        if cached is None or cached[0] is not self.preprocess:
            from sensekit.core.blocks import parse_preprocess

            cached = (self.preprocess, parse_preprocess(self.preprocess))
            self.__dict__["_inputs"] = cached
        return cached[1]

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self._KNOWN}
        out.update(self.extra)
        return out


class ModelPackage:
    """A verified package directory. Open with :meth:`open`; never trusts file names."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> ModelPackage:
        """Reads and (by default) verifies the package at ``path``.

        Raises:
            ModelNotFound: no package directory there.
            ModelIntegrityError: bad manifest, unsafe path or hash mismatch.
        """
        root = Path(path)
        if not (root / MANIFEST).is_file():
            raise ModelNotFound(str(path))
        manifest_path = root / MANIFEST
        if manifest_path.is_symlink():
            raise ModelIntegrityError("manifest.json must not be a symbolic link")
        if manifest_path.stat().st_size > _MAX_MANIFEST_BYTES:
            raise ModelIntegrityError("manifest.json is implausibly large")
        try:
            data = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelIntegrityError(f"manifest.json is not valid JSON: {e}") from e
        package = cls(root, Manifest.from_dict(data))
        for relative in package.manifest.files:
            safe_member(root, relative)
        if verify:
            package.verify()
        return package

    def verify(self) -> None:
        """Re-hashes every file of the manifest; raises ModelIntegrityError on a mismatch."""
        for relative, expected in self.manifest.files.items():
            path = safe_member(self.root, relative)
            if not path.is_file():
                raise ModelIntegrityError(f"{self.root.name}: file {relative!r} is missing")
            actual = sha256_file(path)
            if actual != expected:
                raise ModelIntegrityError(
                    f"{self.root.name}: {relative!r} has sha256 {actual[:12]}..., manifest says "
                    f"{expected[:12]}...; the package is corrupt or was modified. "
                    f"Rebuild it with `sensekit models build {self.manifest.name} --force`."
                )

    def path(self, relative: str) -> Path:
        """Absolute path of a file listed in the manifest."""
        if relative not in self.manifest.files:
            raise ModelIntegrityError(f"{relative!r} is not a file of this package")
        return safe_member(self.root, relative)

    def graph_path(self, graph: str | None = None) -> Path:
        graphs = self.manifest.graphs
        key = graph or ("main" if "main" in graphs else next(iter(graphs)))
        if key not in graphs:
            raise InvalidInput(
                f"Model {self.manifest.name!r} has no graph {key!r}; it has {sorted(graphs)}"
            )
        return self.path(graphs[key])

    def labels(self) -> list[str]:
        """The label list, one per line, or [] when the package has none."""
        if not self.manifest.labels:
            return []
        text = self.path(self.manifest.labels).read_text(encoding="utf-8")
        return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


class PackageWriter:
    """Collects files in a temporary directory; :func:`write_package` finalizes it."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir

    def add_file(self, relative: str, source: str | Path) -> Path:
        target = safe_member(self.dir, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target

    def add_text(self, relative: str, text: str) -> Path:
        target = safe_member(self.dir, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target


def _hash_tree(root: Path) -> dict[str, str]:
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            raise ModelIntegrityError(f"Refusing to package a symbolic link: {path.name}")
        if path.is_file() and path.name != MANIFEST:
            files[path.relative_to(root).as_posix()] = sha256_file(path)
    return files


@contextlib.contextmanager
def write_package(
    destination: str | Path, manifest: dict[str, Any], check: Callable[[Path], None] | None = None
) -> Iterator[PackageWriter]:
    """Builds a package atomically.

    The body writes files into ``writer.dir``; on normal exit every file is hashed
    into the manifest, the package is re-opened and verified, ``check`` (for example
    opening an inference session) runs on the temporary copy, and only then the
    directory is renamed to ``destination``. On any error nothing appears there.
    Reports the build stages "writing", "verified", "renaming", "replacing" and
    "renamed" (see :mod:`sensekit.core.build_stages`).

    Args:
        destination: final ``NAME.skmodel`` directory.
        manifest: manifest fields without ``files`` and ``schema`` (filled in here).
        check: optional extra verification of the finished temporary package.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    )
    try:
        writer = PackageWriter(workdir)
        reached("writing")
        yield writer
        final = dict(manifest, schema=SCHEMA_VERSION, files=_hash_tree(workdir))
        Manifest.from_dict(final)
        (workdir / MANIFEST).write_text(
            json.dumps(final, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        ModelPackage.open(workdir, verify=True)
        if check is not None:
            check(workdir)
        reached("verified")
        _replace_dir(workdir, destination)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _replace_dir(source: Path, destination: Path) -> None:
    """Moves ``source`` to ``destination``, replacing an old package in two renames."""
    reached("renaming")
    old = None
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(destination, old)
        reached("replacing")
    os.replace(source, destination)
    reached("renamed")
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
