"""openai-whisper on the recipe's weights, and comparisons with sensekit's transcripts.

The reference runs the same CTranslate2 weights through openai-whisper (PyTorch; the
checkpoint is written by :func:`sensekit.tools.convert.ctranslate2.save_openai_whisper_checkpoint`)
with greedy decoding at temperature 0 without fallback, its own ffmpeg audio loader and
its own log-mel. Results are computed once per test process (``functools.cache``), so
the reference and the mutation tests share them; each comparison returns its
discrepancies (empty: agreement within a tolerance set from a measurement).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from reference_work import work_dir

# Real speech -> whether sensekit resamples it on the way in (jfk.wav 16 kHz, alsa 48 kHz).
SPEECH_CLIPS = {"jfk": False, "alsa": True}


def speech_clip(clip: str) -> Path:
    """Path of a clip named in SPEECH_CLIPS."""
    from sensekit.samples import media_path

    return alsa_names_clip() if clip == "alsa" else media_path(f"{clip}.wav")


def alsa_names_clip() -> Path:
    """A real 48 kHz voice saying "Front left, front center, rear right, side left": four
    clips of Debian's alsa-utils joined by 0.5 s of silence (resampling is exercised)."""
    import soundfile as sf

    from sensekit.samples import media_path

    target = work_dir() / "alsa_names_48k.wav"
    if not target.is_file():
        parts = []
        for name in ("Front_Left.wav", "Front_Center.wav", "Rear_Right.wav", "Side_Left.wav"):
            audio, rate = sf.read(media_path(name), dtype="float32")
            parts += [audio, np.zeros(rate // 2, np.float32)]
        sf.write(target, np.concatenate(parts), rate)
    return target


# Greedy, temperature 0 without fallback, no previous-text prompt, English: the settings
# under which both implementations are deterministic and must produce the same tokens.
OPENAI_DECODING = {
    "language": "en",
    "temperature": 0.0,
    "beam_size": None,
    "best_of": None,
    "condition_on_previous_text": False,
    "fp16": False,
}
SENSEKIT_DECODING = {
    "language": "en",
    "temperature": 0.0,
    "beam_size": 1,
    "condition_on_previous_text": False,
    "vad": False,
}
# Encoder-input log-mel tolerances. Audio sensekit reads at 16 kHz: float32 FFT rounding
# (measured max 2e-5 on jfk.wav; tests/accelerate/test_dsp.py checks log_mel_whisper alone
# to the same 1e-4). Audio resampled from 48 kHz: sensekit's resampler and ffmpeg's
# (whisper.load_audio) differ in their transition bands; measured on the alsa clip mean
# 2.6e-4, 99.9th percentile 0.044, max 0.43 (the top mel bands, next to 8 kHz, in quiet
# frames near the floor).
MEL_NATIVE_MAX = 1e-4
MEL_RESAMPLED_MEAN = 2e-3
MEL_RESAMPLED_P999 = 0.1


@dataclass(frozen=True)
class TranscriptRun:
    """A transcript reduced to what both implementations report alike.

    Attributes:
        text: the whole text, stripped.
        segments: (start, end, text) in seconds; ends clipped to the audio's duration
            (sensekit clips the last segment there, openai-whisper reports the timestamp
            token, e.g. 2.00 s for a 1.43 s clip).
        mel: the first window's encoder input [n_mels, 3000].
    """

    text: str
    segments: tuple[tuple[float, float, str], ...]
    mel: np.ndarray


def _segments(
    items: list[tuple[float, float, str]], duration: float
) -> tuple[tuple[float, float, str], ...]:
    return tuple(
        (round(start, 2), round(min(end, duration), 2), text.strip()) for start, end, text in items
    )


def ct2_directory(name: str) -> Path:
    """The recipe's CTranslate2 model directory (model.bin + config.json), as the build uses."""
    from sensekit.core.registry import BuildContext, recipes
    from sensekit.zoo.whisper import _ct2_dir

    target = work_dir() / f"{name}-ct2"
    if not (target / "config.json").is_file():
        target.mkdir(parents=True, exist_ok=True)
        _ct2_dir(BuildContext(recipes()[name], target / "unused", lambda message: None), target)
    return target


@functools.cache
def openai_whisper(name: str) -> Any:
    """openai-whisper's model with the recipe's weights (float32 on the CPU)."""
    import torch
    import whisper

    from sensekit.tools.convert.ctranslate2 import save_openai_whisper_checkpoint

    torch.set_num_threads(2)
    checkpoint = save_openai_whisper_checkpoint(ct2_directory(name), work_dir() / f"{name}.pt")
    return whisper.load_model(str(checkpoint), device="cpu")


@functools.cache
def fp32_whisper_package(name: str) -> Path:
    """The built package of ``name`` with float32 graphs exported by sensekit's converter.

    The shipped graphs are int8 (dynamic quantization), which moves a few tokens (a
    capital, a final period) against float32 openai-whisper; the float32 export of the
    same weights runs the same task code and must give openai-whisper's exact tokens.
    """
    from sensekit.core.package import write_package
    from sensekit.core.registry import ensure
    from sensekit.tools.convert.whisper import export_whisper_onnx

    shipped = ensure(name, progress=False)
    manifest = json.loads((shipped / "manifest.json").read_text(encoding="utf-8"))
    for generated in ("files", "schema"):
        manifest.pop(generated)
    exported = export_whisper_onnx(ct2_directory(name), work_dir() / f"{name}-onnx")
    manifest["conversion"] = {
        "from": "ctranslate2",
        "weights": "float32",
        "max_abs_diff": exported["max_abs_diff"],
    }
    target = work_dir() / f"{name}-fp32.skmodel"
    with write_package(target, manifest) as writer:
        for graph in ("encoder", "decoder"):
            writer.add_file(f"{graph}.onnx", exported[graph])
        writer.add_file("tokenizer.json", shipped / "tokenizer.json")
    return target


@functools.cache
def openai_transcript(name: str, path: Path) -> TranscriptRun:
    """openai-whisper's transcript of a file and the first window's log-mel, as its
    ``transcribe()`` builds it (ffmpeg load, log-mel of audio + 30 s of zeros, the
    window's content frames zero-padded to 3000)."""
    import whisper

    model = openai_whisper(name)
    result = model.transcribe(str(path), **OPENAI_DECODING)
    audio = whisper.load_audio(str(path))
    mel = whisper.log_mel_spectrogram(audio, model.dims.n_mels, padding=whisper.audio.N_SAMPLES)
    content = min(mel.shape[-1] - whisper.audio.N_FRAMES, whisper.audio.N_FRAMES)
    window = whisper.audio.pad_or_trim(mel[:, :content], whisper.audio.N_FRAMES).numpy()
    duration = len(audio) / whisper.audio.SAMPLE_RATE
    segments = [(s["start"], s["end"], s["text"]) for s in result["segments"]]
    return TranscriptRun(result["text"].strip(), _segments(segments, duration), window)


def sensekit_transcript(transcriber: Any, path: Path) -> TranscriptRun:
    """sensekit's transcript of a file, recording the mel its encoder is given."""
    mels: list[np.ndarray] = []
    encode = transcriber.runner.encode

    def recording(mel: np.ndarray) -> Any:
        mels.append(np.array(mel, copy=True))
        return encode(mel)

    transcriber.runner.encode = recording
    try:
        result = transcriber.transcribe(path, **SENSEKIT_DECODING)
    finally:
        transcriber.runner.encode = encode
    segments = [(s.start, s.end, s.text) for s in result.segments]
    return TranscriptRun(result.text.strip(), _segments(segments, result.duration), mels[0])


def words(text: str) -> list[str]:
    """Lower-case words without punctuation (int8 may move a capital or a period)."""
    return re.findall(r"[a-z0-9']+", text.lower())


def transcript_differences(
    ours: TranscriptRun, theirs: TranscriptRun, exact: bool = True
) -> list[str]:
    """Text (exact, or the same words) and segment times that differ."""
    found = []
    if (ours.text != theirs.text) if exact else (words(ours.text) != words(theirs.text)):
        found.append(f"text {ours.text!r} != openai-whisper {theirs.text!r}")
    times = [s[:2] for s in ours.segments], [s[:2] for s in theirs.segments]
    if times[0] != times[1]:
        found.append(f"segments {times[0]} != openai-whisper {times[1]}")
    return found


@dataclass(frozen=True)
class MelDifference:
    """|sensekit - openai-whisper| over the encoder's input log-mel."""

    max: float
    mean: float
    p999: float

    @classmethod
    def of(cls, ours: np.ndarray, theirs: np.ndarray) -> MelDifference:
        if ours.shape != theirs.shape:
            return cls(float("inf"), float("inf"), float("inf"))
        diff = np.abs(ours.astype(np.float64) - theirs)
        return cls(float(diff.max()), float(diff.mean()), float(np.quantile(diff, 0.999)))

    def problems(self, resampled: bool) -> list[str]:
        if not resampled:
            return [] if self.max <= MEL_NATIVE_MAX else [f"log-mel max |diff| {self.max:.3g}"]
        if self.mean <= MEL_RESAMPLED_MEAN and self.p999 <= MEL_RESAMPLED_P999:
            return []
        return [f"log-mel mean |diff| {self.mean:.3g}, 99.9th percentile {self.p999:.3g}"]


def whisper_differences(
    transcriber: Any, model: str, clip: str, exact: bool = True
) -> tuple[list[str], MelDifference]:
    """Every discrepancy of sensekit's run on a clip (transcript, segments, encoder log-mel)
    from openai-whisper's, and the measured log-mel difference."""
    path = speech_clip(clip)
    ours, theirs = sensekit_transcript(transcriber, path), openai_transcript(model, path)
    mel = MelDifference.of(ours.mel, theirs.mel)
    return transcript_differences(ours, theirs, exact) + mel.problems(SPEECH_CLIPS[clip]), mel
