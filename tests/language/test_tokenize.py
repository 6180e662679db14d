"""Unit tests of windows, span search, the data split and SQuAD metrics (no model runs)."""

from __future__ import annotations

import numpy as np
import pytest

from sensekit.accelerate.nn import span_top_k
from sensekit.language.qa import _trim
from sensekit.language.squad import (
    QAExample,
    exact_f1,
    load_examples,
    split_examples,
    training_windows,
)
from sensekit.language.tokenize import PairTemplate, build_windows, window_starts
from sensekit.language.train import DATA_DIR

BERT_LIKE = PairTemplate((101,), (102,), (102,), (0,), (0,), (1,), 0, 1, 0)
ROBERTA_LIKE = PairTemplate((0,), (2, 2), (2,), (0,), (0, 0), (0,), 0, 0, 1)


def test_window_starts_cover_every_token_with_overlap():
    starts = window_starts(1000, 300, 128)
    assert starts[0] == 0 and starts[-1] + 300 >= 1000
    assert np.all(np.diff(starts) == 300 - 128)
    assert window_starts(10, 300, 128).tolist() == [0]


@pytest.mark.parametrize("template", [BERT_LIKE, ROBERTA_LIKE])
def test_build_windows_layout(template):
    question, passage = np.array([7, 8]), np.arange(1000, 1010)
    room = 6
    starts = window_starts(len(passage), room, 2)
    w = build_windows(template, question, passage, starts, room)
    head = len(template.prefix) + 2 + len(template.middle)
    assert w.context_start == head
    for row, first in enumerate(starts):
        count = int(w.token_count[row])
        got = w.input_ids[row, head : head + count]
        assert got.tolist() == passage[first : first + count].tolist()
        assert w.input_ids[row, : len(template.prefix)].tolist() == list(template.prefix)
        assert int(w.attention_mask[row].sum()) == head + count + len(template.suffix)
        assert set(w.token_type_ids[row, head : head + count].tolist()) == {template.second_type}
    assert w.input_ids[-1, -1] in (template.pad_id, template.suffix[-1])


def test_span_top_k_respects_order_and_length():
    start = np.array([[0.0, 0.1, 0.7, 0.2]])
    end = np.array([[0.0, 0.6, 0.1, 0.3]])
    valid = np.array([[False, True, True, True]])
    _rows, s, e, scores = span_top_k(start, end, valid, k=2, max_len=2)
    # (2, 1) is invalid (end before start); (2, 3) is the best allowed pair
    assert (s[0], e[0]) == (2, 3) and scores[0] == pytest.approx(0.21)
    assert np.all(e >= s) and np.all(e - s < 2)


def test_span_top_k_length_decay_prefers_shorter_spans():
    start = np.array([[0.9, 0.1, 0.0]])
    end = np.array([[0.4, 0.0, 0.6]])
    valid = np.ones((1, 3), bool)
    plain = span_top_k(start, end, valid, k=1, max_len=3)
    assert (plain[1][0], plain[2][0]) == (0, 2)  # 0.54 beats (0, 0)'s 0.36
    decayed = span_top_k(start, end, valid, k=1, max_len=3, length_decay=0.5)
    assert (decayed[1][0], decayed[2][0]) == (0, 0)  # 0.54 * e^-1 = 0.20 < 0.36
    assert decayed[3][0] == pytest.approx(0.36)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Joseph Strauss,", "Joseph Strauss"),
        ("in 1917.", "in 1917"),
        ("the U.S.", "the U.S."),
        ("Jr.", "Jr."),
        ("(Marin County", "Marin County"),
        ("(a) note", "(a) note"),
        ('"Grey Heron"', '"Grey Heron"'),
        ("-5 degrees", "-5 degrees"),
        (",", ","),
    ],
)
def test_trim_drops_loose_punctuation_only(text, want):
    s, e = _trim(text, 0, len(text))
    assert text[s:e] == want


def test_split_is_by_passage_and_deterministic():
    examples = load_examples(DATA_DIR)
    train, dev = split_examples(examples)
    assert {e.passage for e in train}.isdisjoint({e.passage for e in dev})
    passages = {e.passage for e in examples}
    assert 0.08 <= len({e.passage for e in dev}) / len(passages) <= 0.12
    assert [e.id for e in split_examples(list(reversed(examples)))[1]] != [] and {
        e.id for e in split_examples(list(reversed(examples)))[1]
    } == {e.id for e in dev}


def test_training_targets_point_at_the_answer(minilm_tokenizer):
    context = "The bridge was opened in 1932 by the mayor, Anna Kowal."
    examples = [
        QAExample("1", "Who opened the bridge?", context, (("Anna Kowal", 44),), "p"),
        QAExample("2", "What colour is it?", context, (), "p"),
    ]
    w = training_windows(minilm_tokenizer, examples, 64, 16)
    ids = w["input_ids"][0, w["start_positions"][0] : w["end_positions"][0] + 1]
    assert minilm_tokenizer.decode(ids.tolist()) == "anna kowal"
    assert w["start_positions"][1] == 0 and w["end_positions"][1] == 0


def test_squad_metrics():
    assert exact_f1("the Harrow Deep mine", ["Harrow Deep mine"]) == (1.0, 1.0)
    assert exact_f1("", []) == (1.0, 1.0)
    assert exact_f1("Harrow", []) == (0.0, 0.0)
    em, f1 = exact_f1("Harrow Deep", ["Harrow Deep mine"])
    assert em == 0.0 and f1 == pytest.approx(0.8)
