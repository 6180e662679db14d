"""Text inputs: validation, UTF-8 decoding and the tokenizer named by a package manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sensekit.core.blocks import TextPreprocess
from sensekit.core.errors import InvalidInput, ModelIntegrityError
from sensekit.core.types import _Result
from sensekit.language.tokenize import load_tokenizer


def check_text(text: Any, what: str, max_chars: int) -> str:
    """``text`` as a non-blank str (bytes are decoded as UTF-8), at most ``max_chars`` long.

    Raises:
        InvalidInput: not text, not UTF-8, blank, or longer than ``max_chars``.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput(
                f"The {what} is not valid UTF-8 ({e.reason} at byte "
                f"{e.start}); decode it first or fix the encoding"
            ) from e
    if not isinstance(text, str):
        raise InvalidInput(f"The {what} must be a str or UTF-8 bytes, not {type(text).__name__}")
    if not text.strip():
        raise InvalidInput(f"The {what} is empty")
    if len(text) > max_chars:
        raise InvalidInput(
            f"The {what} has {len(text):,} characters, more than the limit of "
            f"{max_chars:,}; split it or raise max_document_chars"
        )
    return text


def tokenizer_of(model: Any):  # -> tokenizers.Tokenizer
    """The fast tokenizer of a package: ``preprocess.tokenizer`` (tokenizer.json or a
    WordPiece vocab.txt with ``preprocess.lowercase``)."""
    text = model.manifest.inputs.get("")
    if not isinstance(text, TextPreprocess):
        raise ModelIntegrityError(f"Model {model.name!r} has no text preprocess block")
    path = model.package.path(text.tokenizer)
    if path.name.endswith(".json"):
        return load_tokenizer(path)
    from tokenizers import BertWordPieceTokenizer

    wrapper = BertWordPieceTokenizer(str(path), lowercase=text.lowercase)
    tokenizer = wrapper._tokenizer  # the plain tokenizers.Tokenizer with its post-processor
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@dataclass(frozen=True)
class TokenizedText(_Result):
    """Tokens of a text: strings, vocabulary ids and [start, end) character offsets."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.tokens)


def tokenize(
    text: str | bytes, model: str = "minilm-embed", add_special_tokens: bool = False
) -> TokenizedText:
    """Tokenizes ``text`` with the fast tokenizer of a model package (no length limit).

    Args:
        text: the text (bytes are decoded as UTF-8).
        model: zoo name or package path whose tokenizer to use.
        add_special_tokens: add the model's special tokens ([CLS] ... [SEP]).
    """
    from sensekit.core.model import Model
    from sensekit.core.tasks import cached_default

    text = check_text(text, "text", 10_000_000)
    tokenizer = cached_default(("tokenizer", str(model)), lambda: tokenizer_of(Model.load(model)))
    encoding = tokenizer.encode(text, add_special_tokens=add_special_tokens)
    return TokenizedText(
        tuple(encoding.tokens), tuple(encoding.ids), tuple(tuple(o) for o in encoding.offsets)
    )
