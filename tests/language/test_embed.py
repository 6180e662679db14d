"""language.embed against PyTorch mean pooling of the same encoder, and tokenize."""

from __future__ import annotations

import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.language import embed, tokenize

SENTENCES = [
    "A cat sits on the mat.",
    "A kitten is resting on a rug.",
    "The central bank raised interest rates again.",
]


def test_embeddings_match_pytorch(embedder):
    import torch
    import transformers

    from sensekit.language.train import base_encoder

    paths = base_encoder()
    got = embedder.embed(SENTENCES)
    model = transformers.BertModel(transformers.BertConfig.from_json_file(str(paths["config"])))
    from safetensors.torch import load_file

    model.load_state_dict(
        {k: v for k, v in load_file(str(paths["weights"])).items() if "position_ids" not in k},
        strict=False,
    )
    feeds = embedder._preprocess(SENTENCES)
    with torch.no_grad():
        hidden = model.eval()(**{k: torch.from_numpy(v) for k, v in feeds.items()})[0].numpy()
    mask = feeds["attention_mask"][:, :, None]
    want = (hidden * mask).sum(1) / mask.sum(1)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert got.shape == (3, 384)
    assert np.abs(got - want).max() < 1e-4


def test_similar_sentences_are_closer(embedder):
    e = embedder.embed(SENTENCES)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > 0.5 > e[0] @ e[2]
    assert np.allclose(embed(SENTENCES[0]), e[:1], atol=1e-5)


def test_embed_bad_input(embedder):
    for bad in ([], "", [" "], [b"\xff"], 3):
        with pytest.raises(InvalidInput):
            embedder.embed(bad)


def test_tokenize():
    tokens = tokenize("Velmorite is rare!")
    assert tokens.tokens[-1] == "!" and tokens.offsets[-2] == (13, 17)
    assert len(tokenize("Velmorite is rare!", add_special_tokens=True)) == len(tokens) + 2
    with pytest.raises(InvalidInput):
        tokenize(b"\xff\xfe")


def test_fp16_weights_package_keeps_the_embeddings(embedder, tmp_path):
    """float16 weights behind casts halve the package; compute stays float32."""
    from sensekit.language import TextEmbedder
    from sensekit.tools.compress import compress

    report = compress(
        embedder.model, "fp16", tmp_path / "e16.skmodel", repeats=1, weights_only=True
    )
    assert report.size_after < 0.55 * report.size_before
    texts = [
        "The ferry crosses in forty minutes.",
        "Storms close the harbour in winter.",
        "A cup of coffee with milk, please.",
    ]
    a, b = embedder.embed(texts), TextEmbedder.from_model(report.path).embed(texts)
    assert float(np.min(np.sum(a * b, axis=1))) > 0.9999
