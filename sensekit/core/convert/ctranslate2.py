"""CTranslate2 ``model.bin`` -> numpy weights -> Whisper (openai-whisper checkpoint, ONNX).

The reader needs numpy only. The file layout, from CTranslate2's
``specs/model_spec.py::_serialize`` (writer) and ``src/models/model.cc`` (reader),
all little-endian, strings as ``uint16 length`` + UTF-8 bytes + ``\\0`` (length counts
the ``\\0``)::

    uint32 binary_version            (6 today; >= 2 has the two fields below)
    string spec_name                 ("WhisperSpec")
    uint32 spec_revision             (3 for Whisper)
    uint32 num_variables
      string name                    (scope joined by "/", e.g. "encoder/conv1/weight")
      uint8  rank, uint32 dims[rank]
      uint8  dtype_id                 (version >= 4: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16)
      uint32 num_bytes, bytes data    (version <= 3: uint8 item_size, uint8 is_real,
                                       uint32 num_items instead of the two fields)
    uint32 num_aliases                (version >= 3)
      string alias, string target     (e.g. decoder/projection/weight -> decoder/embeddings/weight)

Quantized checkpoints store ``<name>_scale`` next to an int8/int16 ``weight``; the
float weight is ``weight / scale`` (scale per output row for int8, scalar for int16).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import ConversionError

try:  # The reader needs numpy only; rebuilding Whisper graphs needs torch.
    import torch
    from torch import nn
    from torch.nn import functional as F
    _Module: type = nn.Module
except ImportError:  # pragma: no cover - exercised only without torch
    torch = None  # type: ignore[assignment]
    _Module = object

MAX_BINARY_VERSION = 6
# Index = CTranslate2's DataType enum (include/ctranslate2/types.h). bfloat16 is
# read as its raw uint16 bits and widened by _bfloat16_to_float32.
_DTYPES: tuple[np.dtype, ...] = tuple(np.dtype(t) for t in
                                      ("<f4", "i1", "<i2", "<i4", "<f2", "<u2"))
_BFLOAT16_ID = 5
_SCALED_ITEM_DTYPES = {(4, 1): 0, (1, 0): 1, (2, 0): 2, (4, 0): 3, (2, 1): 4}


@dataclass(frozen=True)
class CT2Model:
    """The content of a CTranslate2 model directory.

    Attributes:
        spec: specification name written by the converter, e.g. "WhisperSpec".
        revision: revision of that specification.
        binary_version: version of the ``model.bin`` layout.
        variables: every variable by name, aliases resolved to their target array.
        aliases: alias name -> target name, as stored in the file.
        config: the parsed ``config.json`` ({} when the directory has none).
    """

    spec: str
    revision: int
    binary_version: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


class _Cursor:
    """Sequential little-endian reads over a bytes buffer, with bound checks."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, size: int) -> memoryview:
        if self.pos + size > len(self.data):
            raise ConversionError(f"{self.path} is truncated at byte {self.pos} (wanted "
                                  f"{size} more bytes); re-download the model")
        view = memoryview(self.data)[self.pos:self.pos + size]
        self.pos += size
        return view

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (length,) = self.unpack("H")
        return bytes(self.take(length)).rstrip(b"\0").decode("utf-8")


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: shift the raw bits left by 16."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _read_variable(cursor: _Cursor, version: int) -> tuple[str, np.ndarray]:
    name = cursor.string()
    (rank,) = cursor.unpack("B")
    shape = cursor.unpack(f"{rank}I")
    if version >= 4:
        dtype_id, num_bytes = cursor.unpack("BI")
    else:
        item_size, is_real, num_items = cursor.unpack("BBI")
        dtype_id = _SCALED_ITEM_DTYPES.get((item_size, is_real), -1)
        num_bytes = num_items * item_size
    if not 0 <= dtype_id < len(_DTYPES):
        raise ConversionError(f"{cursor.path}: variable {name!r} has unknown dtype id {dtype_id}")
    dtype = _DTYPES[dtype_id]
    if num_bytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise ConversionError(f"{cursor.path}: variable {name!r} holds {num_bytes} bytes, "
                              f"which does not match shape {shape} of {dtype}")
    array = np.frombuffer(cursor.take(num_bytes), dtype=dtype).reshape(shape)
    return name, _bfloat16_to_float32(array) if dtype_id == _BFLOAT16_ID else array


def load_ct2_model(path: str | Path) -> CT2Model:
    """Reads a CTranslate2 ``model.bin`` (or the directory holding it) with numpy.

    Arrays are read-only views of the file buffer, in their stored dtype.

    Raises:
        ConversionError: the file is missing, truncated or of an unknown layout version.
    """
    path = Path(path)
    model_bin = path / "model.bin" if path.is_dir() else path
    try:
        data = model_bin.read_bytes()
    except OSError as e:
        raise ConversionError(f"Cannot read the CTranslate2 model {model_bin}: {e}") from e
    cursor = _Cursor(data, model_bin)
    (version,) = cursor.unpack("I")
    if not 1 <= version <= MAX_BINARY_VERSION:
        raise ConversionError(f"{model_bin}: binary version {version} is not supported "
                              f"(1..{MAX_BINARY_VERSION}); is it a CTranslate2 model.bin?")
    spec, revision = (cursor.string(), *cursor.unpack("I")) if version >= 2 else ("", 1)
    (count,) = cursor.unpack("I")
    variables = dict(_read_variable(cursor, version) for _ in range(count))
    aliases: dict[str, str] = {}
    if version >= 3:
        (num_aliases,) = cursor.unpack("I")
        aliases = {cursor.string(): cursor.string() for _ in range(num_aliases)}
    for alias, target in aliases.items():
        if target not in variables:
            raise ConversionError(f"{model_bin}: alias {alias!r} points to missing {target!r}")
        variables[alias] = variables[target]
    config_file = model_bin.parent / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    return CT2Model(spec, revision, version, variables, aliases, config)


def read_ct2_model(path: str | Path) -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 model by name, aliases resolved (see load_ct2_model)."""
    return load_ct2_model(path).variables


def dequantized(variables: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Variable ``name`` as float32, undoing CTranslate2's int8/int16 weight quantization."""
    value = variables[name]
    if value.dtype.kind == "f":
        return value.astype(np.float32)
    scale = variables.get(f"{name}_scale")
    if scale is None:
        raise ConversionError(f"Variable {name!r} is {value.dtype} without a {name}_scale")
    scale = scale.astype(np.float32)
    return value.astype(np.float32) / (scale[:, None] if scale.ndim == 1 else scale)


# --- Whisper: CTranslate2 names -> openai-whisper checkpoint -------------------------------

WHISPER_SPEC = "WhisperSpec"
State = dict[str, np.ndarray]  # openai-whisper parameter name -> array


def whisper_dims(model: CT2Model) -> dict[str, int]:
    """openai-whisper's ``ModelDimensions`` (as a dict) of a CTranslate2 Whisper model."""
    if model.spec != WHISPER_SPEC:
        raise ConversionError(f"Expected a {WHISPER_SPEC} model, got {model.spec!r}")
    try:
        return _whisper_dims(model.variables)
    except KeyError as e:
        raise ConversionError(f"The CTranslate2 Whisper model lacks variable {e}") from e


def _whisper_dims(v: State) -> dict[str, int]:

    def layers(stack: str) -> int:
        return len({m.group(1) for n in v if (m := re.match(rf"{stack}/layer_(\d+)/", n))})

    n_audio_ctx, n_audio_state = v["encoder/position_encodings/encodings"].shape
    n_text_ctx, n_text_state = v["decoder/position_encodings/encodings"].shape
    return {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(n_audio_ctx), "n_audio_state": int(n_audio_state),
        "n_audio_head": int(v["encoder/num_heads"]), "n_audio_layer": layers("encoder"),
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(n_text_ctx), "n_text_state": int(n_text_state),
        "n_text_head": int(v["decoder/num_heads"]), "n_text_layer": layers("decoder"),
    }


def _linear(v: State, src: str, dst: str) -> State:
    return {f"{dst}.weight": dequantized(v, f"{src}/weight"),
            f"{dst}.bias": v[f"{src}/bias"].astype(np.float32)}


def _layer_norm(v: State, src: str, dst: str) -> State:
    return {f"{dst}.weight": v[f"{src}/gamma"].astype(np.float32),
            f"{dst}.bias": v[f"{src}/beta"].astype(np.float32)}


def _split_attention(v: State, src: str, dst: str, fused_qkv: bool) -> State:
    """Splits CTranslate2's fused projections into query/key/value/out.

    Self-attention fuses Q,K,V into ``linear_0`` and projects with ``linear_1``;
    cross-attention has Q in ``linear_0``, fused K,V in ``linear_1``, out in ``linear_2``.
    Whisper's key has no bias: the fused bias holds zeros there, and a key bias would
    not change softmax(q.k) anyway (it adds the same q.b to every key), so it is dropped.
    """
    if fused_qkv:
        weights = np.split(dequantized(v, f"{src}/linear_0/weight"), 3)
        biases = np.split(v[f"{src}/linear_0/bias"].astype(np.float32), 3)
        out_src = f"{src}/linear_1"
    else:
        weights = [dequantized(v, f"{src}/linear_0/weight"),
                   *np.split(dequantized(v, f"{src}/linear_1/weight"), 2)]
        biases = [v[f"{src}/linear_0/bias"].astype(np.float32),
                  *np.split(v[f"{src}/linear_1/bias"].astype(np.float32), 2)]
        out_src = f"{src}/linear_2"
    state = {f"{dst}.query.weight": weights[0], f"{dst}.query.bias": biases[0],
             f"{dst}.key.weight": weights[1],
             f"{dst}.value.weight": weights[2], f"{dst}.value.bias": biases[2]}
    return {**state, **_linear(v, out_src, f"{dst}.out")}


def _block(v: State, src: str, dst: str, cross: bool) -> State:
    state = {**_split_attention(v, f"{src}/self_attention", f"{dst}.attn", fused_qkv=True),
             **_layer_norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln"),
             **_linear(v, f"{src}/ffn/linear_0", f"{dst}.mlp.0"),
             **_linear(v, f"{src}/ffn/linear_1", f"{dst}.mlp.2"),
             **_layer_norm(v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")}
    if cross:
        state.update(_split_attention(v, f"{src}/attention", f"{dst}.cross_attn", False))
        state.update(_layer_norm(v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln"))
    return state


def whisper_state_dict(model: CT2Model) -> State:
    """Weights of a CTranslate2 Whisper model under openai-whisper's names, float32.

    Raises:
        ConversionError: not a Whisper model, a variable is missing, or a flag differs.
    """
    try:
        return _whisper_state_dict(model)
    except KeyError as e:
        raise ConversionError(f"The CTranslate2 Whisper model lacks variable {e}") from e


def _whisper_state_dict(model: CT2Model) -> State:
    dims, v = whisper_dims(model), model.variables
    for flag, want in (("decoder/pre_norm", 1), ("decoder/scale_embeddings", 0),
                       ("decoder/alibi", 0), ("decoder/activation", 3)):  # 3 = exact GELU
        if flag in v and int(v[flag]) != want:
            raise ConversionError(f"{flag} = {int(v[flag])}; Whisper needs {want}")
    state = {**_linear(v, "encoder/conv1", "encoder.conv1"),
             **_linear(v, "encoder/conv2", "encoder.conv2"),
             "encoder.positional_embedding":
                 v["encoder/position_encodings/encodings"].astype(np.float32),
             **_layer_norm(v, "encoder/layer_norm", "encoder.ln_post"),
             "decoder.token_embedding.weight": dequantized(v, "decoder/embeddings/weight"),
             "decoder.positional_embedding":
                 v["decoder/position_encodings/encodings"].astype(np.float32),
             **_layer_norm(v, "decoder/layer_norm", "decoder.ln")}
    for i in range(dims["n_audio_layer"]):
        state.update(_block(v, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(dims["n_text_layer"]):
        state.update(_block(v, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True))
    return state


def save_openai_whisper_checkpoint(ct2_dir: str | Path, pt_path: str | Path) -> Path:
    """Writes a ``whisper.load_model(pt_path)``-loadable checkpoint (float16 weights)."""
    if torch is None:
        raise ConversionError("Writing a PyTorch checkpoint needs torch: pip install torch")
    model = load_ct2_model(ct2_dir)
    state = {k: torch.from_numpy(a.astype(np.float16)) for k, a in
             whisper_state_dict(model).items()}
    pt_path = Path(pt_path)
    pt_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": whisper_dims(model), "model_state_dict": state}, pt_path)
    return pt_path


# --- Whisper as torch modules shaped for ONNX export -----------------------------------------
# Attribute names match openai-whisper's, so ``whisper_state_dict`` loads with strict=True.


class _Attention(_Module):
    """Multi-head attention; keys/values come in and out as [B, heads, length, head_dim]."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.query, self.value = nn.Linear(width, width), nn.Linear(width, width)
        self.key, self.out = nn.Linear(width, width, bias=False), nn.Linear(width, width)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, width] -> [B, heads, T, head_dim]."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self.split(self.query(x)) * self.scale
        scores = q @ k.transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        out = scores.softmax(-1) @ v
        return self.out(out.transpose(1, 2).flatten(2))


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

    def self_attention(self, x: torch.Tensor, past_k: torch.Tensor | None = None,
                       past_v: torch.Tensor | None = None,
                       mask: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
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
        self.blocks = nn.ModuleList(_Block(width, d["n_audio_head"], cross=False)
                                    for _ in range(d["n_audio_layer"]))
        self.ln_post = nn.LayerNorm(width)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        x = x + self.positional_embedding
        for block in self.blocks:
            x, _, _ = block.self_attention(x)
            x = x + block.mlp(block.mlp_ln(x))
        return self.ln_post(x)


class _Decoder(_Module):
    def __init__(self, d: dict[str, int]) -> None:
        super().__init__()
        width = d["n_text_state"]
        self.token_embedding = nn.Embedding(d["n_vocab"], width)
        self.positional_embedding = nn.Parameter(torch.zeros(d["n_text_ctx"], width))
        self.blocks = nn.ModuleList(_Block(width, d["n_text_head"], cross=True)
                                    for _ in range(d["n_text_layer"]))
        self.ln = nn.LayerNorm(width)


class _Whisper(_Module):
    """openai-whisper's module tree (``encoder.*``, ``decoder.*``), for ``load_state_dict``."""

    def __init__(self, dims: dict[str, int]) -> None:
        super().__init__()
        self.encoder, self.decoder = _Encoder(dims), _Decoder(dims)


class _EncoderGraph(_Module):
    """mel [B, n_mels, 3000] -> audio features, then cross-attention K and V of each layer."""

    def __init__(self, whisper: _Whisper) -> None:
        super().__init__()
        self.encoder, self.blocks = whisper.encoder, whisper.decoder.blocks

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.encoder(mel)
        cross = [(a.split(a.key(features)), a.split(a.value(features)))
                 for a in (block.cross_attn for block in self.blocks)]
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
        mask = torch.where(key_positions[None, :] > positions[:, None],
                           float("-inf"), 0.0).to(x.dtype)
        present: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            cross_k, cross_v, past_k, past_v = caches[4 * i:4 * i + 4]
            x, k, v = block.self_attention(x, past_k, past_v, mask)
            present += [k, v]
            x = x + block.cross_attn.attend(block.cross_attn_ln(x), cross_k, cross_v)
            x = x + block.mlp(block.mlp_ln(x))
        return self.ln(x) @ self.embedding_t, *present


# --- ONNX export ---------------------------------------------------------------------------

N_FRAMES = 3000  # log-mel frames in Whisper's 30 s window (10 ms hop)


def whisper_io_names(layers: int) -> dict[str, dict[str, list[str]]]:
    """Input and output names of encoder.onnx and decoder.onnx for ``layers`` layers."""
    per_layer = range(layers)
    cross = [f"cross_{kv}_{i}" for i in per_layer for kv in "kv"]
    past = [f"past_{kv}_{i}" for i in per_layer for kv in "kv"]
    decoder_inputs = ["tokens"] + [name for i in per_layer for name in
                                   (f"cross_k_{i}", f"cross_v_{i}", f"past_k_{i}", f"past_v_{i}")]
    return {"encoder": {"input_names": ["mel"], "output_names": ["audio_features", *cross]},
            "decoder": {"input_names": decoder_inputs,
                        "output_names": ["logits", *(n.replace("past", "present") for n in past)]}}


def build_whisper_torch(ct2_dir: str | Path) -> tuple[Any, dict[str, int]]:
    """The CTranslate2 Whisper model as an eval-mode torch module tree, and its dims."""
    if torch is None:
        raise ConversionError("Exporting Whisper to ONNX needs torch: pip install torch")
    ct2 = load_ct2_model(ct2_dir)
    dims = whisper_dims(ct2)
    whisper = _Whisper(dims).eval()
    state = {k: torch.from_numpy(a.copy()) for k, a in whisper_state_dict(ct2).items()}
    whisper.load_state_dict(state, strict=True)
    return whisper, dims


def _decoder_examples(dims: dict[str, int], batch: int, steps: int, past: int,
                      rng: np.random.Generator) -> list[np.ndarray]:
    """Random decoder inputs in input order; the cache holds ``past`` positions."""
    heads = dims["n_text_head"]
    head_dim = dims["n_text_state"] // heads

    def kv(length: int) -> np.ndarray:
        return rng.standard_normal((batch, heads, length, head_dim), dtype=np.float32)

    tokens = rng.integers(0, dims["n_vocab"], (batch, steps), dtype=np.int64)
    audio = dims["n_audio_ctx"]
    return [tokens] + [kv(n) for _ in range(dims["n_text_layer"])
                       for n in (audio, audio, past, past)]


def _verify_decoder(graph: Any, path: Path, dims: dict[str, int], tolerance: float) -> float:
    """Checks the decoder on an empty cache (first step), beams, and a multi-token step."""
    from sensekit.core.convert.verify import compare_outputs, run_onnx

    names = whisper_io_names(dims["n_text_layer"])["decoder"]["input_names"]
    rng, worst = np.random.default_rng(1), 0.0
    for batch, steps, past in ((1, 3, 0), (3, 1, 17), (2, 5, 4)):
        feeds = _decoder_examples(dims, batch, steps, past, rng)
        with torch.no_grad():
            expected = [t.numpy() for t in graph(*map(torch.from_numpy, feeds))]
        actual = run_onnx(path, dict(zip(names, feeds, strict=True)))
        worst = max(worst, compare_outputs(expected, actual, tolerance,
                                           f"decoder (B={batch}, T={steps}, past={past})"))
    return worst


def _dynamic_axes(io: dict[str, list[str]]) -> dict[str, dict[int, str]]:
    """Batch everywhere; steps on tokens/logits, lengths on the self-attention caches.

    Cross K/V get their own batch name: batch 1 broadcasts against B beams.
    """
    axes: dict[str, dict[int, str]] = {}
    for name in io["input_names"] + io["output_names"]:
        if name in ("mel", "audio_features"):
            axes[name] = {0: "batch"}
        elif name in ("tokens", "logits"):
            axes[name] = {0: "batch", 1: "steps"}
        elif name.startswith("cross_"):
            axes[name] = {0: "batch" if "mel" in io["input_names"] else "cross_batch"}
        else:
            axes[name] = {0: "batch", 2: "past" if name.startswith("past") else "total"}
    return axes


def export_whisper_onnx(ct2_dir: str | Path, out_dir: str | Path, opset: int = 17,
                        tolerance: float = 1e-3) -> dict[str, Any]:
    """Exports a CTranslate2 Whisper model to ``encoder.onnx`` + ``decoder.onnx`` (float32).

    Shapes, with L layers, H heads, D = width / H, S = 1500 audio positions:

    encoder.onnx: ``mel`` f32 [B, n_mels, 3000] -> ``audio_features`` f32 [B, S, width],
    then ``cross_k_{i}``, ``cross_v_{i}`` f32 [B, H, S, D] for i in 0..L-1.

    decoder.onnx: ``tokens`` i64 [B, T], then per layer ``cross_k_{i}``, ``cross_v_{i}``
    (batch 1 broadcasts against B beams), ``past_k_{i}``, ``past_v_{i}`` f32 [B, H, P, D]
    (P = 0 on the first step; the first new token sits at position P) ->
    ``logits`` f32 [B, T, vocab], then ``present_k_{i}``, ``present_v_{i}`` [B, H, P+T, D].

    Returns:
        {"encoder": path, "decoder": path, "dims": ..., "io": whisper_io_names(L),
        "max_abs_diff": {"encoder": .., "decoder": ..}} (ONNX Runtime vs the torch modules).

    Raises:
        ConversionError: reading, export or verification failed.
    """
    from sensekit.core.convert.pytorch import convert_pytorch

    whisper, dims = build_whisper_torch(ct2_dir)
    io = whisper_io_names(dims["n_text_layer"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((1, dims["n_mels"], N_FRAMES), dtype=np.float32)
    paths = {"encoder": out_dir / "encoder.onnx", "decoder": out_dir / "decoder.onnx"}
    encoder_diff = convert_pytorch(_EncoderGraph(whisper), [mel], paths["encoder"],
                                   **io["encoder"], dynamic_axes=_dynamic_axes(io["encoder"]),
                                   opset=opset, tolerance=tolerance)
    decoder = _DecoderGraph(whisper).eval()
    # Trace with a non-empty cache and T > 1 so no size is specialised to 0 or 1.
    decoder_diff = convert_pytorch(decoder, _decoder_examples(dims, 2, 3, 5, rng),
                                   paths["decoder"], **io["decoder"],
                                   dynamic_axes=_dynamic_axes(io["decoder"]),
                                   opset=opset, tolerance=tolerance)
    decoder_diff = max(decoder_diff, _verify_decoder(decoder, paths["decoder"], dims, tolerance))
    return {**paths, "dims": dims, "io": io,
            "max_abs_diff": {"encoder": encoder_diff, "decoder": decoder_diff}}


def quantize_decoder_int8(decoder_path: str | Path, out_path: str | Path) -> Path:
    """Dynamic int8 quantization of the decoder's MatMul weights (ONNX Runtime).

    The vocabulary projection dominates a decoding step on CPU; int8 weights cut its
    memory traffic by 4. The float table stays for the token lookup (Gather).
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(decoder_path), str(out_path), op_types_to_quantize=["MatMul"],
                         weight_type=QuantType.QInt8)
    except Exception as e:
        raise ConversionError(f"int8 quantization of {decoder_path} failed: {e}") from e
    return Path(out_path)
