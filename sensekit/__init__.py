"""sensekit: on-device machine learning for Python, in the spirit of Apple's Core ML.

Domains are imported on demand: ``from sensekit import vision, language, speech, sound``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
# Modules whose import registers model recipes; the registry imports them on first use.
RECIPE_MODULES = ("sensekit.zoo",)
__all__ = ["__version__", "accelerate", "core", "language", "sound", "speech", "vision", "zoo"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"sensekit.{name}")
    raise AttributeError(f"module 'sensekit' has no attribute {name!r}")
