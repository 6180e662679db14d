"""Prints the reliability summary (cases per entry point, errors by type, crashes, hangs)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import summary


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not summary.ROWS and not summary.EXTRA:
        return
    write = terminalreporter.write_line
    terminalreporter.section("sensekit reliability summary")
    total = 0
    for entry, cases, outcomes, crashes, hangs in summary.ROWS:
        total += cases
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        write(f"{entry:<20} cases {cases:4d}  crashes {crashes}  hangs {hangs}  [{kinds}]")
    if summary.ROWS:
        write(
            f"{'all entry points':<20} cases {total:4d}  crashes "
            f"{sum(r[3] for r in summary.ROWS)}  hangs {sum(r[4] for r in summary.ROWS)}"
        )
    for line in summary.EXTRA:
        write(line)
