"""Tokenization with a model's own fast tokenizer (``tokenizer.json``) and QA windows.

The same code serves BERT, DistilBERT, MiniLM and RoBERTa style models: the special
tokens around a (question, passage) pair are read from the tokenizer's own
post-processor (:class:`PairTemplate`), so no model family is hard-coded. A document is
tokenized once; windows of ``[specials] question [specials] passage-chunk [specials]``
are assembled from token ids with numpy, so many questions reuse one tokenization.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensekit.core.errors import InvalidInput


def load_tokenizer(path: str | Path):  # -> tokenizers.Tokenizer
    """A ``tokenizers.Tokenizer`` from a tokenizer.json, without padding or truncation."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@dataclass(frozen=True)
class Tokens:
    """A tokenized text: ids, character offsets [start, end) and word index per token."""

    ids: np.ndarray  # int64 [T]
    offsets: np.ndarray  # int64 [T, 2], characters of the original text
    words: np.ndarray  # int64 [T], -1 where the tokenizer gives no word

    def __len__(self) -> int:
        return len(self.ids)


def encode(tokenizer, text: str) -> Tokens:
    """Tokens of ``text`` without special tokens."""
    encoding = tokenizer.encode(text, add_special_tokens=False)
    offsets = np.asarray(encoding.offsets, np.int64).reshape(-1, 2)
    words = np.asarray([-1 if w is None else w for w in encoding.word_ids], np.int64)
    return Tokens(np.asarray(encoding.ids, np.int64), offsets, words)


@dataclass(frozen=True)
class PairTemplate:
    """Special tokens and type ids of a (first, second) pair, read from the tokenizer.

    Attributes:
        prefix, middle, suffix: special token ids before, between and after the texts.
        prefix_types, middle_types, suffix_types: their token type ids.
        first_type, second_type: token type of the question and of the passage tokens.
        pad_id: id used for padding.
    """

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    prefix_types: tuple[int, ...]
    middle_types: tuple[int, ...]
    suffix_types: tuple[int, ...]
    first_type: int
    second_type: int
    pad_id: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> PairTemplate:
        encoding = tokenizer.encode("a", "b", add_special_tokens=True)
        seq, ids, types = encoding.sequence_ids, encoding.ids, encoding.type_ids
        first = [i for i, s in enumerate(seq) if s == 0]
        second = [i for i, s in enumerate(seq) if s == 1]
        if not first or not second:
            raise InvalidInput("The tokenizer does not encode text pairs")
        parts = (
            range(first[0]),
            range(first[-1] + 1, second[0]),
            range(second[-1] + 1, len(ids)),
        )
        padding = tokenizer.padding or {}
        pad_id = padding.get("pad_id")
        if pad_id is None:
            pad_id = next(
                (
                    tokenizer.token_to_id(t)
                    for t in ("[PAD]", "<pad>")
                    if tokenizer.token_to_id(t) is not None
                ),
                0,
            )
        return cls(
            *(tuple(ids[i] for i in p) for p in parts),
            *(tuple(types[i] for i in p) for p in parts),
            types[first[0]],
            types[second[0]],
            int(pad_id),
        )

    @property
    def special_count(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)


@dataclass(frozen=True)
class Windows:
    """Model inputs for windows over one passage; ``context_start`` is the first passage
    token's position in each row, ``token_start`` the passage token it holds."""

    input_ids: np.ndarray  # int64 [W, L]
    attention_mask: np.ndarray  # int64 [W, L]
    token_type_ids: np.ndarray  # int64 [W, L]
    context_start: int  # position of the first passage token in a row
    token_start: np.ndarray  # int64 [W]: passage token index at context_start
    token_count: np.ndarray  # int64 [W]: passage tokens in the row

    def feeds(self, names: list[str]) -> dict[str, np.ndarray]:
        return {n: getattr(self, n) for n in names}


def window_starts(length: int, room: int, overlap: int) -> np.ndarray:
    """First passage token of each window: ``room`` tokens each, ``overlap`` shared."""
    if room <= 0:
        raise InvalidInput("The question leaves no room for the document; shorten it")
    step = room - min(overlap, room // 2)  # at least half a window of new tokens
    count = 1 if length <= room else 1 + -(-(length - room) // step)
    return np.arange(count, dtype=np.int64) * step


def build_windows(
    template: PairTemplate, question: np.ndarray, passage: np.ndarray, starts: np.ndarray, room: int
) -> Windows:
    """Rows ``prefix question middle passage[s:s+room] suffix``, right-padded."""
    head = np.concatenate([template.prefix, question, template.middle]).astype(np.int64)
    head_types = np.concatenate(
        [template.prefix_types, np.full(len(question), template.first_type), template.middle_types]
    ).astype(np.int64)
    counts = np.minimum(room, len(passage) - starts)
    width = len(head) + int(counts.max()) + len(template.suffix)
    rows = len(starts)
    ids = np.full((rows, width), template.pad_id, np.int64)
    types = np.zeros((rows, width), np.int64)
    mask = np.zeros((rows, width), np.int64)
    ids[:, : len(head)], types[:, : len(head)] = head, head_types
    column = np.arange(width)
    offset = column[None, :] - len(head)  # passage token offset of each column
    inside = (offset >= 0) & (offset < counts[:, None])
    source = np.clip(starts[:, None] + offset, 0, max(len(passage) - 1, 0))
    ids = np.where(inside, passage[source] if len(passage) else 0, ids)
    types = np.where(inside, template.second_type, types)
    for j, (token, kind) in enumerate(zip(template.suffix, template.suffix_types)):
        ids[np.arange(rows), len(head) + counts + j] = token
        types[np.arange(rows), len(head) + counts + j] = kind
    mask[column[None, :] < (len(head) + counts + len(template.suffix))[:, None]] = 1
    return Windows(ids, mask, types, len(head), starts, counts)
