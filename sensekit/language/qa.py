"""Extractive question answering over documents of any length.

A document is tokenized once with the model's own fast tokenizer; each question is
placed in front of overlapping windows of the document, the model scores every token
as an answer start and end, and spans are searched per window (softmax over the
window's passage tokens and its CLS token, as Hugging Face's QA pipeline does) and
merged across windows. The answer is "no answer" when the best span scores below the
null (CLS) score. Everything model specific (tokenizer file, input names, longest
sequence, output names, CLS position) is read from the package manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sensekit.accelerate import nn
from sensekit.core.blocks import TextPreprocess
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.tasks import Task, cached_default
from sensekit.core.types import Answer
from sensekit.language.text_input import check_text, tokenizer_of
from sensekit.language.tokenize import (
    PairTemplate,
    Tokens,
    Windows,
    build_windows,
    encode,
    window_starts,
)

DEFAULT_MODEL = "minilm-qa"


@dataclass(frozen=True)
class AnswerOptions:
    """Options of :class:`QuestionAnswerer`.

    Attributes:
        top_k: answers to return; 1 gives one Answer (or None), more give a list.
        max_answer_len: longest answer, in tokens.
        doc_stride: tokens shared by neighbouring windows of a long document.
        max_seq_len: tokens per window (question + document + special tokens); capped at
            the model's limit from its manifest.
        max_question_len: question tokens kept.
        handle_impossible: return no answer when the null (CLS) score beats every span.
        align_to_words: widen answers to whole words.
        batch_size: windows per model run.
        max_document_chars: longer documents are rejected (bounds time and memory).
        length_decay: prior against long answers, span score x exp(-length_decay x extra
            tokens); None uses the value calibrated for the model (its manifest).
    """

    top_k: int = 1
    max_answer_len: int = 30
    doc_stride: int = 128
    max_seq_len: int = 384
    max_question_len: int = 64
    handle_impossible: bool = True
    align_to_words: bool = True
    batch_size: int = 16
    max_document_chars: int = 1_000_000
    length_decay: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "top_k",
            "max_answer_len",
            "max_seq_len",
            "max_question_len",
            "batch_size",
            "max_document_chars",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInput(f"{name} must be a positive int, not {value!r}")
        decay = self.length_decay
        if decay is not None and (
            not isinstance(decay, (int, float)) or isinstance(decay, bool) or not 0 <= decay < 10
        ):
            raise InvalidInput(f"length_decay must be a number in [0, 10) or None, not {decay!r}")
        if not isinstance(self.doc_stride, int) or self.doc_stride < 0:
            raise InvalidInput(f"doc_stride must be a non-negative int, not {self.doc_stride!r}")
        if self.doc_stride >= self.max_seq_len - self.max_question_len - 4:
            raise InvalidInput(
                f"doc_stride ({self.doc_stride}) must leave room for new tokens in "
                f"each window of max_seq_len {self.max_seq_len} with questions up "
                f"to {self.max_question_len} tokens"
            )


@dataclass(frozen=True)
class Document:
    """A document tokenized once: its text, tokens and the character span of each token
    widened to whole words."""

    text: str
    tokens: Tokens
    word_spans: np.ndarray  # int64 [T, 2]


class QuestionAnswerer(Task):
    """Answers questions about documents with a question-answering model package."""

    MANIFEST_TASKS = ("question-answering",)
    Options = AnswerOptions
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(self, model: Model, options: AnswerOptions | None = None) -> None:
        super().__init__(model, options)
        post = model.manifest.postprocess
        text = model.manifest.inputs.get("")
        if not isinstance(text, TextPreprocess) or post.get("kind") != "span":
            raise InvalidInput(
                f"Model {model.name!r} is not an extractive QA model (task {model.manifest.task!r})"
            )
        self.tokenizer = tokenizer_of(model)
        self.template = PairTemplate.from_tokenizer(self.tokenizer)
        self._inputs = list(text.inputs)
        self._limit = text.max_seq_len
        self._outputs = [post.get("start", "start_logits"), post.get("end", "end_logits")]
        default_cls = 0 if self.template.prefix else None
        self._cls = post.get("cls_index", default_cls)
        # log(best span score / null score) below which the answer is "none": 0 is the
        # plain comparison; trained packages carry the value calibrated on dev data.
        self._null_offset = float(post.get("null_offset", 0.0))
        # A prior against long spans (score x exp(-decay x extra tokens)), chosen on dev data.
        self._length_decay = float(post.get("length_decay", 0.0))
        self._last: Document | None = None

    # -- preprocessing --------------------------------------------------------------
    def document(self, text: str | bytes, options: AnswerOptions | None = None) -> Document:
        """Tokenizes a document once (reused while the same text is asked about)."""
        options = options or self.options
        text = check_text(text, "document", options.max_document_chars)
        if self._last is not None and self._last.text == text:
            return self._last
        tokens = encode(self.tokenizer, text)
        if not len(tokens):
            raise InvalidInput("The document has no tokens the model knows")
        self._last = Document(text, tokens, _word_spans(tokens))
        return self._last

    def _preprocess(
        self, question: str | bytes, document: Document, options: AnswerOptions
    ) -> Windows:
        text = check_text(question, "question", 100_000)
        ids = encode(self.tokenizer, text).ids[: options.max_question_len]
        if not len(ids):
            raise InvalidInput("The question has no tokens the model knows")
        room = min(options.max_seq_len, self._limit) - len(ids) - self.template.special_count
        starts = window_starts(len(document.tokens), room, options.doc_stride)
        return build_windows(self.template, ids, document.tokens.ids, starts, room)

    # -- model ----------------------------------------------------------------------
    def _forward(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        out = self.model.predict(feeds, outputs=self._outputs)
        return out[self._outputs[0]], out[self._outputs[1]]

    # -- postprocessing -------------------------------------------------------------
    def _window_spans(
        self,
        windows: Windows,
        rows: slice,
        start: np.ndarray,
        end: np.ndarray,
        options: AnswerOptions,
    ) -> tuple[list[tuple[float, int, int]], float]:
        """Candidate (score, first token, last token) of some windows, and their null score."""
        cols = np.arange(start.shape[1])[None, :]
        lo = windows.context_start
        valid = (cols >= lo) & (cols < lo + windows.token_count[rows, None])
        allowed = valid | (cols == self._cls) if self._cls is not None else valid
        p_start = nn.softmax(np.where(allowed, start, -10000.0))
        p_end = nn.softmax(np.where(allowed, end, -10000.0))
        null = (
            float((p_start[:, self._cls] * p_end[:, self._cls]).min())
            if self._cls is not None
            else 0.0
        )
        row, first, last, score = nn.span_top_k(
            p_start,
            p_end,
            valid,
            k=options.top_k,
            max_len=options.max_answer_len,
            length_decay=self._length_decay
            if options.length_decay is None
            else float(options.length_decay),
        )
        shift = windows.token_start[rows][row] - lo
        return list(zip(score.tolist(), (first + shift).tolist(), (last + shift).tolist())), null

    def _answers(
        self, candidates: list[tuple[float, int, int]], document: Document, options: AnswerOptions
    ) -> list[Answer]:
        spans = document.word_spans if options.align_to_words else document.tokens.offsets
        best: dict[tuple[int, int], float] = {}
        for score, first, last in candidates:
            key = _trim(document.text, int(spans[first, 0]), int(spans[last, 1]))
            best[key] = max(score, best.get(key, -1.0))
        ranked = sorted(best.items(), key=lambda item: -item[1])[: options.top_k]
        return [Answer(document.text[s:e], float(score), s, e) for (s, e), score in ranked]

    def scored(
        self, question: str | bytes, document: Document, options: AnswerOptions
    ) -> tuple[list[Answer], float]:
        """The best spans (no "no answer" decision) and the null score they compete with:
        what calibrating the no-answer threshold needs."""
        windows = self._preprocess(question, document, options)
        candidates: list[tuple[float, int, int]] = []
        null = 1.0
        for i in range(0, len(windows.token_start), options.batch_size):
            rows = slice(i, i + options.batch_size)
            start, end = self._forward({n: getattr(windows, n)[rows] for n in self._inputs})
            found, window_null = self._window_spans(windows, rows, start, end, options)
            null = min(null, window_null)
            candidates = sorted(candidates + found, reverse=True)[: options.top_k * 4]
        return self._answers(candidates, document, options), null

    def _answer(
        self, question: str | bytes, document: Document, options: AnswerOptions
    ) -> Answer | list[Answer] | None:
        answers, null = self.scored(question, document, options)
        if (
            options.handle_impossible
            and self._cls is not None
            and (not answers or answers[0].score < null * np.exp(self._null_offset))
        ):
            answers = []
        if options.top_k == 1:
            return answers[0] if answers else None
        return answers

    # -- public API -----------------------------------------------------------------
    def answer(
        self, question: str | bytes, document: str | bytes, **overrides: Any
    ) -> Answer | list[Answer] | None:
        """The answer to ``question`` in ``document``.

        Returns:
            With ``top_k=1`` an :class:`Answer` (character offsets into the document) or
            None when the document holds no answer; with ``top_k>1`` a list, best first
            (empty when there is no answer).

        Raises:
            InvalidInput: empty or non-text question/document, not UTF-8, or too long.
        """
        options = self.resolve(overrides)
        return self._answer(question, self.document(document, options), options)

    def answer_many(
        self, questions: list[str], document: str | bytes, **overrides: Any
    ) -> list[Answer | list[Answer] | None]:
        """Answers several questions about one document, tokenizing the document once."""
        if isinstance(questions, (str, bytes)) or not isinstance(questions, (list, tuple)):
            raise InvalidInput("answer_many takes a list of questions")
        options = self.resolve(overrides)
        doc = self.document(document, options)
        return [self._answer(q, doc, options) for q in questions]

    __call__ = answer

    def close(self) -> None:
        """Forgets the cached document."""
        self._last = None


_OPEN, _CLOSE = '([{"“', ')]}"”'
_LOOSE = ",;:!?–—"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without loose punctuation at its edges: a trailing comma or colon, a
    sentence's full stop (not an abbreviation's, "U.S."), a bracket or quote whose
    partner is outside the span. Never trims a span to nothing."""
    s, e = start, end
    while e > s and _loose_end(text[s : e - 1], text[e - 1]):
        e -= 1
    while s < e and _loose_start(text[s], text[s + 1 : e]):
        s += 1
    return (s, e) if e > s else (start, end)


def _loose_end(before: str, last: str) -> bool:
    words = before.split()
    word = words[-1] if words else ""
    if last == ".":  # a full stop, unless it ends an abbreviation (U.S., Jr., Inc.)
        return "." not in word and (len(word) > 3 or word.isdigit())
    if last in _CLOSE:
        return _OPEN[_CLOSE.index(last)] not in before
    return last.isspace() or last in _LOOSE


def _loose_start(first: str, after: str) -> bool:
    if first in _OPEN:
        return _CLOSE[_OPEN.index(first)] not in after
    return first.isspace() or first in _LOOSE


def _word_spans(tokens: Tokens) -> np.ndarray:
    """Character span of the whole word around each token (the token's own if no word)."""
    spans = tokens.offsets.copy()
    has_word = tokens.words >= 0
    if has_word.any():
        count = int(tokens.words.max()) + 1
        first = np.full(count, np.iinfo(np.int64).max)
        last = np.full(count, -1)
        np.minimum.at(first, tokens.words[has_word], tokens.offsets[has_word, 0])
        np.maximum.at(last, tokens.words[has_word], tokens.offsets[has_word, 1])
        spans[has_word, 0] = first[tokens.words[has_word]]
        spans[has_word, 1] = last[tokens.words[has_word]]
    return spans


def answer(
    question: str | bytes,
    document: str | bytes,
    *,
    top_k: int = 1,
    max_answer_len: int = 30,
    doc_stride: int = 128,
    max_seq_len: int = 384,
    handle_impossible: bool = True,
    model: str = DEFAULT_MODEL,
    **options: Any,
) -> Answer | list[Answer] | None:
    """Answers a question from a document with a shared default model.

    Args:
        question: the question.
        document: the text to search, of any length (overlapping windows).
        top_k: 1 returns one Answer or None; more return a list, best first.
        max_answer_len: longest answer in tokens.
        doc_stride: tokens shared by neighbouring windows.
        max_seq_len: tokens per window.
        handle_impossible: answer None / [] when "no answer" scores best.
        model: zoo name or package path.
        **options: other :class:`AnswerOptions` fields.

    Returns:
        An :class:`Answer` (character offsets into ``document``), None, or a list.
    """
    answerer = cached_default(("answer", str(model)), lambda: QuestionAnswerer.from_model(model))
    return answerer.answer(
        question,
        document,
        top_k=top_k,
        max_answer_len=max_answer_len,
        doc_stride=doc_stride,
        max_seq_len=max_seq_len,
        handle_impossible=handle_impossible,
        **options,
    )
