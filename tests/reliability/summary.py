"""Collects the reliability figures that the suite prints at the end."""

from __future__ import annotations

ROWS: list[tuple[str, int, dict[str, int], int, int]] = []
EXTRA: list[str] = []


def record(entry: str, cases: int, outcomes: dict[str, int], crashes: int, hangs: int) -> None:
    ROWS.append((entry, cases, outcomes, crashes, hangs))


def note(line: str) -> None:
    EXTRA.append(line)
