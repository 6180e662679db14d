"""Fixtures of the language tests: the base tokenizer and the default models (built once)."""

from __future__ import annotations

import pytest

from sensekit.language.tokenize import load_tokenizer


@pytest.fixture(scope="session")
def minilm_tokenizer():
    from sensekit.language.train import base_encoder

    return load_tokenizer(base_encoder()["tokenizer"])


@pytest.fixture(scope="session")
def answerer():
    from sensekit.language import QuestionAnswerer

    return QuestionAnswerer.from_model("minilm-qa")


@pytest.fixture(scope="session")
def embedder():
    from sensekit.language import TextEmbedder

    return TextEmbedder.from_model("minilm-embed")
