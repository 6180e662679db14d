"""Whisper's tokenizer: BPE text <-> ids plus the special tokens read from the manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import InvalidInput, ModelIntegrityError

TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of Whisper's control tokens (they differ between English-only and multilingual)."""

    eot: int
    sot: int
    translate: int
    transcribe: int
    sot_lm: int
    sot_prev: int
    no_speech: int
    no_timestamps: int
    timestamp_begin: int
    languages: tuple[str, ...]
    language_begin: int | None
    multilingual: bool

    @classmethod
    def from_manifest(cls, tokens: dict[str, Any]) -> SpecialTokens:
        try:
            return cls(**{**tokens, "languages": tuple(tokens.get("languages", ()))})
        except TypeError as e:
            raise ModelIntegrityError(f"Whisper manifest has bad special tokens: {e}") from e


class WhisperTokenizer:
    """Encodes prompts and decodes generated ids; knows the start-of-transcript sequence."""

    def __init__(self, tokenizer_json: str | Path, special: SpecialTokens) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_json))
        self.special = special

    def encode(self, text: str) -> list[int]:
        """Ids of plain text (no special tokens added)."""
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int] | np.ndarray) -> str:
        """Text of ids; special and timestamp tokens are dropped."""
        return self._tokenizer.decode([int(i) for i in ids if int(i) < self.special.eot])

    def language_token(self, language: str) -> int:
        """Id of ``<|language|>``; InvalidInput for a language the model does not know."""
        special = self.special
        if not special.multilingual or special.language_begin is None:
            raise InvalidInput(
                "This Whisper model is English-only; use a multilingual model "
                "such as 'whisper-base' for other languages"
            )
        if language not in special.languages:
            raise InvalidInput(
                f"Unknown language {language!r}; known: {', '.join(special.languages)}"
            )
        return special.language_begin + special.languages.index(language)

    def sot_sequence(self, language: str | None, task: str) -> list[int]:
        """<|startoftranscript|> [<|lang|> <|task|>] (English-only models take only SOT)."""
        special = self.special
        if not special.multilingual:
            return [special.sot]
        sequence = [special.sot]
        if language is not None:
            sequence.append(self.language_token(language))
        sequence.append(special.translate if task == "translate" else special.transcribe)
        return sequence

    def language_ids(self) -> np.ndarray:
        """Ids of every language token (empty for English-only models)."""
        special = self.special
        if not special.multilingual or special.language_begin is None:
            return np.empty(0, np.int64)
        return np.arange(len(special.languages)) + special.language_begin

    def non_speech_suppression(self, configured: list[int]) -> np.ndarray:
        """Tokens never sampled: the model's list plus task/SOT/prev/LM/no-speech controls."""
        special = self.special
        controls = [
            special.transcribe,
            special.translate,
            special.sot,
            special.sot_prev,
            special.sot_lm,
            special.no_speech,
        ]
        return np.unique(np.array([*configured, *controls], np.int64))

    def split_words(self, ids: list[int]) -> list[list[int]]:
        """Groups ids into words: a new word starts at a token whose text begins with a space
        (Whisper's English BPE); punctuation sticks to the word before it."""
        words: list[list[int]] = []
        for token in ids:
            text = self._tokenizer.decode([token])
            if not words or (text.startswith(" ") and text.strip()):
                words.append([token])
            else:
                words[-1].append(token)
        return words
