"""Named stages of a model build, reported to hooks.

:func:`sensekit.core.registry.build` and :func:`sensekit.core.package.write_package`
call :func:`reached` at each point below, in this order. Nothing listens by default;
the crash test (``tests/reliability/test_model_packages.py``) adds a hook that prints
each stage, and kills the build at each one to prove that no half package ever loads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

BUILD_STAGES = (
    "locked",  # registry.build holds the model's lock and is about to build it
    "fetched",  # every source of the recipe is a verified local file
    "converting",  # the recipe's build function runs (it converts, then writes a package)
    "writing",  # write_package made its temp dir; the recipe writes files into it
    "verified",  # the temp package has its manifest, every hash checked, `check` passed
    "renaming",  # just before the rename that puts the package in place
    "replacing",  # only when rebuilding: the older package was moved aside, new not in yet
    "renamed",  # the new package is in place (an older one is being deleted)
)

_HOOKS: list[Callable[[str], None]] = []
_HOOKS_LOCK = threading.Lock()


def reached(stage: str) -> None:
    """Tells every hook that the build reached ``stage`` (one of BUILD_STAGES)."""
    if stage not in BUILD_STAGES:
        raise ValueError(f"Unknown build stage {stage!r}; stages are {BUILD_STAGES}")
    with _HOOKS_LOCK:
        hooks = list(_HOOKS)
    for hook in hooks:
        hook(stage)


@contextlib.contextmanager
def stage_hook(hook: Callable[[str], None]) -> Iterator[None]:
    """Calls ``hook(stage)`` at every build stage reached inside the ``with`` block.

    Example:
        >>> with stage_hook(lambda stage: print("stage", stage, flush=True)):
        ...     registry.build("silero-vad", force=True, progress=False)
    """
    with _HOOKS_LOCK:
        _HOOKS.append(hook)
    try:
        yield
    finally:
        with _HOOKS_LOCK:
            _HOOKS.remove(hook)
