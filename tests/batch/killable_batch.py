"""``sensekit batch`` that says when each row is written, for the SIGKILL test.

``python killable_batch.py BATCH-ARGS...`` runs ``sensekit.cli.main(["batch", ...])`` with
the results file's ``append`` wrapped to print ``row`` (flushed) after each row is on
disk, so the test can kill the driver after a number of rows, not after a timer.
"""

from __future__ import annotations

import sys

from sensekit.batch.journal import Journal
from sensekit.cli import main

_append = Journal.append


def _append_and_say(self: Journal, row: dict) -> None:
    _append(self, row)
    print("row", flush=True)


if __name__ == "__main__":
    Journal.append = _append_and_say  # type: ignore[method-assign]
    sys.exit(main(["batch", *sys.argv[1:]]))
