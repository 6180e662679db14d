"""Transcript output formats: plain text, JSON, SubRip (SRT) and WebVTT."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sensekit.core.errors import InvalidInput
from sensekit.core.types import Transcript

FORMATS = ("txt", "json", "srt", "vtt")


def _clock(seconds: float, decimal: str) -> str:
    """HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (VTT)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue in both formats, and "-->" would read as a timing line.
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines).replace("-->", "->")


def to_text(transcript: Transcript) -> str:
    """The transcript as plain text, one segment per line."""
    return "\n".join(s.text.strip() for s in transcript.segments if s.text.strip()) + "\n"


def to_json(transcript: Transcript) -> str:
    return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=1) + "\n"


def to_srt(transcript: Transcript) -> str:
    """SubRip subtitles: numbered cues with ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` times."""
    cues = [s for s in transcript.segments if s.text.strip()]
    return "".join(
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_cue_text(s.text)}\n\n"
        for i, s in enumerate(cues, 1)
    )


def to_vtt(transcript: Transcript) -> str:
    """WebVTT subtitles (``WEBVTT`` header, ``HH:MM:SS.mmm`` times)."""
    cues = "".join(
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{_cue_text(s.text)}\n\n"
        for s in transcript.segments
        if s.text.strip()
    )
    return "WEBVTT\n\n" + cues


_WRITERS = {"txt": to_text, "json": to_json, "srt": to_srt, "vtt": to_vtt}


def format_transcript(transcript: Transcript, fmt: str) -> str:
    """The transcript in ``fmt`` ("txt", "json", "srt" or "vtt")."""
    if fmt not in _WRITERS:
        raise InvalidInput(f"Unknown transcript format {fmt!r}; choose one of {FORMATS}")
    return _WRITERS[fmt](transcript)


def write_transcript(
    transcript: Transcript, path: str | os.PathLike[str], fmt: str | None = None
) -> Path:
    """Writes the transcript; the format defaults to the file's extension."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    path.write_text(format_transcript(transcript, fmt), encoding="utf-8")
    return path
