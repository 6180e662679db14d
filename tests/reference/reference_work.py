"""A scratch folder shared by the reference helpers of one test process."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


@functools.cache
def work_dir() -> Path:
    """A scratch folder for this test process (checkpoints, packages, converted clips)."""
    path = Path(tempfile.mkdtemp(prefix="sensekit-reference-"))
    atexit.register(shutil.rmtree, path, True)
    return path
