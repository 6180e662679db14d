"""The one exception hierarchy of sensekit.

Every public entry point raises a subclass of :class:`SensekitError`, so callers
can catch one type. Third-party failures are wrapped with ``raise ... from e`` so
that the original cause survives in the traceback.
"""

from __future__ import annotations


class SensekitError(Exception):
    """Base class of every error sensekit raises on purpose."""


class InvalidInput(SensekitError, ValueError):
    """The caller's input (file, array, text, option) cannot be used; the message says why."""


class ModelNotFound(SensekitError, LookupError):
    """No model of that name is known, or no package exists at that path."""

    def __init__(self, name: str, available: list[str] | None = None) -> None:
        self.name = name
        self.available = sorted(available or [])
        hint = f" Available models: {', '.join(self.available)}." if self.available else ""
        super().__init__(f"No model named {name!r}.{hint}")


class ModelIntegrityError(SensekitError):
    """A model package failed verification (hash mismatch, unsafe path, bad manifest)."""


class ConversionError(SensekitError):
    """A model could not be converted, or the converted model disagrees with its source."""


class SourceUnavailable(SensekitError):
    """The weights of a recipe could not be fetched (no network, wrong checksum, ...)."""


class RuntimeFailure(SensekitError):
    """ONNX Runtime rejected the inputs or failed while running the graph."""
