"""Sentence embeddings: mean pooling over the attention mask, then L2 norm (all-MiniLM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sensekit.core.blocks import TextPreprocess
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.tasks import Task, cached_default
from sensekit.language.text_input import check_text, tokenizer_of

DEFAULT_MODEL = "minilm-embed"


@dataclass(frozen=True)
class EmbedOptions:
    """Options of :class:`TextEmbedder`.

    Attributes:
        normalize: L2-normalize each embedding (cosine similarity = dot product).
        batch_size: texts per model run.
        max_chars: longer texts are rejected (they are truncated to the model's tokens).
    """

    normalize: bool = True
    batch_size: int = 32
    max_chars: int = 100_000

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be a positive int, not {value!r}")


class TextEmbedder(Task):
    """Embeds texts with an encoder package (postprocess kind "embedding")."""

    MANIFEST_TASKS = ("text-embedding",)
    Options = EmbedOptions
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(self, model: Model, options: EmbedOptions | None = None) -> None:
        super().__init__(model, options)
        post = model.manifest.postprocess
        text = model.manifest.inputs.get("")
        if not isinstance(text, TextPreprocess) or post.get("kind") != "embedding":
            raise InvalidInput(f"Model {model.name!r} is not a text embedding model")
        self.tokenizer = tokenizer_of(model)
        self.tokenizer.enable_truncation(text.max_seq_len)
        self._inputs = list(text.inputs)
        self._output = post.get("output", "last_hidden_state")

    def _preprocess(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        arrays = {
            n: np.zeros((len(texts), width), np.int64)
            for n in ("input_ids", "attention_mask", "token_type_ids")
        }
        for row, e in enumerate(encodings):
            arrays["input_ids"][row, : len(e.ids)] = e.ids
            arrays["attention_mask"][row, : len(e.ids)] = 1
            arrays["token_type_ids"][row, : len(e.ids)] = e.type_ids
        return {n: arrays[n] for n in self._inputs}

    def _forward(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.model.predict(feeds, outputs=[self._output])[self._output]

    def _postprocess(self, hidden: np.ndarray, mask: np.ndarray, normalize: bool) -> np.ndarray:
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        if normalize:
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)

    def embed(self, texts: str | list[str], **overrides: Any) -> np.ndarray:
        """Embeddings [N, D] of ``texts`` (one text gives [1, D])."""
        options = self.resolve(overrides)
        if isinstance(texts, (str, bytes)):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not texts:
            raise InvalidInput("embed takes a text or a non-empty list of texts")
        texts = [check_text(t, "text", options.max_chars) for t in texts]
        rows = []
        for i in range(0, len(texts), options.batch_size):
            feeds = self._preprocess(texts[i : i + options.batch_size])
            hidden = self._forward(feeds)
            rows.append(self._postprocess(hidden, feeds["attention_mask"], options.normalize))
        return np.concatenate(rows)

    __call__ = embed


def embed(texts: str | list[str], model: str = DEFAULT_MODEL, **options: Any) -> np.ndarray:
    """Sentence embeddings [N, D] with a shared default encoder (L2-normalized).

    Args:
        texts: one text or a list of texts.
        model: zoo name or package path.
        **options: :class:`EmbedOptions` fields (normalize, batch_size).
    """
    embedder = cached_default(("embed", str(model)), lambda: TextEmbedder.from_model(model))
    return embedder.embed(texts, **options)
