"""Generates the bad-input corpus: images, audio and text that every entry point must survive.

Each case is (name, value, kwargs): ``value`` is what the entry point receives (a path,
bytes, array or object) and ``kwargs`` extra keyword arguments (e.g. a sample rate).
Nothing is hand-listed per entry point: the same generated inputs go to every entry
point of a kind, and the valid controls are mixed in to show the harness can pass.
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

Case = tuple[str, Any, dict[str, Any]]


def _png(array: np.ndarray, **params: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, **params).save(buffer, format="PNG")
    return buffer.getvalue()


def _png16(array: np.ndarray) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError("cv2 could not encode a 16-bit PNG")
    return encoded.tobytes()


def _jpeg(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _huge_png(width: int, height: int) -> bytes:
    """A tiny file that claims width x height pixels (a decompression bomb)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def _mutations(name: str, data: bytes, rng: np.random.Generator) -> Iterator[tuple[str, bytes]]:
    for fraction in (0.0, 0.01, 0.1, 0.5, 0.9, 0.99):
        yield f"{name}_truncated_{int(fraction * 100)}pct", data[: int(len(data) * fraction)]
    for flips in (1, 16, 256):
        damaged = bytearray(data)
        positions = rng.integers(0, len(damaged), flips)
        damaged_arr = np.frombuffer(damaged, np.uint8).copy()
        damaged_arr[positions] ^= rng.integers(1, 256, flips, dtype=np.uint8)
        yield f"{name}_bitflips_{flips}", damaged_arr.tobytes()
    yield f"{name}_header_only", data[:64]
    yield f"{name}_garbage_after_header", data[:32] + rng.bytes(4096)


def image_cases(workdir: Path, seed: int = 0) -> list[Case]:
    """Bad (and a few valid) images as files, bytes, arrays and other objects."""
    rng = np.random.default_rng(seed)
    photo = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    blobs: list[tuple[str, bytes]] = [
        ("empty", b""),
        ("text", b"hello, I am not an image\n" * 20),
        ("random_bytes", rng.bytes(5000)),
        ("bomb_20000x20000_png", _huge_png(20000, 20000)),
        ("bomb_60000x60000_png", _huge_png(60000, 60000)),
    ]
    for name, encoded in (("jpeg", _jpeg(photo)), ("png", _png(photo))):
        blobs.extend(_mutations(name, encoded, rng))
    valid = [
        ("valid_1x1_png", _png(np.zeros((1, 1, 3), np.uint8))),
        ("valid_gray_png", _png(photo[:, :, 0])),
        ("valid_rgba_png", _png(np.dstack([photo, photo[:, :, :1]]))),
        ("valid_16bit_png", _png16(photo[:, :, 0].astype(np.uint16) * 257)),
        ("valid_jpeg", _jpeg(photo)),
    ]
    cases: list[Case] = []
    for name, data in blobs + valid:
        for suffix in (".jpg", ".png"):
            path = workdir / f"img_{name}{suffix}"
            path.write_bytes(data)
            cases.append((f"file:{name}{suffix}", str(path), {}))
        cases.append((f"bytes:{name}", data, {}))
    arrays = {
        "nan_float": np.full((32, 32, 3), np.nan, np.float32),
        "inf_float": np.full((32, 32, 3), np.inf, np.float32),
        "empty_0x0": np.zeros((0, 0, 3), np.uint8),
        "empty_rows": np.zeros((0, 10, 3), np.uint8),
        "one_d": np.zeros(100, np.uint8),
        "four_d": np.zeros((1, 2, 32, 32), np.uint8),
        "five_channels": np.zeros((32, 32, 5), np.uint8),
        "complex": np.zeros((32, 32, 3), np.complex64),
        "object": np.full((4, 4, 3), None),
        "strings": np.full((4, 4, 3), "x"),
        "int64_out_of_range": np.full((8, 8, 3), 10**12),
        "negative_float": np.full((8, 8, 3), -5.0, np.float32),
        "valid_float01": rng.random((40, 40, 3)).astype(np.float32),
        "valid_bool": rng.random((40, 40)) > 0.5,
        "valid_1x1": np.zeros((1, 1, 3), np.uint8),
        "valid_tall_1x4000": np.zeros((4000, 1, 3), np.uint8),
    }
    cases += [(f"array:{k}", v, {}) for k, v in arrays.items()]
    directory = workdir / "a_directory.jpg"
    directory.mkdir(exist_ok=True)
    cases += [
        ("obj:none", None, {}),
        ("obj:int", 42, {}),
        ("obj:dict", {"a": 1}, {}),
        ("obj:list", [[1, 2], [3, 4]], {}),
        ("path:missing", str(workdir / "nope.jpg"), {}),
        ("path:directory", str(directory), {}),
        ("path:empty_string", "", {}),
    ]
    return cases


def _wav_bytes(samples: np.ndarray, rate: int, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _soundfile_bytes(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    subtype = "VORBIS" if fmt == "OGG" else None
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def audio_cases(workdir: Path, seed: int = 0) -> list[Case]:
    """Bad (and a few valid) audio as files, bytes and arrays with sample rates."""
    rng = np.random.default_rng(seed)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    blobs: list[tuple[str, str, bytes]] = [
        ("empty", ".wav", b""),
        ("text", ".wav", b"RIFF? no, just text\n" * 30),
        ("random", ".flac", rng.bytes(4000)),
        ("random", ".ogg", rng.bytes(4000)),
        ("wav_zero_frames", ".wav", _wav_bytes(np.zeros(0), 16000)),
        ("wav_one_frame", ".wav", _wav_bytes(np.zeros(1), 16000)),
    ]
    encoded = {
        ".wav": _wav_bytes(tone, 16000),
        ".flac": _soundfile_bytes(tone, 16000, "FLAC"),
        ".ogg": _soundfile_bytes(tone, 16000, "OGG"),
    }
    for suffix, data in encoded.items():
        blobs += [(name, suffix, blob) for name, blob in _mutations(suffix[1:], data, rng)]
        blobs.append((f"valid_{suffix[1:]}", suffix, data))
    cases: list[Case] = []
    for name, suffix, data in blobs:
        path = workdir / f"snd_{name}{suffix}"
        path.write_bytes(data)
        cases.append((f"file:{name}{suffix}", str(path), {}))
        cases.append((f"bytes:{name}{suffix}", data, {}))
    arrays: dict[str, tuple[Any, int | None]] = {
        "zero_samples": (np.zeros(0, np.float32), 16000),
        "one_sample": (np.zeros(1, np.float32), 16000),
        "nan": (np.full(16000, np.nan, np.float32), 16000),
        "inf": (np.full(16000, np.inf, np.float32), 16000),
        "partly_nan": (np.where(np.arange(16000) % 100 == 0, np.nan, tone), 16000),
        "three_d": (np.zeros((2, 2, 16000), np.float32), 16000),
        "complex": (np.zeros(16000, np.complex64), 16000),
        "object": (np.full(10, None), 16000),
        "strings": (np.full(100, "a"), 16000),
        "rate_zero": (tone, 0),
        "rate_negative": (tone, -16000),
        "rate_none": (tone, None),
        "rate_float_nan": (tone, float("nan")),
        "huge_values": (tone * 1e9, 16000),
        "valid_int16": ((tone * 20000).astype(np.int16), 16000),
        "valid_stereo_rows": (np.stack([tone, tone]), 16000),
        "valid_stereo_cols": (np.stack([tone, tone], axis=1), 16000),
        "valid_8k": (tone[::2], 8000),
        "valid_48k": (np.repeat(tone, 3), 48000),
        "valid_96k": (np.repeat(tone, 6), 96000),
        "valid_silence": (np.zeros(32000, np.float32), 16000),
    }
    cases += [(f"array:{k}", v, {"sample_rate": r}) for k, (v, r) in arrays.items()]
    directory = workdir / "a_directory.wav"
    directory.mkdir(exist_ok=True)
    cases += [
        ("obj:none", None, {}),
        ("obj:int", 7, {}),
        ("obj:list_of_str", ["a", "b"], {}),
        ("path:missing", str(workdir / "nope.wav"), {}),
        ("path:directory", str(directory), {}),
    ]
    return cases


def text_cases(seed: int = 0) -> list[Case]:
    """(question, document) pairs for language.answer: empty, huge, non-UTF-8, odd types."""
    rng = np.random.default_rng(seed)
    document = (
        "The Corvell lighthouse was built in 1874 by the engineer Tamsin Hale. It stands "
        "forty metres tall on the northern cape of Aldery Island."
    )
    five_mb = (document + " ") * (5 * 1024 * 1024 // (len(document) + 1))
    docs: dict[str, Any] = {
        "empty": "",
        "whitespace": " \n\t  \r\n",
        "nul_bytes": "\x00" * 100,
        "non_utf8_bytes": b"\xff\xfe\x80 caf\xe9 \xc3\x28" * 10,
        "valid_utf8_bytes": document.encode(),
        "five_mb": five_mb,
        "emoji": "\U0001f600 " * 500,
        "punctuation": "!?.,;:" * 300,
        "random_unicode": "".join(chr(int(c)) for c in rng.integers(0x20, 0xD7FF, 3000)),
        "none": None,
        "int": 12345,
        "list": ["a", "b"],
        "valid": document,
        "one_word": "lighthouse",
        "rtl": "\u05e9\u05dc\u05d5\u05dd " * 200,
    }
    questions: dict[str, Any] = {
        "valid": "Who built the lighthouse?",
        "empty": "",
        "whitespace": "   ",
        "none": None,
        "long": "why " * 5000,
        "non_utf8": b"\xff\xfe who?",
        "int": 3,
    }
    cases: list[Case] = [
        (f"doc:{k}", ("Who built the lighthouse?", v), {}) for k, v in docs.items()
    ]
    cases += [(f"question:{k}", (v, document), {}) for k, v in questions.items() if k != "valid"]
    return cases


def long_silence_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    """Writes a long silent 16-bit wav in blocks (never the whole signal in memory)."""
    block = np.zeros(rate * 60, "<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        remaining = int(seconds * rate)
        while remaining > 0:
            count = min(remaining, rate * 60)
            out.writeframes(block[: count * 2])
            remaining -= count
    return path


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        counts = {
            "image": len(image_cases(Path(tmp))),
            "audio": len(audio_cases(Path(tmp))),
            "text": len(text_cases()),
        }
    print(counts, "total", sum(counts.values()), os.getpid())
