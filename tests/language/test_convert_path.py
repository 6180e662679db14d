"""The QA code path on other models: tiny random BERT / DistilBERT QA models converted from
Hugging Face format must give exactly the span a brute-force search over PyTorch's logits
gives (all model specifics come from the package manifest)."""

from __future__ import annotations

import inspect
import shutil

import pytest

from sensekit.core.errors import InvalidInput
from sensekit.language import QuestionAnswerer
from sensekit.language.tokenize import (
    PairTemplate,
    build_windows,
    encode,
    window_starts,
)

DOCUMENT = (
    "The harbour of Lindvik was dredged in 1911. Fishing boats moored along the east "
    "quay, while the ferry to Saltholm left from the western pier twice a day."
)
QUESTION = "Where did the ferry leave from?"


def _tiny_model(kind: str):
    import torch
    import transformers

    torch.manual_seed(0)
    if kind == "bert":
        config = transformers.BertConfig(
            vocab_size=30522,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        return transformers.BertForQuestionAnswering(config).eval()
    config = transformers.DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128
    )
    return transformers.DistilBertForQuestionAnswering(config).eval()


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def tiny(request, tmp_path_factory, minilm_tokenizer):
    from sensekit.language.train import base_encoder
    from sensekit.tools.convert import convert

    model = _tiny_model(request.param)
    directory = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(str(directory / "hf"))
    shutil.copyfile(base_encoder()["tokenizer"], directory / "hf" / "tokenizer.json")
    package = convert(
        directory / "hf",
        kind="transformers",
        destination=directory / "tiny.skmodel",
        name=f"tiny-{request.param}",
    )
    return model, package, request.param


def _reference(model, tokenizer, max_seq_len: int, top: int = 1):
    """Brute force over PyTorch logits of the single window (softmax over passage + CLS)."""
    import torch

    template = PairTemplate.from_tokenizer(tokenizer)
    doc, question = encode(tokenizer, DOCUMENT), encode(tokenizer, QUESTION).ids
    room = max_seq_len - len(question) - template.special_count
    w = build_windows(template, question, doc.ids, window_starts(len(doc), room, 16), room)
    assert len(w.token_start) == 1
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])
    with torch.no_grad():
        out = model(**{n: torch.from_numpy(getattr(w, n)) for n in names})
    s, e = out.start_logits[0].numpy(), out.end_logits[0].numpy()
    lo, n = w.context_start, int(w.token_count[0])
    best = max(
        (s[i] + e[j], i, j) for i in range(lo, lo + n) for j in range(i, min(i + 30, lo + n))
    )
    first, last = best[1] - lo, best[2] - lo
    return doc.offsets[first, 0], doc.offsets[last, 1]


def test_manifest_drives_inputs(tiny):
    _, package, kind = tiny
    answerer = QuestionAnswerer.from_model(package)
    assert ("token_type_ids" in answerer._inputs) == (kind == "bert")
    assert answerer._limit == 128  # max_position_embeddings of the tiny config
    assert answerer._cls == 0


def test_same_span_as_pytorch(tiny, minilm_tokenizer):
    model, package, _ = tiny
    answerer = QuestionAnswerer.from_model(package)
    got = answerer.answer(
        QUESTION,
        DOCUMENT,
        handle_impossible=False,
        align_to_words=False,
        max_seq_len=128,
        doc_stride=32,
    )
    start, end = _reference(model, minilm_tokenizer, 128)
    assert (got.start, got.end) == (start, end)
    assert got.text == DOCUMENT[start:end]
    assert 0.0 < got.score <= 1.0


def test_windows_longer_than_model_are_capped(tiny):
    _, package, _ = tiny
    answerer = QuestionAnswerer.from_model(package)
    long_doc = " ".join([DOCUMENT] * 20)
    answers = answerer.answer(QUESTION, long_doc, top_k=3, handle_impossible=False, doc_stride=32)
    assert 1 <= len(answers) <= 3
    assert all(long_doc[a.start : a.end] == a.text for a in answers)
    with pytest.raises(InvalidInput):
        answerer.answer(QUESTION, long_doc, doc_stride=500)
