"""Speech: speech-to-text with Whisper (files of any length, streams), subtitles.

>>> from sensekit import speech
>>> speech.transcribe("jfk.wav").text
'And so my fellow Americans, ask not what your country can do for you, ...'
"""

from sensekit.core.types import Segment, Transcript, Word
from sensekit.speech.formats import to_srt, to_text, to_vtt, write_transcript
from sensekit.speech.whisper.transcribe import (
    DEFAULT_MODEL,
    TranscribeOptions,
    Transcriber,
    TranscriptUpdate,
    transcribe,
)

__all__ = [
    "DEFAULT_MODEL",
    "Segment",
    "TranscribeOptions",
    "Transcriber",
    "Transcript",
    "TranscriptUpdate",
    "Word",
    "to_srt",
    "to_text",
    "to_vtt",
    "transcribe",
    "write_transcript",
]
