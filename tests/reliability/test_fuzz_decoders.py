"""Bounded fuzzing of the image and audio decoders (hypothesis).

Small valid JPEG, PNG, WAV, FLAC and OGG files are generated here, then mutated (byte
flips, boundary integers written over the format's size/rate/dimension fields or anywhere
in the header, truncation, insertion, deletion, duplication of a span).
``vision.image_input.load_image``, ``core.audio.load_audio`` (bytes and file paths) and
``core.audio.iter_audio_blocks`` must return a well-formed array or raise
``InvalidInput`` with a message: never another exception.

A file whose header claims an implausible sample rate must be refused too
(``test_file_header_rate_is_checked``): before that check a 2**31-1 Hz header raised
MemoryError in the resampler and a 100 Hz one upsampled 160x.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import tempfile

import numpy as np
import pytest
import summary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensekit.core.audio import iter_audio_blocks, load_audio
from sensekit.core.errors import InvalidInput
from sensekit.vision.image_input import load_image

EXAMPLES = int(200 * float(os.environ.get("SENSEKIT_SOAK_SCALE", "1")))
_FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
HEADER = 64  # the first bytes, where formats keep sizes, rates and counts
BOUNDARY_INTS = (0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
OUTCOMES: dict[str, dict[str, int]] = {}


@functools.lru_cache(maxsize=1)
def image_seeds() -> dict[str, bytes]:
    """A 48x64 RGB picture (gradients + noise) as JPEG and PNG, and a gray PNG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:64]
    rgb = np.dstack([x * 4, y * 5, (x + y) * 2]).astype(np.uint8)
    rgb = np.clip(rgb + rng.integers(0, 30, rgb.shape), 0, 255).astype(np.uint8)
    seeds = {}
    for name, array, fmt in (
        ("jpeg", rgb, "JPEG"),
        ("png", rgb, "PNG"),
        ("gray_png", rgb[:, :, 0], "PNG"),
    ):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=fmt)
        seeds[name] = buffer.getvalue()
    return seeds


@functools.lru_cache(maxsize=1)
def audio_seeds() -> dict[str, bytes]:
    """0.25 s of a chirp at 16 kHz as WAV (16-bit mono, 8-bit stereo), FLAC and OGG."""
    import soundfile

    t = np.arange(4000) / 16000
    tone = (0.4 * np.sin(2 * np.pi * (300 + 2000 * t) * t)).astype(np.float32)
    seeds = {}
    for name, samples, fmt, subtype in (
        ("wav", tone, "WAV", "PCM_16"),
        ("wav_u8_stereo", np.stack([tone, -tone], 1), "WAV", "PCM_U8"),
        ("flac", tone, "FLAC", "PCM_16"),
        ("ogg", tone, "OGG", "VORBIS"),
    ):
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, 16000, format=fmt, subtype=subtype)
        seeds[name] = buffer.getvalue()
    return seeds


@functools.lru_cache(maxsize=1)
def seed_fields() -> dict[str, tuple[int, ...]]:
    """Byte offsets of each seed's size, rate, channel and dimension fields."""
    wav = (4, 16, 20, 22, 24, 28, 32, 34, 40)  # RIFF size, fmt: size, format, channels,
    #                                            rate, byte rate, block align, bits; data size
    png = (8, 16, 20, 24, 25)  # IHDR length, width, height, depth, color type
    sof = image_seeds()["jpeg"].find(b"\xff\xc0")
    return {
        "wav": wav,
        "wav_u8_stereo": wav,
        "png": png,
        "gray_png": png,
        "jpeg": (sof + 2, sof + 5, sof + 7, sof + 9),  # SOF0 length, height, width, comps
        "flac": (8, 10, 12, 15, 18, 20),  # STREAMINFO block sizes, frame
        #                                               sizes, rate/channels/bits
        "ogg": (39, 40, 44, 48, 52),
    }  # vorbis channels, rate, bitrates


@st.composite
def mutated(draw: st.DrawFn, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """One seed file with 1-6 random mutations, half of them aimed at the header."""
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        limit = len(data) - 1
        fields = [f for f in seed_fields()[name] if f <= limit]
        pos = (
            draw(
                st.sampled_from(fields) | st.integers(0, min(HEADER, limit)) | st.integers(0, limit)
            )
            if fields
            else draw(st.integers(0, limit))
        )
        op = draw(st.sampled_from(["flip", "int", "truncate", "insert", "delete", "duplicate"]))
        if op == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "int":
            fmt = draw(st.sampled_from(["<I", ">I", "<H", ">H"]))
            value = draw(st.sampled_from(BOUNDARY_INTS)) & (0xFFFF if "H" in fmt else 0xFFFFFFFF)
            packed = struct.pack(fmt, value)
            data[pos : pos + len(packed)] = packed
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 256))]
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 512))]
    return name, bytes(data)


def _count(target: str, outcome: str) -> None:
    counts = OUTCOMES.setdefault(target, {})
    counts[outcome] = counts.get(outcome, 0) + 1
    if sum(counts.values()) == EXAMPLES:  # report each target once, when it is done
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        summary.note(f"fuzz {target}: {EXAMPLES} mutated files, no other exception [{kinds}]")


def _check_image(image: np.ndarray) -> None:
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] >= 1 and image.shape[1] >= 1


def _check_audio(samples: np.ndarray) -> None:
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert np.all(np.isfinite(samples))


@_FUZZ
@given(mutated(image_seeds()))
def test_load_image_on_mutated_files(case):
    _, data = case
    try:
        _check_image(load_image(data))
        _count("load_image", "ok")
    except InvalidInput as e:
        assert str(e)
        _count("load_image", "InvalidInput")


@_FUZZ
@given(mutated(audio_seeds()))
def test_load_audio_on_mutated_bytes(case):
    _, data = case
    try:
        _check_audio(load_audio(data))
        _count("load_audio(bytes)", "ok")
    except InvalidInput as e:
        assert str(e)
        _count("load_audio(bytes)", "InvalidInput")


@_FUZZ
@given(mutated(audio_seeds()))
def test_audio_file_readers_on_mutated_files(case):
    """load_audio on a path and iter_audio_blocks (the long-file reader)."""
    name, data = case
    with tempfile.NamedTemporaryFile(suffix="." + name.split("_")[0]) as handle:
        handle.write(data)
        handle.flush()
        outcomes = []
        for read in (
            lambda: load_audio(handle.name),
            lambda: np.concatenate(
                list(iter_audio_blocks(handle.name, 0.1)) or [np.zeros(0, np.float32)]
            ),
        ):
            try:
                _check_audio(read())
                outcomes.append("ok")
            except InvalidInput as e:
                assert str(e)
                outcomes.append("InvalidInput")
    _count("load_audio(path)+blocks", "/".join(outcomes))


@pytest.mark.parametrize("rate", [100, 0x7FFFFFFF])
def test_file_header_rate_is_checked(rate):
    data = bytearray(audio_seeds()["wav"])
    data[24:28] = struct.pack("<I", rate)
    with pytest.raises(InvalidInput, match=r"(?i)sample rate in the file's header"):
        load_audio(bytes(data))
    with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
        handle.write(bytes(data))
        handle.flush()
        with pytest.raises(InvalidInput, match=r"(?i)sample rate in the header"):
            next(iter_audio_blocks(handle.name, 1.0))
