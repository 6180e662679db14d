"""Speech test clips built from espeak-ng sentences (tts fixture) and numpy.

Kept here until the lead's samples module grows long-form speech clips.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call the office before noon tomorrow.",
    "The weather is cold and windy this morning.",
    "I would like a cup of coffee with milk.",
    "My favorite color is green.",
    "The train to London leaves at seven o'clock.",
    "We planted three apple trees in the garden.",
    "Turn left at the next traffic light.",
    "The children are playing football in the park.",
    "Reading books is a good way to learn new words.",
    "Thank you very much for your help yesterday.",
]


def joined_clip(
    tts: Callable[[str, str], Path], target: Path, count: int = 12, seed: int = 7
) -> tuple[Path, list[str], list[float]]:
    """Sentences separated by 2-5 s of silence; returns path, texts and start times (s)."""
    rng = np.random.default_rng(seed)
    pieces, starts, t = [], [], 0.0
    for i, text in enumerate(SENTENCES[:count]):
        audio, rate = sf.read(tts(text, f"sentence_{i:02d}"), dtype="float32")
        gap = np.zeros(int(rng.uniform(2.0, 5.0) * rate), np.float32)
        pieces += [gap, audio]
        starts.append(t + len(gap) / rate)
        t += (len(gap) + len(audio)) / rate
    pieces.append(np.zeros(rate, np.float32))
    sf.write(target, np.concatenate(pieces), rate)
    return target, SENTENCES[:count], starts
