"""CTranslate2 ``model.bin`` -> numpy weights -> Whisper (openai-whisper checkpoint).

The Whisper torch modules and the ONNX export live in :mod:`sensekit.tools.convert.whisper`.

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

MAX_BINARY_VERSION = 6
# Index = CTranslate2's DataType enum (include/ctranslate2/types.h). bfloat16 is
# read as its raw uint16 bits and widened by _bfloat16_to_float32.
_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(t) for t in ("<f4", "i1", "<i2", "<i4", "<f2", "<u2")
)
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
            raise ConversionError(
                f"{self.path} is truncated at byte {self.pos} (wanted "
                f"{size} more bytes); re-download the model"
            )
        view = memoryview(self.data)[self.pos : self.pos + size]
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
        raise ConversionError(
            f"{cursor.path}: variable {name!r} holds {num_bytes} bytes, "
            f"which does not match shape {shape} of {dtype}"
        )
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
        raise ConversionError(
            f"{model_bin}: binary version {version} is not supported "
            f"(1..{MAX_BINARY_VERSION}); is it a CTranslate2 model.bin?"
        )
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
        "n_audio_ctx": int(n_audio_ctx),
        "n_audio_state": int(n_audio_state),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": layers("encoder"),
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(n_text_ctx),
        "n_text_state": int(n_text_state),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": layers("decoder"),
    }


def _linear(v: State, src: str, dst: str) -> State:
    return {
        f"{dst}.weight": dequantized(v, f"{src}/weight"),
        f"{dst}.bias": v[f"{src}/bias"].astype(np.float32),
    }


def _layer_norm(v: State, src: str, dst: str) -> State:
    return {
        f"{dst}.weight": v[f"{src}/gamma"].astype(np.float32),
        f"{dst}.bias": v[f"{src}/beta"].astype(np.float32),
    }


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
        weights = [
            dequantized(v, f"{src}/linear_0/weight"),
            *np.split(dequantized(v, f"{src}/linear_1/weight"), 2),
        ]
        biases = [
            v[f"{src}/linear_0/bias"].astype(np.float32),
            *np.split(v[f"{src}/linear_1/bias"].astype(np.float32), 2),
        ]
        out_src = f"{src}/linear_2"
    state = {
        f"{dst}.query.weight": weights[0],
        f"{dst}.query.bias": biases[0],
        f"{dst}.key.weight": weights[1],
        f"{dst}.value.weight": weights[2],
        f"{dst}.value.bias": biases[2],
    }
    return {**state, **_linear(v, out_src, f"{dst}.out")}


def _block(v: State, src: str, dst: str, cross: bool) -> State:
    state = {
        **_split_attention(v, f"{src}/self_attention", f"{dst}.attn", fused_qkv=True),
        **_layer_norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln"),
        **_linear(v, f"{src}/ffn/linear_0", f"{dst}.mlp.0"),
        **_linear(v, f"{src}/ffn/linear_1", f"{dst}.mlp.2"),
        **_layer_norm(v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln"),
    }
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
    for flag, want in (
        ("decoder/pre_norm", 1),
        ("decoder/scale_embeddings", 0),
        ("decoder/alibi", 0),
        ("decoder/activation", 3),
    ):  # 3 = exact GELU
        if flag in v and int(v[flag]) != want:
            raise ConversionError(f"{flag} = {int(v[flag])}; Whisper needs {want}")
    state = {
        **_linear(v, "encoder/conv1", "encoder.conv1"),
        **_linear(v, "encoder/conv2", "encoder.conv2"),
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"].astype(
            np.float32
        ),
        **_layer_norm(v, "encoder/layer_norm", "encoder.ln_post"),
        "decoder.token_embedding.weight": dequantized(v, "decoder/embeddings/weight"),
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"].astype(
            np.float32
        ),
        **_layer_norm(v, "decoder/layer_norm", "decoder.ln"),
    }
    for i in range(dims["n_audio_layer"]):
        state.update(_block(v, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(dims["n_text_layer"]):
        state.update(_block(v, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True))
    return state


def save_openai_whisper_checkpoint(ct2_dir: str | Path, pt_path: str | Path) -> Path:
    """Writes a ``whisper.load_model(pt_path)``-loadable checkpoint (float16 weights)."""
    try:
        import torch
    except ImportError as e:
        raise ConversionError("Writing a PyTorch checkpoint needs torch: pip install torch") from e
    model = load_ct2_model(ct2_dir)
    state = {
        k: torch.from_numpy(a.astype(np.float16)) for k, a in whisper_state_dict(model).items()
    }
    pt_path = Path(pt_path)
    pt_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": whisper_dims(model), "model_state_dict": state}, pt_path)
    return pt_path
