"""A registry build of a tiny model that prints its stages and stops at one until killed.

``python killable_build.py GRAPH STAGE`` builds (with ``force``) the recipe below into
``$SENSEKIT_HOME``, printing ``stage NAME`` and flushing at every stage of
:mod:`sensekit.core.build_stages`. After printing STAGE it blocks on stdin, so the
test's SIGKILL lands exactly there; a build that is not stopped ends with ``built``.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

from sensekit.core import registry
from sensekit.core.build_stages import stage_hook
from sensekit.core.package import sha256_file, write_package
from sensekit.core.sources import PackageSource

NAME = "killable-tiny"
_CHUNKS = 8  # converted outputs written into the temp dir besides the graph


def _installed_source() -> PackageSource:
    """A real registry source that needs no network: a file of the installed numpy."""
    member = "numpy/__init__.py"
    dist = importlib.metadata.distribution("numpy")
    return PackageSource(
        "pypi", "numpy", dist.version, member, sha256_file(Path(str(dist.locate_file(member))))
    )


def recipe(graph: Path) -> registry.Recipe:
    """The recipe: fetches its source, then packages ``graph`` with a few outputs."""

    def build(ctx: registry.BuildContext) -> None:
        source = ctx.fetch("source")
        manifest = ctx.manifest(graphs={"main": "model.onnx"}, built_by_pid=os.getpid())
        with write_package(ctx.destination, manifest) as writer:
            writer.add_file("model.onnx", graph)
            writer.add_file("source.py", source)
            for i in range(_CHUNKS):
                (writer.dir / f"chunk{i}.bin").write_bytes(os.urandom(100_000))

    return registry.Recipe(
        NAME,
        "test",
        "tiny model for the build kill test",
        "CC0-1.0",
        {"source": (_installed_source(), None)},
        build,
    )


def main(graph: Path, stop_at: str) -> None:
    # the test reads the stages on this process's stdout; a build sends file descriptor 1
    # to its log (quiet builds), so the stages go to a copy of the original made first
    out = os.fdopen(os.dup(1), "w", buffering=1)

    def report(stage: str) -> None:
        print("stage", stage, file=out, flush=True)
        if stage == stop_at:
            sys.stdin.read()  # blocks until killed (or until the test goes away)

    registry.register(recipe(graph))
    with stage_hook(report):
        registry.build(NAME, force=True, progress=False)
    print("built", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
