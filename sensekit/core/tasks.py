"""Small helpers shared by the task classes of every domain."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sensekit.core.errors import InvalidInput

T = TypeVar("T")
_DEFAULTS: dict[Hashable, Any] = {}
_DEFAULTS_LOCK = threading.Lock()


def cached_default(key: Hashable, factory: Callable[[], T]) -> T:
    """One shared instance per key (the module-level verbs use this), built once."""
    instance = _DEFAULTS.get(key)
    if instance is None:
        with _DEFAULTS_LOCK:
            instance = _DEFAULTS.get(key)
            if instance is None:
                instance = factory()
                _DEFAULTS[key] = instance
    return instance


def clear_defaults() -> None:
    with _DEFAULTS_LOCK:
        _DEFAULTS.clear()


def with_overrides(options: T, overrides: dict[str, Any]) -> T:
    """A copy of a frozen options dataclass with some fields replaced (validated again)."""
    if not overrides:
        return options
    names = {f.name for f in dataclasses.fields(options)}  # type: ignore[arg-type]
    unknown = set(overrides) - names
    if unknown:
        raise InvalidInput(f"Unknown option(s) {sorted(unknown)}; valid: {sorted(names)}")
    try:
        return dataclasses.replace(options, **overrides)  # type: ignore[type-var]
    except ValueError as e:
        raise InvalidInput(str(e)) from e


def filter_labels(allow: Any, deny: Any) -> tuple[frozenset[str] | None, frozenset[str]]:
    """Normalizes allow/deny lists of labels (case-insensitive) and checks their types."""
    def as_set(value: Any, name: str) -> frozenset[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"{name} must be a list of label strings")
        return frozenset(v.lower() for v in value)

    allowed = as_set(allow, "allow")
    denied = as_set(deny, "deny") or frozenset()
    if allowed is not None and allowed & denied:
        raise ValueError(f"labels both allowed and denied: {sorted(allowed & denied)}")
    return allowed, denied
