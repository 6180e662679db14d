"""language.answer with the trained minilm-qa model on paragraphs NOT in the data set."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from sensekit.core.errors import InvalidInput
from sensekit.core.types import Answer
from sensekit.language import answer
from sensekit.language.squad import exact_f1, load_examples
from sensekit.language.train import DATA_DIR

# Fresh paragraphs written for this test (checked below not to be in the data set).
OBSERVATORY = (
    "The Corvath Ridge Observatory was built in 1968 on a granite plateau 2,340 metres above "
    "sea level. Its main instrument is a 3.6-metre reflecting telescope designed by the "
    "optician Harriet Calloway. The observatory is run by the University of Brenmouth, which "
    "sends about forty students there every summer. In 2004 a landslide destroyed the access "
    "road, and for two years supplies had to be delivered by helicopter."
)
CHEESE = (
    "Tollmere cheese is made from the milk of Fennish goats that graze on salt marshes. "
    "After pressing, the wheels are washed in cider brine every three days for eleven weeks, "
    "which gives the rind its orange colour. The cheese was first sold at the market in "
    "Dunhollow in 1822, and today only four farms are allowed to use the name."
)
FERRY = (
    "The ferry between Ostrel and the island of Maugan was started in 1953 by the brothers "
    "Pieter and Jonas Haverkamp. Their first boat, the Grey Heron, could carry twelve cars. "
    "The crossing takes forty minutes, and in winter the service runs only on weekends "
    "because storms often close the harbour at Maugan."
)
ORCHESTRA = (
    "The Leventhal Youth Orchestra was founded by the conductor Amira Solberg in 1987. "
    "It rehearses in an old tram depot in the city of Kessan and gives its main concert "
    "every year on the first Sunday of June. Players must be between fourteen and "
    "twenty-two years old."
)
# (document, question, accepted answers as a SQuAD annotator would write them)
CASES = [
    (OBSERVATORY, "When was the Corvath Ridge Observatory built?", ["1968"]),
    (
        OBSERVATORY,
        "Who designed the main telescope?",
        ["Harriet Calloway", "the optician Harriet Calloway"],
    ),
    (OBSERVATORY, "Which university runs the observatory?", ["University of Brenmouth"]),
    (OBSERVATORY, "What destroyed the access road in 2004?", ["landslide"]),
    (OBSERVATORY, "How high is the plateau?", ["2,340 metres", "2,340 metres above sea level"]),
    (OBSERVATORY, "How were supplies delivered after the landslide?", ["by helicopter"]),
    (CHEESE, "What animals give the milk for Tollmere cheese?", ["Fennish goats", "goats"]),
    (CHEESE, "What are the wheels washed in?", ["cider brine"]),
    (
        CHEESE,
        "Where was the cheese first sold?",
        ["Dunhollow", "the market in Dunhollow", "at the market in Dunhollow"],
    ),
    (CHEESE, "How many farms may use the name?", ["four", "four farms", "only four farms"]),
    (
        CHEESE,
        "What gives the rind its orange colour?",
        ["cider brine", "washed in cider brine every three days for eleven weeks"],
    ),
    (
        FERRY,
        "Who started the ferry to Maugan?",
        ["Pieter and Jonas Haverkamp", "the brothers Pieter and Jonas Haverkamp"],
    ),
    (FERRY, "How long does the crossing take?", ["forty minutes"]),
    (FERRY, "What was the name of the first boat?", ["Grey Heron"]),
    (
        FERRY,
        "Why does the service run only on weekends in winter?",
        ["storms often close the harbour at Maugan", "storms often close the harbour"],
    ),
    (FERRY, "How many cars could the first boat carry?", ["twelve", "twelve cars"]),
    (
        ORCHESTRA,
        "Who founded the Leventhal Youth Orchestra?",
        ["Amira Solberg", "the conductor Amira Solberg"],
    ),
    (
        ORCHESTRA,
        "Where does the orchestra rehearse?",
        ["in an old tram depot", "an old tram depot in the city of Kessan"],
    ),
    (
        ORCHESTRA,
        "When is the main concert?",
        ["the first Sunday of June", "every year on the first Sunday of June"],
    ),
    (ORCHESTRA, "In which city is the tram depot?", ["Kessan"]),
]
UNANSWERABLE = [
    (OBSERVATORY, "What is the name of the observatory's cat?"),
    (ORCHESTRA, "What is the orchestra's favourite composer?"),
    (FERRY, "How much does a ticket cost?"),
]
# The paragraph of issue 19: the model before SQuAD answered over-long and wrong spans.
GOLDEN_GATE = (
    "The Golden Gate Bridge is a suspension bridge spanning the Golden Gate, the "
    "one-mile-wide strait connecting San Francisco Bay and the Pacific Ocean. The structure "
    "links the U.S. city of San Francisco, California to Marin County, carrying both U.S. "
    "Route 101 and California State Route 1 across the strait. The bridge was designed by "
    "Joseph Strauss in 1917, with architect Irving Morrow. Construction began on January 5, "
    "1933, and the bridge opened to traffic on May 28, 1937."
)
FILLER = [
    "The committee met on a Tuesday to discuss the budget for the coming year.",
    "Rain fell steadily over the valley while the farmers waited for the harvest.",
    "A new bus line connected the northern suburbs with the central station.",
    "The library extended its opening hours during the examination period.",
    "Several species of migratory birds rest on the lake during the autumn.",
    "The old mill was converted into apartments after a long renovation.",
    "Engineers tested the new bridge with heavy trucks before it opened.",
    "The museum displayed pottery found during excavations near the river.",
]


def test_fresh_paragraphs_are_not_in_the_data_set():
    contexts = " ".join(e.context for e in load_examples(DATA_DIR))
    found = [
        name
        for name in (
            "Corvath Ridge",
            "Tollmere",
            "Harriet Calloway",
            "Brenmouth",
            "Port Anselm",
            "Vornbeck",
            "Dunhollow",
            "Fennish",
            "Maugan",
            "Haverkamp",
            "Leventhal",
            "Amira Solberg",
            "Kessan",
        )
        if name in contexts
    ]
    assert found == []


def test_answers_fresh_paragraphs(answerer):
    """Exact match / F1 (SQuAD rules) on 20 questions about paragraphs written for this
    test. The shipped model scores own-dev EM 65 / F1 82; these plain questions score higher,
    and a regression of the model or of the span search drops them well below the bar."""
    scored = []
    for document, question, golds in CASES:
        got = answerer.answer(question, document)
        text = "" if got is None else got.text
        if got is not None:
            assert document[got.start : got.end] == got.text
            assert 0.0 < got.score <= 1.0
        scored.append((question, text, *exact_f1(text, golds)))
    report = "\n".join(f"  {q!r} -> {t!r} EM {e:.0f} F1 {f:.2f}" for q, t, e, f in scored)
    exact = sum(e for *_, e, _ in scored) / len(scored)
    f1 = sum(f for *_, f in scored) / len(scored)
    assert exact >= 0.75 and f1 >= 0.85, f"EM {exact:.2f} F1 {f1:.2f}\n{report}"
    wrong = [q for q, _, _, f in scored if f == 0.0]
    assert len(wrong) <= 2, f"answers with no overlap: {wrong}\n{report}"
    assert scored[1][2] == 1.0 and scored[0][2] == 1.0  # 1968, Harriet Calloway


@pytest.mark.parametrize(
    ("question", "accepted"),
    [
        ("Who designed the bridge?", {"Joseph Strauss"}),
        ("When did construction begin?", {"January 5, 1933"}),
        pytest.param(  # "San Francisco to Marin County" is not a span of the text
            "What does the bridge link?",
            {
                "San Francisco",
                "San Francisco, California to Marin County",
                "the U.S. city of San Francisco, California to Marin County",
            },
            # The shipped 6-layer model answers "the Golden Gate, the one-mile-wide strait
            # connecting San Francisco Bay and the Pacific Ocean" (it follows "bridge" to
            # the first sentence); "What does the structure link?" it answers right. Strict:
            # a model that gets it right makes this fail, so the marker is removed then.
            marks=pytest.mark.xfail(strict=True, reason="issue 19: 6-layer model, see note"),
        ),
    ],
)
def test_golden_gate_answers_are_exact(answerer, question, accepted):
    got = answerer.answer(question, GOLDEN_GATE)
    assert got is not None and got.text in accepted, got


def test_unanswerable_questions_give_none(answerer):
    for document, question in UNANSWERABLE:
        assert answerer.answer(question, document) is None, question
        assert answerer.answer(question, document, top_k=3) == []
    forced = answerer.answer(UNANSWERABLE[0][1], OBSERVATORY, handle_impossible=False)
    assert isinstance(forced, Answer)


def test_top_k_is_ranked(answerer):
    answers = answerer.answer(CASES[1][1], OBSERVATORY, top_k=3)
    assert 1 <= len(answers) <= 3
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)
    assert "Calloway" in answers[0].text


def test_answer_past_token_2000_of_a_long_document(answerer):
    sentences = [FILLER[i % len(FILLER)] for i in range(200)]
    fact = "The lighthouse keeper of Port Anselm was Thessaly Vornbeck, a retired sailor."
    document = " ".join([*sentences[:180], fact, *sentences[180:]])
    tokens = answerer.document(document).tokens
    assert len(tokens) > 2200
    got = answerer.answer("Who was the lighthouse keeper of Port Anselm?", document)
    assert got is not None and "Thessaly Vornbeck" in got.text
    assert got.start > tokens.offsets[2000, 0]


def test_answer_many_reuses_the_document(answerer):
    questions = [c[1] for c in CASES if c[0] is OBSERVATORY]
    many = answerer.answer_many(questions, OBSERVATORY)
    single = [answerer.answer(q, OBSERVATORY) for q in questions]
    assert [(a.start, a.end) for a in many] == [(a.start, a.end) for a in single]
    assert answerer.document(OBSERVATORY) is answerer.document(OBSERVATORY)


def test_module_verb_and_utf8_bytes():
    got = answer(CASES[0][1], OBSERVATORY.encode("utf-8"))
    assert got is not None and "1968" in got.text


@pytest.mark.parametrize(
    "question,document",
    [
        ("", OBSERVATORY),
        ("   \n", OBSERVATORY),
        (CASES[0][1], ""),
        (CASES[0][1], " \t\n "),
        (CASES[0][1], b"\xff\xfe caf\xe9 \x80"),
        (None, OBSERVATORY),
        (CASES[0][1], 42),
    ],
)
def test_bad_input_is_rejected(answerer, question, document):
    with pytest.raises(InvalidInput):
        answerer.answer(question, document)


def test_five_megabyte_document_is_bounded(answerer):
    document = ("word " * 1_048_576)[:5_000_000]
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match="max_document_chars"):
        answerer.answer("What is it?", document)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < 50_000_000


def test_length_decay_prefers_shorter_answers(answerer):
    question = "Who designed the bridge?"
    plain = answerer.answer(question, GOLDEN_GATE, length_decay=0.0, top_k=3)
    strict = answerer.answer(question, GOLDEN_GATE, length_decay=2.0, top_k=3)
    # without the prior the over-long "Joseph Strauss in 1917, with architect Irving
    # Morrow" is a candidate; a steep prior ranks every long span below the short ones
    assert max(len(a.text) for a in strict) < max(len(a.text) for a in plain)
    assert strict[0].text == "Joseph Strauss"


def test_bad_options():
    with pytest.raises(InvalidInput):
        answer("Why?", OBSERVATORY, top_k=0)
    for decay in (-0.1, 10, "0.1", True):
        with pytest.raises(InvalidInput):
            answer("Why?", OBSERVATORY, length_decay=decay)
    with pytest.raises(InvalidInput):
        answer("Why?", OBSERVATORY, unknown_option=1)
