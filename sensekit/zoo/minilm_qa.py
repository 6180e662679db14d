"""minilm-qa: all-MiniLM-L6-v2 fine-tuned by sensekit for extractive QA (SQuAD v2 style).

The base encoder comes from the pinned registry package (see :mod:`minilm_embed`); the
parameters sensekit trained (the six encoder layers + span head, fp16, made by
``python scripts/train_qa.py``) ship in ``zoo/data/minilm_qa.safetensors``. The
build overlays them on the base encoder, exports ONNX with the transformers converter
(verified against PyTorch) and, when training found the dev F1 within a point of fp32,
quantizes the graph to int8 (dynamic); the int8 graph is checked against fp32 too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sensekit.core.errors import ConversionError
from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.zoo.minilm_embed import ENCODER_SOURCES, hf_directory

NAME = "minilm-qa"
TRAINED = "minilm_qa.safetensors"  # in sensekit/zoo/data
TRAINED_INFO = "minilm_qa.json"  # sha256 of TRAINED, quantization choice, dev scores
MAX_SEQ_LEN = 384  # default window; the position table allows 512
INT8_TOLERANCE = 2.0  # max abs logit difference int8 vs fp32 accepted at build time


def trained_info() -> dict[str, Any]:
    """The training record, after checking the shipped weights against it."""
    from sensekit.zoo import trained_record

    return trained_record(TRAINED, TRAINED_INFO)


def overlay(directory: Path, trained: Path) -> None:
    """Rewrites the transformers model in ``directory`` as BertForQuestionAnswering with
    the trained parameters laid over the base encoder."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForQuestionAnswering

    config = BertConfig.from_json_file(str(directory / "config.json"))
    config.architectures = ["BertForQuestionAnswering"]
    model = BertForQuestionAnswering(config)
    base = {
        f"bert.{k}": v
        for k, v in load_file(str(directory / "model.safetensors")).items()
        if "position_ids" not in k and not k.startswith("pooler.")
    }
    delta = {k: v.float() for k, v in load_file(str(trained)).items()}
    state = model.state_dict()
    unknown = set(delta) - set(state)
    missing = set(state) - set(base) - set(delta)
    if unknown or missing:
        raise ConversionError(
            f"trained weights do not fit the base encoder: unknown "
            f"{sorted(unknown)[:5]}, missing {sorted(missing)[:5]}"
        )
    with torch.no_grad():
        model.load_state_dict({**base, **delta}, strict=True)
    (directory / "model.safetensors").unlink()
    model.eval().save_pretrained(str(directory))


def quantize_int8(fp32: Path, out: Path, inputs: list[str], weights: str = "uint8") -> float:
    """Dynamic int8 quantization with ``weights`` ("int8" or "uint8", see
    ``accelerate.cpu.int8_weights``); returns the max abs logit difference to fp32."""
    import numpy as np

    from sensekit.tools.compress import graph as compress_graph
    from sensekit.tools.convert.verify import run_onnx

    # Without VNNI, int8 weights make ONNX Runtime's u8s8 MatMulInteger saturate, which
    # cost 9 dev F1 points here (uint8: 0.5); with VNNI they are exact and 2.2x faster.
    compress_graph.int8_dynamic(fp32, out, weight_type=weights)
    rng = np.random.default_rng(0)
    feeds = {
        "input_ids": rng.integers(1000, 30000, (2, 64)),
        "attention_mask": np.ones((2, 64), np.int64),
        "token_type_ids": np.repeat((np.arange(64) >= 16)[None].astype(np.int64), 2, 0),
    }
    feeds = {n: feeds[n].astype(np.int64) for n in inputs}
    diff = max(
        float(np.abs(a - b).max()) for a, b in zip(run_onnx(fp32, feeds), run_onnx(out, feeds))
    )
    if diff > INT8_TOLERANCE:
        raise ConversionError(f"int8 graph differs from fp32 by {diff:.3f} logits")
    return diff


def _build(ctx: BuildContext) -> None:
    from sensekit.core.package import write_package
    from sensekit.tools.convert.transformers_hf import convert_transformers
    from sensekit.zoo import data_file

    info = trained_info()
    manifest = ctx.manifest(graphs={"main": "model.onnx"})
    with tempfile.TemporaryDirectory() as work, write_package(ctx.destination, manifest) as writer:
        directory = Path(work) / "hf"
        directory.mkdir()
        paths = hf_directory(ctx, directory)
        ctx.progress("applying trained weights")
        overlay(directory, data_file(TRAINED))
        ctx.progress("exporting ONNX")
        fp32 = Path(work) / "model_fp32.onnx"
        result = convert_transformers(directory, fp32)
        conversion = {
            "from": "transformers",
            "max_abs_diff": result["max_abs_diff"],
            "architecture": result["architecture"],
        }
        if info.get("quantize") == "int8":
            from sensekit.accelerate import cpu

            weights = cpu.int8_weights()
            ctx.progress(f"quantizing int8 ({weights} weights for this {cpu.info().kind} CPU)")
            diff = quantize_int8(fp32, writer.dir / "model.onnx", result["inputs"], weights)
            conversion.update(
                quantization="int8-dynamic",
                int8_max_abs_diff=diff,
                int8=cpu.int8_record(weights),
            )
        else:
            writer.add_file("model.onnx", fp32)
        writer.add_file("tokenizer.json", paths["tokenizer"])
        manifest.update(
            source={
                **ctx.used_sources,
                "trained": {
                    "file": f"sensekit/zoo/data/{TRAINED}",
                    "sha256": info["sha256"],
                    "base_sha256": ENCODER_SOURCES["weights"][0].sha256,
                    "recipe": "python scripts/train_qa.py",
                },
            },
            preprocess={
                **result["preprocess"],
                "tokenizer": "tokenizer.json",
                "default_max_seq_len": MAX_SEQ_LEN,
            },
            postprocess={
                **result["postprocess"],
                "cls_index": 0,
                "null_offset": info.get("null_offset", 0.0),
                "length_decay": info.get("length_decay", 0.0),
            },
            conversion=conversion,
            training={k: info[k] for k in ("dev", "long_dev", "squad_dev", "data") if k in info},
        )


RECIPE = register(
    Recipe(
        name=NAME,
        task="question-answering",
        summary="all-MiniLM-L6-v2 fine-tuned by sensekit on SQuAD v1.1 + its own no-answer and "
        "long-document data (extractive QA)",
        license="Apache-2.0",
        sources=ENCODER_SOURCES,
        build=_build,
        requires=("torch", "transformers", "safetensors", "onnxruntime"),
        # 2: int8 weights fitted to the CPU, recorded; 3: eager attention export;
        # 4: trained on SQuAD v1.1 + own data, length_decay calibrated
        revision=4,
    )
)
