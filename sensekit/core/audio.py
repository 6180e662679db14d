"""Audio input shared by the sound and speech domains.

:func:`load_audio` turns a path (wav, flac, ogg/oga via soundfile), encoded bytes, or a
sample array with its rate into mono float32 at the rate a model wants. Long files can
be read in bounded memory with :func:`iter_audio_blocks`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.accelerate import dsp
from sensekit.core.errors import InvalidInput

AudioInput = str | os.PathLike | bytes | bytearray | memoryview | np.ndarray | list
DEFAULT_RATE = 16_000  # Hz; every audio model of the zoo runs at 16 kHz
MIN_RATE, MAX_RATE = 1_000, 384_000  # Hz; outside this a "sample rate" is a mistake
_FLOAT_KINDS = ("f",)
_INT_KINDS = ("i", "u")


def _check_rate(rate: Any, what: str) -> int:
    if (
        isinstance(rate, bool)
        or not isinstance(rate, (int, np.integer, float, np.floating))
        or not np.isfinite(rate)
        or int(rate) != rate
        or not MIN_RATE <= int(rate) <= MAX_RATE
    ):
        raise InvalidInput(
            f"{what} must be an integer number of Hz in [{MIN_RATE}, {MAX_RATE}], not {rate!r}"
        )
    return int(rate)


def _decode(source: Any) -> tuple[np.ndarray, int]:
    """Reads a file path or encoded bytes with soundfile; returns (samples, rate)."""
    import soundfile

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"Audio file not found: {str(path)!r}")
        handle: Any = str(path)
        what = f"file {path.name!r}"
    else:
        if len(source) == 0:
            raise InvalidInput("Audio bytes are empty")
        handle = io.BytesIO(bytes(source))
        what = "audio bytes"
    try:
        samples, rate = soundfile.read(handle, dtype="float32", always_2d=False)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise InvalidInput(f"Cannot decode {what} as audio (wav, flac, ogg): {e}") from e
    return samples, int(rate)


def _as_samples(array: Any) -> np.ndarray:
    """Checks dtype, rank, finiteness of a raw sample array; returns it as float32 mono."""
    try:
        samples = np.asarray(array)
    except Exception as e:
        raise InvalidInput(f"Audio is not array-like: {e}") from e
    if samples.dtype.kind not in _FLOAT_KINDS + _INT_KINDS:
        raise InvalidInput(f"Audio samples must be float or integer, not dtype {samples.dtype}")
    if samples.ndim not in (1, 2):
        raise InvalidInput(
            f"Audio must be [samples] or [samples, channels], got shape {samples.shape}"
        )
    if samples.size == 0:
        raise InvalidInput("Audio is empty (no samples)")
    if samples.dtype.kind in _FLOAT_KINDS and not np.all(np.isfinite(samples)):
        raise InvalidInput("Audio contains NaN or infinite samples")
    return dsp.to_mono_float(samples)


def load_audio(
    source: AudioInput, sample_rate: int | None = None, target_rate: int | None = DEFAULT_RATE
) -> np.ndarray:
    """Loads audio as mono float32 at ``target_rate``.

    Args:
        source: a path (wav, flac, ogg/oga), encoded file bytes, or a sample array
            ([N] or [N, channels]; float in [-1, 1] or integers of any width).
        sample_rate: the rate of an array ``source`` (required for arrays; ignored for
            files and bytes, whose header says it).
        target_rate: resample to this rate (None keeps the source rate).

    Returns:
        float32 [N] samples.

    Raises:
        InvalidInput: missing, corrupt or empty audio, NaN/inf samples, a non-numeric
            dtype, a bad rank, or a missing/implausible sample rate.
    """
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        raw, rate = _decode(source)
        rate = _check_rate(rate, "the sample rate in the file's header")
    elif isinstance(source, (np.ndarray, list, tuple)):
        if sample_rate is None:
            raise InvalidInput("An audio array needs its sample_rate (e.g. sample_rate=16000)")
        raw, rate = source, _check_rate(sample_rate, "sample_rate")
    else:
        raise InvalidInput(
            f"Audio must be a path, bytes or a numpy array, not {type(source).__name__}"
        )
    samples = _as_samples(raw)
    if target_rate is None:
        return samples
    target = _check_rate(target_rate, "target_rate")
    return dsp.resample(samples, rate, target) if rate != target else samples


def audio_info(path: str | os.PathLike[str]) -> tuple[int, int, float]:
    """(sample rate, channels, duration in seconds) of an audio file, without decoding it."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as e:
        raise InvalidInput(f"Cannot read audio file {str(path)!r}: {e}") from e
    return int(info.samplerate), int(info.channels), float(info.duration)


def iter_audio_blocks(
    path: str | os.PathLike[str], seconds: float = 30.0, target_rate: int | None = DEFAULT_RATE
) -> Iterator[np.ndarray]:
    """Reads a long file in consecutive blocks of about ``seconds`` each, mono float32.

    Memory stays bounded by one block. Each block is resampled on its own, so for
    sample-exact resampling across block boundaries feed the blocks to a streaming
    consumer such as ``sound.Analyzer.stream`` with the file's own rate
    (``target_rate=None``).

    Raises:
        InvalidInput: missing or undecodable file, or ``seconds`` not positive.
    """
    import soundfile

    if not isinstance(seconds, (int, float)) or not seconds > 0:
        raise InvalidInput(f"seconds must be positive, not {seconds!r}")
    rate, _, _ = audio_info(path)
    rate = _check_rate(rate, f"the sample rate in the header of {Path(path).name!r}")
    block = max(1, int(round(seconds * rate)))
    try:
        for raw in soundfile.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):
            mono = dsp.to_mono_float(raw.mean(axis=1))
            if target_rate is not None and target_rate != rate:
                mono = dsp.resample(mono, rate, _check_rate(target_rate, "target_rate"))
            yield mono
    except InvalidInput:
        raise
    except Exception as e:
        raise InvalidInput(f"Cannot decode audio file {str(path)!r}: {e}") from e
