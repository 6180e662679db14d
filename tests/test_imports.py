"""Arrows point down: core and accelerate import no domain, no two modules import each
other. Read from the source (every import statement, function-level ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

import sensekit

ROOT = Path(sensekit.__file__).parent
ABOVE_CORE = (
    "vision",
    "language",
    "speech",
    "sound",
    "zoo",
    "batch",
    "serve",
    "cli",
    "demo",
    "samples",
    "tools",
)
# Pairs known to import each other, to be removed from here when fixed. No other pair may
# appear.
PENDING_CYCLES: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the sensekit modules it imports (a name imported from a package that is
    itself a module counts as that module)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
                targets |= subs or {node.module}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


GRAPH = _imports(_modules())


def test_the_walk_sees_the_package():
    assert {"sensekit.core.registry", "sensekit.vision.detect", "sensekit.accelerate.dsp"} <= set(
        GRAPH
    )
    assert "sensekit.core.errors" in GRAPH["sensekit.core.registry"]


def test_core_and_accelerate_import_no_domain():
    # the root package itself is allowed: it holds the version and RECIPE_MODULES
    bad = [
        f"{a} -> {b}"
        for a, targets in GRAPH.items()
        for b in targets
        if a.startswith(("sensekit.core", "sensekit.accelerate"))
        and b.split(".")[1:2]
        and b.split(".")[1] in ABOVE_CORE
    ]
    assert bad == []


def test_tools_import_only_core_and_accelerate():
    # convert / compress / update work on any package: they know no task or domain
    bad = [
        f"{a} -> {b}"
        for a, targets in GRAPH.items()
        for b in targets
        if a.startswith("sensekit.tools")
        and b.startswith("sensekit.")
        and not b.startswith(("sensekit.tools", "sensekit.core", "sensekit.accelerate"))
    ]
    assert bad == []
    assert "sensekit.tools.convert" in GRAPH and not any(
        m.startswith("sensekit.core.convert") for m in GRAPH
    )


def test_accelerate_imports_only_itself():
    bad = [
        f"{a} -> {b}"
        for a, targets in GRAPH.items()
        for b in targets
        if a.startswith("sensekit.accelerate") and not b.startswith("sensekit.accelerate")
    ]
    assert bad == []


def test_no_two_modules_import_each_other():
    pairs = {
        tuple(sorted((a, b)))
        for a, targets in GRAPH.items()
        for b in targets
        if a in GRAPH.get(b, set()) and a != "sensekit" and b != "sensekit"
    }
    package_pairs = {p for p in pairs if p[1].startswith(p[0] + ".")}  # pkg/__init__ re-export
    assert pairs - package_pairs - PENDING_CYCLES == set()
    assert pairs >= PENDING_CYCLES, "a pending cycle is gone: remove it from PENDING_CYCLES"
