"""Word error rate, case- and punctuation-insensitive (for tests and benchmarks)."""

from __future__ import annotations

import re

import numpy as np


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation ("Don't!" -> ["don't"])."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return float(len(hyp) > 0)
    row = np.arange(len(hyp) + 1)
    for i, word in enumerate(ref, 1):
        previous, row = row, np.empty_like(row)
        row[0] = i
        for j, other in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != other))
    return float(row[-1]) / len(ref)
