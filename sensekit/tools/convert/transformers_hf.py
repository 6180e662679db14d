"""Hugging Face transformers directory -> ONNX (torch.onnx), verified against PyTorch.

Supported: ``*ForQuestionAnswering`` models (outputs ``start_logits``, ``end_logits``)
and plain encoders loaded with ``AutoModel`` (output ``last_hidden_state``). Inputs are
``input_ids``, ``attention_mask`` and, when the model's ``forward`` takes them,
``token_type_ids``; batch and sequence axes are dynamic. Tokenizer files are listed so
the caller can copy them into the package.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError
from sensekit.tools.convert.pytorch import convert_pytorch
from sensekit.tools.convert.verify import compare_outputs, run_onnx

TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "merges.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
)
_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
_SAMPLE_SHAPE = (2, 16)  # batch, tokens used for export and verification
_SECOND_SHAPE = (1, 9)  # a second shape proves the dynamic axes work


def is_transformers_dir(path: Path) -> bool:
    return (
        path.is_dir()
        and (path / "config.json").is_file()
        and any((path / name).is_file() for name in _WEIGHT_FILES)
    )


def _load(directory: Path) -> tuple[Any, str]:
    """Loads the model in eval mode; returns (model, "question-answering" | "text-embedding").

    Attention is the eager (matmul + softmax) implementation: exported from PyTorch's
    scaled_dot_product_attention, the graph carries NaN guards (IsNaN + Where) that keep
    ONNX Runtime from fusing attention; the eager export computes the same values (MiniLM
    QA at 384 tokens on an AVX2 EPYC: fp32 91 -> 75 ms with ORT's fusions, int8 79 -> 62 ms).
    """
    from transformers import AutoConfig, AutoModel, AutoModelForQuestionAnswering

    try:
        config = AutoConfig.from_pretrained(directory, local_files_only=True)
        architectures = getattr(config, "architectures", None) or []
        load = {"local_files_only": True, "attn_implementation": "eager"}
        if any(a.endswith("ForQuestionAnswering") for a in architectures):
            model = AutoModelForQuestionAnswering.from_pretrained(directory, **load)
            return model.eval(), "question-answering"
        return AutoModel.from_pretrained(directory, **load).eval(), "text-embedding"
    except Exception as e:
        raise ConversionError(f"transformers cannot load the model in {directory}: {e}") from e


def _input_names(model: Any) -> list[str]:
    params = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in params and getattr(model.config, "type_vocab_size", 1) > 0:
        names.append("token_type_ids")
    return names


def _output_names(task: str) -> list[str]:
    return ["start_logits", "end_logits"] if task == "question-answering" else ["last_hidden_state"]


def _wrapper(model: Any, inputs: list[str], outputs: list[str]) -> Any:
    """An nn.Module taking positional tensors and returning the named outputs as a tuple."""
    import torch

    class Exportable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
            result = self.model(**dict(zip(inputs, tensors)), return_dict=True)
            return tuple(result[name] for name in outputs)

    return Exportable().eval()


def sample_tokens(
    model: Any, names: list[str], shape: tuple[int, int], seed: int = 0
) -> list[np.ndarray]:
    """Random token ids with a padded tail in the last row (exercises the attention mask)."""
    rng = np.random.default_rng(seed)
    _batch, length = shape
    vocab = int(getattr(model.config, "vocab_size", 100))
    ids = rng.integers(5, vocab, size=shape, dtype=np.int64)
    mask = np.ones(shape, np.int64)
    mask[-1, length * 2 // 3 :] = 0
    types = np.zeros(shape, np.int64)
    types[:, length // 2 :] = 1
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return [arrays[n] for n in names]


def _max_seq_len(directory: Path, model: Any) -> int:
    limit = int(getattr(model.config, "max_position_embeddings", 512))
    config = directory / "tokenizer_config.json"
    if config.is_file():
        declared = json.loads(config.read_text(encoding="utf-8")).get("model_max_length")
        if isinstance(declared, int) and 0 < declared < limit:
            limit = declared
    return limit


def convert_transformers(
    directory: str | Path, out_path: str | Path, tolerance: float = 1e-3, opset: int = 17
) -> dict[str, Any]:
    """Exports the model in ``directory`` to ``out_path`` and verifies it on two shapes.

    Returns:
        {"task", "inputs", "outputs", "max_abs_diff", "tokenizer_files" (paths to copy),
        "preprocess", "postprocess"}.

    Raises:
        ConversionError: the model cannot be loaded or exported, or disagrees with PyTorch.
    """
    import torch

    directory = Path(directory)
    model, task = _load(directory)
    inputs, outputs = _input_names(model), _output_names(task)
    module = _wrapper(model, inputs, outputs)
    axes = {n: {0: "batch", 1: "tokens"} for n in inputs + outputs}
    diff = convert_pytorch(
        module,
        sample_tokens(model, inputs, _SAMPLE_SHAPE),
        out_path,
        inputs,
        outputs,
        axes,
        opset=opset,
        tolerance=tolerance,
    )
    second = sample_tokens(model, inputs, _SECOND_SHAPE, seed=1)
    with torch.no_grad():
        expected = [t.numpy() for t in module(*(torch.from_numpy(a) for a in second))]
    actual = run_onnx(out_path, dict(zip(inputs, second)))
    diff = max(diff, compare_outputs(expected, actual, tolerance, type(model).__name__))
    files = [directory / n for n in TOKENIZER_FILES if (directory / n).is_file()]
    tokenizer = next((f.name for f in files if f.name in ("tokenizer.json", "vocab.txt")), None)
    preprocess = {
        "kind": "text",
        "tokenizer": tokenizer,
        "max_seq_len": _max_seq_len(directory, model),
        "inputs": inputs,
    }
    postprocess = (
        {"kind": "span", "start": "start_logits", "end": "end_logits"}
        if task == "question-answering"
        else {"kind": "embedding", "output": "last_hidden_state", "pooling": "mean"}
    )
    return {
        "task": task,
        "inputs": inputs,
        "outputs": outputs,
        "max_abs_diff": diff,
        "tokenizer_files": files,
        "preprocess": preprocess,
        "postprocess": postprocess,
        "architecture": type(model).__name__,
    }
