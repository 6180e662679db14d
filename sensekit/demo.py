"""``sensekit demo``: every domain on real sample media, from the default models.

Models are built on first use from their registry packages (a few minutes once),
then loaded from the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sensekit.samples import media_path


def _classify() -> str:
    from sensekit import vision

    lines = []
    for name in ("chelsea.png", "coffee.png"):
        top = vision.classify(media_path(name), top_k=3)
        lines.append(f"  {name}: " + ", ".join(f"{c.label} {c.score:.2f}" for c in top))
    return "\n".join(lines)


def _detect() -> str:
    from sensekit import vision

    found = vision.detect(media_path("dog.jpg"))
    return "  dog.jpg: " + ", ".join(f"{d.label} {d.score:.2f} {list(d.pixels)}" for d in found)


def _pose() -> str:
    from sensekit import vision

    people = vision.pose(media_path("astronaut.png"))
    parts = ("nose", "left_shoulder", "right_shoulder")
    return "\n".join(
        f"  astronaut.png person {i}: "
        + ", ".join(f"{p} ({person[p].x:.2f}, {person[p].y:.2f})" for p in parts)
        for i, person in enumerate(people)
    )


def _answer() -> str:
    from sensekit import language

    document = (
        "The Halvard Bridge opened in 1931 after six years of work. It was designed by "
        "the engineer Mira Lund and carries two railway tracks across the Elstrom river."
    )
    answer = language.answer("Who designed the bridge?", document)
    return f"  Who designed the bridge? -> {answer.text if answer else '(no answer)'}"


def _transcribe() -> str:
    from sensekit import speech

    transcript = speech.transcribe(media_path("jfk.wav"))
    return "\n".join(
        f"  [{s.start:5.2f} -> {s.end:5.2f}] {s.text.strip()}" for s in transcript.segments
    )


def _identify() -> str:
    from sensekit import sound

    events = sound.identify(media_path("phone-incoming-call.oga"))
    return "  phone-incoming-call.oga: " + ", ".join(
        f"{e.label} {e.score:.2f} [{e.start:.1f}-{e.end:.1f}s]" for e in events[:5]
    )


STEPS: list[tuple[str, Callable[[], str]]] = [
    ("vision.classify", _classify),
    ("vision.detect", _detect),
    ("vision.pose", _pose),
    ("language.answer", _answer),
    ("speech.transcribe", _transcribe),
    ("sound.identify", _identify),
]


def run_demo() -> int:
    """Runs each step; returns 0 only if every step produced results."""
    failures = 0
    for title, step in STEPS:
        start = time.perf_counter()
        try:
            text = step()
        except Exception as e:  # the demo reports every failure and carries on
            failures += 1
            print(f"{title}: FAILED: {type(e).__name__}: {e}")
            continue
        print(f"{title} ({time.perf_counter() - start:.2f} s)\n{text}")
    return 0 if not failures else 1
