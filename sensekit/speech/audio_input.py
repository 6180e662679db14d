"""Audio for speech: 16 kHz mono float32 blocks, streamed from files in bounded memory.

Files that soundfile reads (wav, flac, ogg, ...) come in 30 s blocks from
:func:`sensekit.core.audio.iter_audio_blocks` at their own rate and go through one
:class:`~sensekit.sound.resample.StreamResampler`, so they join seamlessly; files it
cannot read (mp3, m4a) are decoded by the ``ffmpeg`` program through a pipe. Bytes and
arrays go through :func:`sensekit.core.audio.load_audio`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.accelerate import dsp
from sensekit.core.errors import InvalidInput
from sensekit.sound.resample import StreamResampler

SAMPLE_RATE = dsp.WHISPER_SAMPLE_RATE  # Hz; Transcriber checks the package says the same
BLOCK_SECONDS = 30


def check_samples(block: np.ndarray) -> np.ndarray:
    """Raises InvalidInput on NaN or infinite samples."""
    if not np.all(np.isfinite(block)):
        raise InvalidInput("The audio contains NaN or infinite samples")
    return block


def audio_blocks(source: Any, sample_rate: int | None = None) -> Iterator[np.ndarray]:
    """Yields 16 kHz mono float32 blocks (<= 30 s each) of a path, bytes or array.

    Raises:
        InvalidInput: missing/unreadable/corrupt file, empty audio, NaN samples.
    """
    if isinstance(source, (str, os.PathLike)):
        yield from _file_blocks(Path(source))
        return
    audio = _load_whole(source, sample_rate)
    step = BLOCK_SECONDS * SAMPLE_RATE
    for start in range(0, len(audio), step):
        yield check_samples(audio[start : start + step])


def _load_whole(source: Any, sample_rate: int | None) -> np.ndarray:
    from sensekit.core.audio import load_audio

    return np.asarray(
        load_audio(source, sample_rate=sample_rate, target_rate=SAMPLE_RATE), np.float32
    )


def _file_blocks(path: Path) -> Iterator[np.ndarray]:
    from sensekit.core.audio import audio_info, iter_audio_blocks

    if not path.is_file():
        raise InvalidInput(f"No audio file at {path}")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path} is empty")
    try:
        rate, _, _ = audio_info(path)
    except InvalidInput:
        if shutil.which("ffmpeg") is None:
            raise
        yield from _ffmpeg_blocks(path)  # mp3, m4a, ...: soundfile cannot read them
        return
    yield from _resampled_blocks(iter_audio_blocks(path, BLOCK_SECONDS, target_rate=None), rate)


def _resampled_blocks(blocks: Iterator[np.ndarray], rate: int) -> Iterator[np.ndarray]:
    """Blocks at ``rate`` -> 16 kHz blocks of BLOCK_SECONDS (the last one shorter), through
    one stream resampler: the result equals resampling the whole file at once, and the
    blocks are cut where a 16 kHz file's would be (speech gating runs per block)."""
    resampler = StreamResampler(rate, SAMPLE_RATE)
    size = BLOCK_SECONDS * SAMPLE_RATE
    parts: list[np.ndarray] = []
    have = 0
    for out in resampler.stream(blocks):
        while len(out):  # fill the current block; only whole blocks are joined (memory)
            parts.append(out[: size - have])
            have += len(parts[-1])
            out = out[len(parts[-1]) :]
            if have == size:
                yield check_samples(np.concatenate(parts) if len(parts) > 1 else parts[0])
                parts, have = [], 0
    if parts:
        yield check_samples(np.concatenate(parts))


def _ffmpeg_blocks(path: Path) -> Iterator[np.ndarray]:
    command = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-f",
        "f32le",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    produced = 0
    try:
        while chunk := process.stdout.read(BLOCK_SECONDS * SAMPLE_RATE * 4):  # type: ignore
            block = np.frombuffer(chunk[: len(chunk) // 4 * 4], np.float32)
            produced += len(block)
            yield check_samples(block.copy())
    finally:
        process.kill()
        _, error = process.communicate()
    if produced == 0:
        raise InvalidInput(f"Cannot decode {path.name}: {error.decode(errors='replace')[-300:]}")
