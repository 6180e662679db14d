"""Language: extractive question answering, sentence embeddings and tokenization.

``language.answer(question, document)`` finds the answer span in a document of any
length; ``language.embed(texts)`` gives sentence embeddings; ``language.tokenize(text)``
the model's tokens; ``language.train_qa(...)`` fine-tunes the QA model (needs torch).
"""

from sensekit.language.embed import EmbedOptions, TextEmbedder, embed
from sensekit.language.qa import AnswerOptions, QuestionAnswerer, answer
from sensekit.language.text_input import TokenizedText, tokenize


def train_qa(*args, **kwargs):
    """Fine-tunes a QA model; see :func:`sensekit.language.train.train_qa`."""
    from sensekit.language.train import train_qa as _train_qa

    return _train_qa(*args, **kwargs)


__all__ = [
    "AnswerOptions",
    "EmbedOptions",
    "QuestionAnswerer",
    "TextEmbedder",
    "TokenizedText",
    "answer",
    "embed",
    "tokenize",
    "train_qa",
]
