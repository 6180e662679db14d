"""Typed manifest blocks: how a package's inputs are made (timm's ``PretrainedCfg``).

A package's ``preprocess`` block says how raw input becomes the graph's tensors. The
blocks below are parsed and checked when a package opens (a malformed one is a
``ModelIntegrityError`` then, not a ``KeyError`` at the first call), and they hold the
one copy of every default: task code reads fields, never string keys with fallbacks.

    image: ImagePreprocess (pose packages: one per graph, "detector" and "landmarks")
    text:  TextPreprocess
    audio: LogMelPatches (YAMNet), WhisperLogMel (Whisper), AudioChunks (Silero VAD),
           by the block's ``features``
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from sensekit.core.errors import ModelIntegrityError

# rotated_roi: the landmark stage of a pose package, warped from the detector's rotated box
RESIZE_MODES = ("scale_fill", "scale_fit", "center_crop", "rotated_roi")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area")


def _number(value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ModelIntegrityError(f"{where} must be a number in [{low}, {high}], not {value!r}")
    return float(value)


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ModelIntegrityError(f"{where} must be one of {choices}, not {value!r}")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ModelIntegrityError(f"{where} must be a non-empty string, not {value!r}")
    return value


def _triple(value: Any, where: str) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ModelIntegrityError(f"{where} must be three numbers (one per channel)")
    return tuple(_number(v, where) for v in value)  # type: ignore[return-value]


def _unknown(block: dict[str, Any], cls: type, where: str, also: tuple[str, ...] = ()) -> None:
    known = {f.name for f in fields(cls)} | {"kind", *also}
    unknown = set(block) - known
    if unknown:
        raise ModelIntegrityError(f"{where}: unknown key(s) {sorted(unknown)}")


@dataclass(frozen=True)
class ImagePreprocess:
    """An image becomes the input tensor: fitted to ``size``, scaled, normalized.

    Attributes:
        size: (width, height) of the input tensor, pixels.
        input: the graph input it feeds.
        resize: scale_fill (stretch), scale_fit (letterbox), center_crop, or rotated_roi
            (a pose package's landmark stage: cut from the detector's rotated box).
        crop_fraction: center_crop only: the share of the shorter side kept before resizing.
        interpolation: nearest, bilinear, bicubic or area.
        color: channel order the graph wants, RGB or BGR.
        layout: NCHW or NHWC.
        scale: pixel values are multiplied by this first (1/255: to [0, 1]).
        mean: subtracted per channel after scaling.
        std: divided per channel after the mean.
    """

    size: tuple[int, int]
    input: str = "image"
    resize: str = "scale_fill"
    crop_fraction: float = 0.875
    interpolation: str = "bilinear"
    color: str = "RGB"
    layout: str = "NCHW"
    scale: float = 1 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def parse(cls, block: Any, where: str = "preprocess") -> ImagePreprocess:
        """Checks a decoded block. Raises ModelIntegrityError."""
        if not isinstance(block, dict):
            raise ModelIntegrityError(f"{where} must be an object")
        _unknown(block, cls, where)
        size = block.get("size")
        if (
            not isinstance(size, (list, tuple))
            or len(size) != 2
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 8192 for v in size
            )
        ):
            raise ModelIntegrityError(
                f"{where}.size must be [width, height] in pixels, not {size!r}"
            )
        std = _triple(block.get("std", cls.std), f"{where}.std")
        if 0.0 in std:
            raise ModelIntegrityError(f"{where}.std must not hold a zero")
        return cls(
            size=(size[0], size[1]),
            input=_name(block.get("input", cls.input), f"{where}.input"),
            resize=_choice(block.get("resize", cls.resize), f"{where}.resize", RESIZE_MODES),
            crop_fraction=_number(
                block.get("crop_fraction", cls.crop_fraction), f"{where}.crop_fraction", 0.05, 1.0
            ),
            interpolation=_choice(
                block.get("interpolation", cls.interpolation),
                f"{where}.interpolation",
                INTERPOLATIONS,
            ),
            color=_choice(block.get("color", cls.color), f"{where}.color", ("RGB", "BGR")),
            layout=_choice(block.get("layout", cls.layout), f"{where}.layout", ("NCHW", "NHWC")),
            scale=_number(block.get("scale", cls.scale), f"{where}.scale", 1e-6, 1e6),
            mean=_triple(block.get("mean", cls.mean), f"{where}.mean"),
            std=std,
        )


@dataclass(frozen=True)
class TextPreprocess:
    """Text becomes token ids with the package's tokenizer.

    Attributes:
        tokenizer: the package file holding it (tokenizer.json, or a WordPiece vocab.txt).
        max_seq_len: the longest sequence the graph takes, tokens.
        inputs: the graph inputs fed, in order (input_ids, attention_mask, token_type_ids).
        lowercase: vocab.txt tokenizers only: lower-case the text first.
        default_max_seq_len: the window length used when the caller names none (QA).
    """

    tokenizer: str
    max_seq_len: int = 512
    inputs: tuple[str, ...] = ("input_ids", "attention_mask")
    lowercase: bool = True
    default_max_seq_len: int | None = None

    @classmethod
    def parse(cls, block: Any, where: str = "preprocess") -> TextPreprocess:
        """Checks a decoded block. Raises ModelIntegrityError."""
        if not isinstance(block, dict):
            raise ModelIntegrityError(f"{where} must be an object")
        _unknown(block, cls, where)
        limit = int(
            _number(block.get("max_seq_len", cls.max_seq_len), f"{where}.max_seq_len", 8, 65536)
        )
        inputs = block.get("inputs", list(cls.inputs))
        if not isinstance(inputs, (list, tuple)) or not inputs:
            raise ModelIntegrityError(f"{where}.inputs must be a list of graph input names")
        default = block.get("default_max_seq_len")
        if default is not None:
            default = int(_number(default, f"{where}.default_max_seq_len", 8, limit))
        lowercase = block.get("lowercase", cls.lowercase)
        if not isinstance(lowercase, bool):
            raise ModelIntegrityError(f"{where}.lowercase must be true or false")
        return cls(
            tokenizer=_name(block.get("tokenizer"), f"{where}.tokenizer"),
            max_seq_len=limit,
            inputs=tuple(_name(i, f"{where}.inputs") for i in inputs),
            lowercase=lowercase,
            default_max_seq_len=default,
        )


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelIntegrityError(f"{where} must be an integer in [{low}, {high}], not {value!r}")
    return value


@dataclass(frozen=True)
class LogMelPatches:
    """Audio -> log-mel frames -> fixed patches of frames (YAMNet).

    Attributes:
        sample_rate: Hz the model hears.
        window: STFT frame length, seconds.
        hop: seconds between frames.
        mels: mel bands; fmin / fmax: their range in Hz.
        log_offset: added before the log.
        patch_frames: frames per patch the graph takes; patch_hop_frames: between patches.
        input: the graph input; layout: the patch tensor's axes (N1TF).
        quantization: {scale, zero_point, dtype} of a quantized input, or None.
    """

    sample_rate: int
    window: float
    hop: float
    mels: int
    fmin: float
    fmax: float
    log_offset: float
    patch_frames: int
    patch_hop_frames: int
    input: str = "audio"
    layout: str = "N1TF"
    quantization: dict[str, Any] | None = None
    features: str = "log_mel_frames"

    @classmethod
    def parse(cls, block: dict[str, Any], where: str = "preprocess") -> LogMelPatches:
        _unknown(block, cls, where)
        rate = _int(block.get("sample_rate"), f"{where}.sample_rate", 1000, 384000)
        quant = block.get("quantization")
        if quant is not None and (
            not isinstance(quant, dict) or not {"scale", "zero_point", "dtype"} <= set(quant)
        ):
            raise ModelIntegrityError(f"{where}.quantization needs scale, zero_point and dtype")
        window = _number(block.get("window"), f"{where}.window", 1e-4, 1.0)
        hop = _number(block.get("hop"), f"{where}.hop", 1e-4, window)
        fmin = _number(block.get("fmin"), f"{where}.fmin", 0.0, rate / 2)
        return cls(
            sample_rate=rate,
            window=window,
            hop=hop,
            mels=_int(block.get("mels"), f"{where}.mels", 1, 1024),
            fmin=fmin,
            fmax=_number(block.get("fmax"), f"{where}.fmax", fmin, rate / 2),
            log_offset=_number(block.get("log_offset"), f"{where}.log_offset", 0.0, 1.0),
            patch_frames=_int(block.get("patch_frames"), f"{where}.patch_frames", 1, 100000),
            patch_hop_frames=_int(
                block.get("patch_hop_frames"), f"{where}.patch_hop_frames", 1, 100000
            ),
            input=_name(block.get("input", cls.input), f"{where}.input"),
            layout=_choice(block.get("layout", cls.layout), f"{where}.layout", ("N1TF",)),
            quantization=quant,
        )


@dataclass(frozen=True)
class WhisperLogMel:
    """Audio -> Whisper's log-mel spectrogram of fixed windows.

    Attributes:
        sample_rate: Hz; n_fft: STFT size, samples; hop: samples between frames;
        window_seconds: seconds per window; frames: frames per window.
    """

    sample_rate: int
    n_fft: int
    hop: int
    window_seconds: int
    frames: int
    features: str = "log_mel_whisper"

    @classmethod
    def parse(cls, block: dict[str, Any], where: str = "preprocess") -> WhisperLogMel:
        _unknown(block, cls, where)
        rate = _int(block.get("sample_rate"), f"{where}.sample_rate", 1000, 384000)
        hop = _int(block.get("hop"), f"{where}.hop", 1, 1 << 16)
        seconds = _int(block.get("window_seconds"), f"{where}.window_seconds", 1, 3600)
        frames = _int(block.get("frames"), f"{where}.frames", 1, 1 << 24)
        if frames * hop != seconds * rate:
            raise ModelIntegrityError(
                f"{where}: frames x hop must equal window_seconds x sample_rate"
            )
        return cls(
            sample_rate=rate,
            n_fft=_int(block.get("n_fft"), f"{where}.n_fft", 2, 1 << 16),
            hop=hop,
            window_seconds=seconds,
            frames=frames,
        )


@dataclass(frozen=True)
class AudioChunks:
    """Raw samples in fixed chunks through a recurrent graph (Silero VAD).

    Attributes:
        sample_rate: Hz; chunk: new samples per step; context: samples of the previous
        chunk fed again; state_shape: the recurrent state's shape; input / state / rate:
        graph input names (rate: the sample-rate input, absent once fixed in the graph).
    """

    sample_rate: int
    chunk: int
    context: int
    state_shape: tuple[int, ...]
    input: str
    state: str
    rate: str | None = None
    features: None = None

    @classmethod
    def parse(cls, block: dict[str, Any], where: str = "preprocess") -> AudioChunks:
        _unknown(block, cls, where)
        shape = block.get("state_shape")
        if not isinstance(shape, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape
        ):
            raise ModelIntegrityError(f"{where}.state_shape must be a list of positive integers")
        chunk = _int(block.get("chunk"), f"{where}.chunk", 1, 1 << 20)
        rate = block.get("rate")
        return cls(
            sample_rate=_int(block.get("sample_rate"), f"{where}.sample_rate", 1000, 384000),
            chunk=chunk,
            context=_int(block.get("context", 0), f"{where}.context", 0, chunk),
            state_shape=tuple(shape),
            input=_name(block.get("input"), f"{where}.input"),
            state=_name(block.get("state"), f"{where}.state"),
            rate=None if rate is None else _name(rate, f"{where}.rate"),
        )


AudioFrontEnd = LogMelPatches | WhisperLogMel | AudioChunks
_AUDIO = {"log_mel_frames": LogMelPatches, "log_mel_whisper": WhisperLogMel, None: AudioChunks}

POSE_GRAPHS = ("detector", "landmarks")


def parse_preprocess(block: dict[str, Any]) -> dict[str, Any]:
    """The typed blocks of a ``preprocess`` object by kind: {"": block} for one graph,
    {"detector": ..., "landmarks": ...} for two-stage image packages; {} for kinds sensekit
    has no block for (a converted model's own). Raises ModelIntegrityError."""
    kind = block.get("kind")
    if kind == "image":
        if any(part in block for part in POSE_GRAPHS):
            extra = set(block) - {"kind", *POSE_GRAPHS}
            if extra or not all(part in block for part in POSE_GRAPHS):
                raise ModelIntegrityError(
                    "preprocess of a two-graph image package holds 'detector' and 'landmarks' only"
                )
            return {p: ImagePreprocess.parse(block[p], f"preprocess.{p}") for p in POSE_GRAPHS}
        return {"": ImagePreprocess.parse(block)}
    if kind == "text":
        return {"": TextPreprocess.parse(block)}
    if kind == "audio":
        features = block.get("features")
        if features not in _AUDIO:
            raise ModelIntegrityError(
                f"preprocess.features {features!r} is not one this sensekit reads "
                f"({sorted(k for k in _AUDIO if k)})"
            )
        return {"": _AUDIO[features].parse(block)}
    return {}
