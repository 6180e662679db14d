"""Whisper as torch modules shaped for ONNX export, built from CTranslate2 weights.

``export_whisper_onnx`` writes ``encoder.onnx`` (mel -> audio features + every decoder
layer's cross-attention K/V) and ``decoder.onnx`` (one step with a self-attention cache,
logits of the last position only); ``quantize_decoder_int8`` makes int8 MatMul weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError
from sensekit.tools.convert.ctranslate2 import (
    load_ct2_model,
    whisper_dims,
    whisper_state_dict,
)

try:  # rebuilding Whisper graphs needs torch; importing this module does not
    import torch
    from torch import nn
    from torch.nn import functional as F

    _Module: type = nn.Module
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None  # type: ignore[assignment]
    _Module = object

# --- Whisper as torch modules shaped for ONNX export -----------------------------------------
# Attribute names match openai-whisper's, so ``whisper_state_dict`` loads with strict=True.


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, T, width] -> [B, heads, T, head_dim]."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


class _Attention(_Module):
    """Multi-head attention; keys/values come in and out as [B, heads, length, head_dim]."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.query, self.value = nn.Linear(width, width), nn.Linear(width, width)
        self.key, self.out = nn.Linear(width, width, bias=False), nn.Linear(width, width)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, width] -> [B, heads, T, head_dim]."""
        return _split_heads(x, self.heads)

    def attend(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        keys_transposed: bool = False,
    ) -> torch.Tensor:
        """``k`` is [B, heads, length, head_dim], or [B, heads, head_dim, length] with
        ``keys_transposed`` (the cross-attention keys, laid out once by the encoder)."""
        q = self.split(self.query(x))
        if self.scale != 1.0:
            q = q * self.scale
        scores = q @ (k if keys_transposed else k.transpose(-1, -2))
        if mask is not None:
            scores = scores + mask
        out = scores.softmax(-1) @ v
        return self.out(out.transpose(1, 2).flatten(2))


def _fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, scale: float
) -> torch.Tensor:
    """Unmasked attention of [B, T, width] queries, keys and values, scores scaled by
    ``scale``; exported as one ``com.microsoft::MultiHeadAttention`` node (ONNX Runtime
    contrib op).

    ORT's fused kernel ran a 1500-position, 6-head layer in 34 ms where the exported
    MatMul / Softmax / Transpose chain took 45 ms (2 cores)."""
    return _MultiHeadAttention.apply(q, k, v, heads, scale)


if torch is not None:

    class _MultiHeadAttention(torch.autograd.Function):
        @staticmethod
        def forward(
            ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, scale: float
        ) -> torch.Tensor:
            scores = _split_heads(q, heads) @ _split_heads(k, heads).transpose(-1, -2) * scale
            out = scores.softmax(-1) @ _split_heads(v, heads)
            return out.transpose(1, 2).flatten(2)

        @staticmethod
        def symbolic(g: Any, q: Any, k: Any, v: Any, heads: int, scale: float) -> Any:
            out = g.op(
                "com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads, scale_f=scale
            )
            out.setType(q.type())  # same shape and type as the queries
            return out


class _Block(_Module):
    """Pre-LayerNorm residual block: self-attention, [cross-attention,] GELU MLP."""

    def __init__(self, width: int, heads: int, cross: bool) -> None:
        super().__init__()
        self.attn, self.attn_ln = _Attention(width, heads), nn.LayerNorm(width)
        if cross:
            self.cross_attn, self.cross_attn_ln = _Attention(width, heads), nn.LayerNorm(width)
        hidden = 4 * width
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.mlp_ln = nn.LayerNorm(width)

    def self_attention(
        self,
        x: torch.Tensor,
        past_k: torch.Tensor | None = None,
        past_v: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """x + self-attention(ln(x)); returns (x, keys, values) with the past prepended."""
        h = self.attn_ln(x)
        k, v = self.attn.split(self.attn.key(h)), self.attn.split(self.attn.value(h))
        if past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        return x + self.attn.attend(h, k, v, mask), k, v


class _Encoder(_Module):
    def __init__(self, d: dict[str, int]) -> None:
        super().__init__()
        width = d["n_audio_state"]
        self.conv1 = nn.Conv1d(d["n_mels"], width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", torch.zeros(d["n_audio_ctx"], width))
        self.blocks = nn.ModuleList(
            _Block(width, d["n_audio_head"], cross=False) for _ in range(d["n_audio_layer"])
        )
        self.ln_post = nn.LayerNorm(width)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        x = x + self.positional_embedding
        for block in self.blocks:
            a, h = block.attn, block.attn_ln(x)
            x = x + a.out(_fused_attention(a.query(h), a.key(h), a.value(h), a.heads, a.scale))
            x = x + block.mlp(block.mlp_ln(x))
        return self.ln_post(x)


class _Decoder(_Module):
    def __init__(self, d: dict[str, int]) -> None:
        super().__init__()
        width = d["n_text_state"]
        self.token_embedding = nn.Embedding(d["n_vocab"], width)
        self.positional_embedding = nn.Parameter(torch.zeros(d["n_text_ctx"], width))
        self.blocks = nn.ModuleList(
            _Block(width, d["n_text_head"], cross=True) for _ in range(d["n_text_layer"])
        )
        self.ln = nn.LayerNorm(width)


class _Whisper(_Module):
    """openai-whisper's module tree (``encoder.*``, ``decoder.*``), for ``load_state_dict``."""

    def __init__(self, dims: dict[str, int]) -> None:
        super().__init__()
        self.encoder, self.decoder = _Encoder(dims), _Decoder(dims)


class _EncoderGraph(_Module):
    """mel [B, n_mels, 3000] -> audio features, then cross-attention K and V of each layer.

    K leaves already transposed ([B, H, D, S]): every decoder step multiplies by it, and
    ORT transposed the 1500-long keys of each layer on every step (QK^T took twice as
    long as attention x V)."""

    def __init__(self, whisper: _Whisper) -> None:
        super().__init__()
        self.encoder, self.blocks = whisper.encoder, whisper.decoder.blocks

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.encoder(mel)
        cross = [
            (a.split(a.key(features)).transpose(-1, -2), a.split(a.value(features)))
            for a in (block.cross_attn for block in self.blocks)
        ]
        return features, *(t for kv in cross for t in kv)


class _DecoderGraph(_Module):
    """One decoding step with a self-attention cache; see export_whisper_onnx for the I/O.

    K/V travel as one input per layer: slicing a stacked [layers, ...] tensor costs ORT a
    copy of every layer's 1500-long cross K/V per step (it was ~25% of a step).
    """

    def __init__(self, whisper: _Whisper) -> None:
        super().__init__()
        decoder = whisper.decoder
        self.blocks, self.ln = decoder.blocks, decoder.ln
        self.positional_embedding = decoder.positional_embedding
        # One [width, vocab] copy serves both the token lookup (Gather on axis 1) and the
        # output projection, so the exported graph stores the 51k x width table once.
        self.embedding_t = nn.Parameter(decoder.token_embedding.weight.detach().t().contiguous())

    def forward(self, tokens: torch.Tensor, *caches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """tokens [B, T], then (cross_k, cross_v, past_k, past_v) of each layer in turn."""
        steps, past = tokens.shape[1], caches[2].shape[2]
        positions = torch.arange(steps, dtype=torch.int64) + past
        x = self.embedding_t.index_select(1, tokens.flatten()).t()
        x = x.reshape(tokens.shape[0], steps, -1)
        x = x + self.positional_embedding.index_select(0, positions)
        # New token i (absolute position past + i) may not see keys after itself.
        key_positions = torch.arange(past + steps, dtype=torch.int64)
        mask = torch.where(key_positions[None, :] > positions[:, None], float("-inf"), 0.0).to(
            x.dtype
        )
        present: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            cross_k, cross_v, past_k, past_v = caches[4 * i : 4 * i + 4]
            x, k, v = block.self_attention(x, past_k, past_v, mask)
            present += [k, v]
            x = x + block.cross_attn.attend(
                block.cross_attn_ln(x), cross_k, cross_v, keys_transposed=True
            )
            x = x + block.mlp(block.mlp_ln(x))
        # Only the last position's logits are ever used: projecting every position onto the
        # 51k-token vocabulary would dominate multi-token steps (prompts) for nothing.
        return self.ln(x[:, -1:]) @ self.embedding_t, *present


# --- ONNX export ---------------------------------------------------------------------------

N_FRAMES = 3000  # log-mel frames in Whisper's 30 s window (10 ms hop)


def whisper_io_names(layers: int) -> dict[str, dict[str, list[str]]]:
    """Input and output names of encoder.onnx and decoder.onnx for ``layers`` layers."""
    per_layer = range(layers)
    cross = [f"cross_{kv}_{i}" for i in per_layer for kv in "kv"]
    past = [f"past_{kv}_{i}" for i in per_layer for kv in "kv"]
    decoder_inputs = ["tokens"] + [
        name
        for i in per_layer
        for name in (f"cross_k_{i}", f"cross_v_{i}", f"past_k_{i}", f"past_v_{i}")
    ]
    return {
        "encoder": {"input_names": ["mel"], "output_names": ["audio_features", *cross]},
        "decoder": {
            "input_names": decoder_inputs,
            "output_names": ["logits", *(n.replace("past", "present") for n in past)],
        },
    }


def build_whisper_torch(ct2_dir: str | Path) -> tuple[Any, dict[str, int]]:
    """The CTranslate2 Whisper model as an eval-mode torch module tree, and its dims.

    1/sqrt(head_dim) is folded into the query projections: a scaled MatMul becomes ORT's
    FusedMatMul, which took 2.5x as long as a plain MatMul on the decoder's cross keys."""
    if torch is None:
        raise ConversionError("Exporting Whisper to ONNX needs torch: pip install torch")
    ct2 = load_ct2_model(ct2_dir)
    dims = whisper_dims(ct2)
    whisper = _Whisper(dims).eval()
    state = {k: torch.from_numpy(a.copy()) for k, a in whisper_state_dict(ct2).items()}
    whisper.load_state_dict(state, strict=True)
    with torch.no_grad():  # fold 1/sqrt(head_dim) into the query projections
        for attention in (m for m in whisper.modules() if isinstance(m, _Attention)):
            attention.query.weight.mul_(attention.scale)
            attention.query.bias.mul_(attention.scale)
            attention.scale = 1.0
    return whisper, dims


def _decoder_examples(
    dims: dict[str, int], batch: int, steps: int, past: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Random decoder inputs in input order; the cache holds ``past`` positions."""
    heads = dims["n_text_head"]
    head_dim = dims["n_text_state"] // heads

    def kv(length: int, transposed: bool = False) -> np.ndarray:
        shape = (batch, heads, head_dim, length) if transposed else (batch, heads, length, head_dim)
        return rng.standard_normal(shape, dtype=np.float32)

    tokens = rng.integers(0, dims["n_vocab"], (batch, steps), dtype=np.int64)
    audio = dims["n_audio_ctx"]
    return [tokens] + [
        array
        for _ in range(dims["n_text_layer"])
        for array in (kv(audio, transposed=True), kv(audio), kv(past), kv(past))
    ]


def _verify_decoder(graph: Any, path: Path, dims: dict[str, int], tolerance: float) -> float:
    """Checks the decoder on an empty cache (first step), beams, and a multi-token step."""
    from sensekit.tools.convert.verify import compare_outputs, run_onnx

    names = whisper_io_names(dims["n_text_layer"])["decoder"]["input_names"]
    rng, worst = np.random.default_rng(1), 0.0
    for batch, steps, past in ((1, 3, 0), (3, 1, 17), (2, 5, 4)):
        feeds = _decoder_examples(dims, batch, steps, past, rng)
        with torch.no_grad():
            expected = [t.numpy() for t in graph(*map(torch.from_numpy, feeds))]
        actual = run_onnx(path, dict(zip(names, feeds, strict=True)))
        worst = max(
            worst,
            compare_outputs(
                expected, actual, tolerance, f"decoder (B={batch}, T={steps}, past={past})"
            ),
        )
    return worst


def _dynamic_axes(io: dict[str, list[str]]) -> dict[str, dict[int, str]]:
    """Batch everywhere; steps on tokens/logits, lengths on the self-attention caches.

    Cross K/V get their own batch name: batch 1 broadcasts against B beams (folding the
    beams into the rows of one product per head measured 9 % slower at 5 beams).
    """
    axes: dict[str, dict[int, str]] = {}
    for name in io["input_names"] + io["output_names"]:
        if name in ("mel", "audio_features"):
            axes[name] = {0: "batch"}
        elif name == "tokens":
            axes[name] = {0: "batch", 1: "steps"}
        elif name == "logits":
            axes[name] = {0: "batch"}
        elif name.startswith("cross_"):
            axes[name] = {0: "batch" if "mel" in io["input_names"] else "cross_batch"}
        else:
            axes[name] = {0: "batch", 2: "past" if name.startswith("past") else "total"}
    return axes


def export_whisper_onnx(
    ct2_dir: str | Path, out_dir: str | Path, opset: int = 17, tolerance: float = 1e-3
) -> dict[str, Any]:
    """Exports a CTranslate2 Whisper model to ``encoder.onnx`` + ``decoder.onnx`` (float32).

    Shapes, with L layers, H heads, D = width / H, S = 1500 audio positions:

    encoder.onnx: ``mel`` f32 [B, n_mels, 3000] -> ``audio_features`` f32 [B, S, width],
    then ``cross_k_{i}`` f32 [B, H, D, S] (transposed) and ``cross_v_{i}`` f32
    [B, H, S, D] for i in 0..L-1.

    decoder.onnx: ``tokens`` i64 [B, T], then per layer ``cross_k_{i}``, ``cross_v_{i}``
    (batch 1 broadcasts against B beams), ``past_k_{i}``, ``past_v_{i}`` f32 [B, H, P, D]
    (P = 0 on the first step; the first new token sits at position P) ->
    ``logits`` f32 [B, 1, vocab] (last position), then ``present_k_{i}``, ``present_v_{i}``
    [B, H, P+T, D].

    Returns:
        {"encoder": path, "decoder": path, "dims": ..., "io": whisper_io_names(L),
        "max_abs_diff": {"encoder": .., "decoder": ..}} (ONNX Runtime vs the torch modules).

    Raises:
        ConversionError: reading, export or verification failed.
    """
    from sensekit.tools.convert.pytorch import convert_pytorch

    whisper, dims = build_whisper_torch(ct2_dir)
    io = whisper_io_names(dims["n_text_layer"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((1, dims["n_mels"], N_FRAMES), dtype=np.float32)
    paths = {"encoder": out_dir / "encoder.onnx", "decoder": out_dir / "decoder.onnx"}
    encoder_diff = convert_pytorch(
        _EncoderGraph(whisper),
        [mel],
        paths["encoder"],
        **io["encoder"],
        dynamic_axes=_dynamic_axes(io["encoder"]),
        opset=opset,
        tolerance=tolerance,
    )
    decoder = _DecoderGraph(whisper).eval()
    # Trace with a non-empty cache and T > 1 so no size is specialised to 0 or 1.
    decoder_diff = convert_pytorch(
        decoder,
        _decoder_examples(dims, 2, 3, 5, rng),
        paths["decoder"],
        **io["decoder"],
        dynamic_axes=_dynamic_axes(io["decoder"]),
        opset=opset,
        tolerance=tolerance,
    )
    decoder_diff = max(decoder_diff, _verify_decoder(decoder, paths["decoder"], dims, tolerance))
    return {
        **paths,
        "dims": dims,
        "io": io,
        "max_abs_diff": {"encoder": encoder_diff, "decoder": decoder_diff},
    }


def quantize_encoder_int8(
    encoder_path: str | Path, out_path: str | Path, mel: np.ndarray, keep_float: int = 3
) -> dict[str, Any]:
    """Dynamic int8 (per-channel uint8) of the encoder's MatMul weights, with the
    ``keep_float`` layers whose quantization moves the outputs most on ``mel``
    [n_mels, 3000] left in float32.

    Per-tensor int8 moved the cross-attention K/V by up to 14; per channel by 0.9, most of
    it from one layer (the last block's MLP output in tiny.en). Keeping only that layer
    in float32 gave equal or lower WER on the long clip of bench/speech.py but lost two
    words on 12 short espeak sentences; keeping the three most sensitive gave exactly the
    float32 transcripts of those sentences.
    """
    from sensekit.tools.compress import graph as compress_graph

    feeds = [{"mel": np.asarray(mel, np.float32)[None]}]
    errors = compress_graph.int8_sensitivity(Path(encoder_path), feeds)
    kept = sorted(errors, key=errors.__getitem__, reverse=True)[:keep_float]
    compress_graph.int8_dynamic(
        Path(encoder_path),
        Path(out_path),
        weight_type="uint8",
        per_channel=True,
        op_types=["MatMul"],
        exclude=kept,
    )
    return {"float32_layers": kept, "layer_errors": {k: float(errors[k]) for k in kept}}


def quantize_decoder_int8(decoder_path: str | Path, out_path: str | Path) -> Path:
    """Dynamic int8 quantization of the decoder's MatMul weights (ONNX Runtime).

    The vocabulary projection dominates a decoding step on CPU; int8 weights cut its
    memory traffic by 4. The float table stays for the token lookup (Gather).
    """
    from sensekit.tools.compress import graph as compress_graph

    compress_graph.int8_dynamic(
        Path(decoder_path), Path(out_path), weight_type="int8", op_types=["MatMul"]
    )
    return Path(out_path)
