"""The Hugging Face QA pipeline on sensekit's trained weights, and comparisons.

Real paragraphs and questions from SQuAD v1.1's dev set (Wikipedia) are answered by
``pipeline("question-answering")`` in PyTorch (:mod:`qa_peer`) once per test process and by
sensekit; :func:`qa_differences` lists where the two disagree.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_work import work_dir

SCORE_TOLERANCE = 1e-4  # float32 ONNX vs PyTorch: answer scores measured within 1e-6


@dataclass(frozen=True)
class Question:
    question: str
    context: str
    one_window: bool  # the document fits one window (a paragraph, not the joined article)


@functools.cache
def squad_questions() -> tuple[Question, ...]:
    """Real paragraphs and questions from the SQuAD v1.1 dev set (Wikipedia; the first
    paragraph of each of the first articles), a five-paragraph article asked about its
    later paragraphs (several windows), and a question its paragraph does not answer."""
    from sensekit.language.squad import squad_file

    articles = json.loads(squad_file("dev").read_text(encoding="utf-8"))["data"]
    items = [
        Question(qa["question"], article["paragraphs"][0]["context"], True)
        for article in articles[:4]
        for qa in article["paragraphs"][0]["qas"][:3]
    ]
    long_article = articles[6]["paragraphs"][:5]
    document = "\n\n".join(p["context"] for p in long_article)
    items += [Question(p["qas"][0]["question"], document, False) for p in long_article[1:4]]
    items.append(
        Question(
            articles[1]["paragraphs"][0]["qas"][0]["question"],
            articles[0]["paragraphs"][0]["context"],
            True,
        )
    )
    return tuple(items)


@functools.cache
def trained_qa_directory() -> Path:
    from qa_peer import trained_directory

    folder = work_dir() / "minilm-qa"
    folder.mkdir()
    return trained_directory(folder)


@functools.cache
def hf_answers() -> tuple[tuple[tuple[int, int] | None, float], ...]:
    """The HF pipeline's (span or None, score) for every :func:`squad_questions` item."""
    from qa_peer import Peer

    peer = Peer(trained_qa_directory())
    try:
        reply = peer.ask(
            [{"question": q.question, "context": q.context} for q in squad_questions()]
        )
    finally:
        peer.close()
    return tuple(
        (None if a is None else (a[0], a[1]), s)
        for a, s in zip(reply["answers"], reply["scores"], strict=True)
    )


@functools.cache
def fp32_qa_package() -> Path:
    """The trained weights converted to float32 ONNX by sensekit's transformers converter
    (the shipped package is int8; the float32 one must give the pipeline's exact spans)."""
    from sensekit.tools.convert import convert

    return convert(
        trained_qa_directory(),
        kind="transformers",
        destination=work_dir() / "minilm-qa-fp32.skmodel",
        name="minilm-qa-fp32",
    )


def answer_differences(
    question: Question, ours: Any, theirs: tuple[Any, float], scores: bool = True
) -> list[str]:
    """How sensekit's Answer (or None) differs from the pipeline's (span, score).

    The pipeline merges candidates with the same answer text (summing their scores) and
    reports the first occurrence's offsets; sensekit keeps each span. So where the text
    occurs more than once only the text must agree, and scores only in one window.
    """
    span, score = theirs
    if (ours is None) != (span is None):
        return [f"{question.question!r}: {ours} != pipeline {span}"]
    if ours is None:
        return []
    text = question.context[span[0] : span[1]]
    found = []
    if ours.text != text:
        found.append(f"{question.question!r}: {ours.text!r} != pipeline {text!r}")
    elif question.context.count(text) == 1 and (ours.start, ours.end) != span:
        found.append(f"{question.question!r}: span {(ours.start, ours.end)} != {span}")
    if scores and question.one_window and abs(ours.score - score) > SCORE_TOLERANCE:
        found.append(f"{question.question!r}: score {ours.score:.4f} != pipeline {score:.4f}")
    return found


def sensekit_answers(answer: Callable[..., Any]) -> list[Any]:
    """``answer(question, document, **options)`` (``language.answer`` or a
    ``QuestionAnswerer``'s) with the pipeline's options, on every question."""
    from qa_peer import OPTIONS

    return [answer(q.question, q.context, **OPTIONS) for q in squad_questions()]


def qa_differences(answers: list[Any], scores: bool = True) -> list[str]:
    return [
        problem
        for q, ours, theirs in zip(squad_questions(), answers, hf_answers(), strict=True)
        for problem in answer_differences(q, ours, theirs, scores)
    ]


def agreeing(answers: list[Any]) -> list[bool]:
    """Per question: the same answer as the pipeline (scores aside: int8 moves them)."""
    return [
        not answer_differences(q, ours, theirs, scores=False)
        for q, ours, theirs in zip(squad_questions(), answers, hf_answers(), strict=True)
    ]
