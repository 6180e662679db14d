"""Mutation helpers: a copy of a built package with one classic bug planted in its manifest.

The reference tests in this folder compare sensekit's end-to-end outputs with the original
framework's on real media. A mutation test plants a bug (channels flipped, normalisation
dropped, resize mode changed, ...) in a *copy* of a package and asserts that the same
comparison then fails: a reference test that cannot see the bug is itself a defect.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sensekit.core import registry

Manifest = dict[str, Any]


def mutated_package(name: str | Path, edit: Callable[[Manifest], None], where: Path) -> Path:
    """A copy of the built package ``name`` under ``where``, its manifest changed by ``edit``.

    ``name`` is a zoo name, or the ``Path`` of a package made by a test (e.g. a float32
    conversion of a default model's weights). ``edit`` receives the manifest as a dict and
    changes it in place. Only the manifest is rewritten (it holds the hashes, it is not
    hashed itself), so the copy still verifies.
    """
    source = name if isinstance(name, Path) else registry.ensure(name, progress=False)
    target = where / f"{source.name.removesuffix('.skmodel')}-mutant.skmodel"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    changed = copy.deepcopy(manifest)
    edit(changed)
    if changed == manifest:
        raise AssertionError(f"the mutation left {name}'s manifest unchanged: it tests nothing")
    (target / "manifest.json").write_text(json.dumps(changed, indent=1), encoding="utf-8")
    return target
