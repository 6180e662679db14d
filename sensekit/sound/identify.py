"""Sound identification: timed sound events and clip labels (Apple's SNClassifySoundRequest).

Audio (16 kHz mono) is cut into analysis windows of ``window`` seconds overlapping by
``overlap`` (Apple's ``windowDuration`` / ``overlapFactor``). Each window is scored by the
model's 0.96 s log-mel patches inside it (one patch for the default 0.96 s window, the
mean of patches every 0.48 s for longer windows); all patches of a clip run as one
batch. Window scores become :class:`SoundEvent` s (see :mod:`sensekit.sound.events`) or,
averaged over the clip, a ranked :class:`Category` list. Files longer than
``LONG_FILE_S`` are read in blocks and analysed by the streaming
:class:`~sensekit.sound.stream.Analyzer` (same results, memory bounded by one block).

Everything model-specific (sample rate, STFT and mel parameters, patch size, input and
output quantization, activation) is read from the package manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensekit.accelerate import dsp, nn
from sensekit.core.audio import AudioInput, audio_info, iter_audio_blocks, load_audio
from sensekit.core.blocks import LogMelPatches
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.tasks import LabelFilter, Task, cached_default, label_option
from sensekit.core.types import Category, SoundEvent
from sensekit.sound.events import merge_events, window_votes
from sensekit.sound.stream import Analyzer

DEFAULT_MODEL = "yamnet"
MAX_BATCH = 512  # patches per graph run: bounds activation memory on very long clips
LONG_FILE_S = 120.0  # files longer than this are analysed block by block (bounded memory)
FILE_BLOCK_S = 30.0  # seconds read from disk at a time for such files


@dataclass(frozen=True)
class SoundOptions:
    """Options of :class:`SoundClassifier`.

    Attributes:
        window: analysis window in seconds (at least the model's patch, 0.96 s for YAMNet).
        overlap: fraction of a window shared with the next one, in [0, 1).
        top_k: labels each window may vote for (and categories ``classify`` returns).
        score_threshold: a window votes only for labels scoring at least this.
        max_gap: seconds of silence-of-that-label bridged inside one event.
        allow: only these labels may be reported (case-insensitive).
        deny: these labels are never reported.
    """

    window: float = 0.96
    overlap: float = 0.5
    top_k: int = 3
    score_threshold: float = 0.1
    max_gap: float = 0.5
    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.window, (int, float)) or not 0.0 < self.window <= 60.0:
            raise InvalidInput(f"window must be in (0, 60] seconds, not {self.window!r}")
        if not isinstance(self.overlap, (int, float)) or not 0.0 <= self.overlap < 1.0:
            raise InvalidInput(f"overlap must be in [0, 1), not {self.overlap!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise InvalidInput(f"top_k must be a positive int, not {self.top_k!r}")
        if (
            not isinstance(self.score_threshold, (int, float))
            or not 0.0 <= self.score_threshold <= 1.0
        ):
            raise InvalidInput(f"score_threshold must be in [0, 1], not {self.score_threshold!r}")
        if not isinstance(self.max_gap, (int, float)) or self.max_gap < 0:
            raise InvalidInput(f"max_gap must be >= 0 seconds, not {self.max_gap!r}")
        LabelFilter(self.allow, self.deny)  # validated when made, not at the first call


@dataclass(frozen=True)
class Layout:
    """Window geometry in STFT frames and samples for one (window, overlap) pair."""

    window_frames: int
    hop_frames: int
    offsets: np.ndarray  # patch start frames inside a window
    frame_length: int  # samples per STFT frame
    frame_hop: int  # samples per frame hop
    sample_rate: int

    @property
    def min_samples(self) -> int:
        """Samples one window needs."""
        return self.frame_length + (self.window_frames - 1) * self.frame_hop

    @property
    def hop_samples(self) -> int:
        return self.hop_frames * self.frame_hop

    @property
    def hop_s(self) -> float:
        return self.hop_samples / self.sample_rate

    @property
    def window_s(self) -> float:
        return self.window_frames * self.frame_hop / self.sample_rate

    def start_s(self, index: np.ndarray) -> np.ndarray:
        return index * self.hop_samples / self.sample_rate


class SoundClassifier(Task):
    """Identifies sounds with a model package whose task is sound-classification."""

    MANIFEST_TASKS = ("sound-classification",)
    Options = SoundOptions
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(self, model: Model, options: SoundOptions | None = None) -> None:
        super().__init__(model, options)
        spec = model.manifest.inputs.get("")
        if not isinstance(spec, LogMelPatches):
            raise InvalidInput(f"Model {model.name!r} is not a patch-based sound classifier")
        self.spec = spec
        self.post = model.manifest.postprocess
        self.sample_rate = spec.sample_rate
        self.labels = list(model.labels)
        self._lower = np.char.lower(np.array(self.labels, dtype=str))
        silence = self.post.get("silence_label")
        self.no_trim = [self.labels.index(silence)] if silence in self.labels else []

    # -- geometry and front end ---------------------------------------------------------
    def layout(self, options: SoundOptions) -> Layout:
        """Frames per window/hop and patch offsets; InvalidInput if the window is too short."""
        hop_s, patch = self.spec.hop, self.spec.patch_frames
        frames = int(round(options.window / hop_s))
        if frames < patch:
            raise InvalidInput(
                f"window must be at least {patch * hop_s:.2f} s for model "
                f"{self.model.name!r}, not {options.window}"
            )
        hop = max(1, int(round(frames * (1.0 - options.overlap))))
        offsets = np.unique(
            np.append(np.arange(0, frames - patch + 1, self.spec.patch_hop_frames), frames - patch)
        )
        return Layout(
            frames,
            hop,
            offsets,
            int(round(self.spec.window * self.sample_rate)),
            int(round(hop_s * self.sample_rate)),
            self.sample_rate,
        )

    def features(self, samples: np.ndarray) -> np.ndarray:
        """Log-mel frames [frames, mels] of 16 kHz samples, as the manifest describes."""
        s = self.spec
        return dsp.log_mel_frames(
            samples, s.sample_rate, s.window, s.hop, s.mels, s.fmin, s.fmax, s.log_offset
        )

    def _preprocess(
        self, samples: np.ndarray, layout: Layout
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Samples (whole windows) -> (quantized unique patches, window->patch index, windows)."""
        frames = self.features(samples)
        windows = 1 + (len(frames) - layout.window_frames) // layout.hop_frames
        starts = np.arange(windows)[:, None] * layout.hop_frames + layout.offsets[None, :]
        unique, inverse = np.unique(starts, return_inverse=True)
        patch = self.spec.patch_frames
        batch = frames[unique[:, None] + np.arange(patch)[None, :]]
        quant = self.spec.quantization
        if quant:
            batch = nn.quantize(batch, quant["scale"], quant["zero_point"], quant["dtype"])
        return batch[:, None], inverse.reshape(starts.shape), windows

    def _forward(self, batch: np.ndarray, output: str | None = None) -> np.ndarray:
        """Runs the graph on [P, 1, T, F] patches (in runs of MAX_BATCH); returns one output."""
        name = output or self.post.get("output", "class_scores")
        feed = self.spec.input
        parts = [
            self.model.predict({feed: batch[i : i + MAX_BATCH]}, outputs=[name])[name]
            for i in range(0, len(batch), MAX_BATCH)
        ]
        return np.concatenate(parts)

    def _postprocess(self, raw: np.ndarray) -> np.ndarray:
        """Graph output -> scores in [0, 1] (dequantized, then the manifest's activation)."""
        quant = self.post.get("quantization")
        values = (
            nn.dequantize(raw, quant["scale"], quant["zero_point"])
            if quant and np.issubdtype(raw.dtype, np.integer)
            else raw.astype(np.float32)
        )
        activation = self.post.get("activation", "sigmoid")
        return (
            nn.sigmoid(values)
            if activation == "sigmoid"
            else nn.softmax(values)
            if activation == "softmax"
            else values
        )

    # -- analysis -----------------------------------------------------------------------
    def analyze_windows(self, samples: np.ndarray, layout: Layout) -> np.ndarray:
        """Scores [W, C] of every whole window in ``samples`` (which start at a window)."""
        if len(samples) < layout.min_samples:
            return np.empty((0, len(self.labels)), np.float32)
        batch, index, _ = self._preprocess(samples, layout)
        scores = self._postprocess(self._forward(batch))
        return scores[index].mean(axis=1) if index.shape[1] > 1 else scores[index[:, 0]]

    def _load(self, audio: AudioInput, sample_rate: int | None) -> np.ndarray:
        return load_audio(audio, sample_rate, self.sample_rate)

    def _long_file(self, audio: AudioInput) -> tuple[Any, int] | None:
        """(blocks at the file's own rate, that rate) if ``audio`` is a file longer than
        LONG_FILE_S; None otherwise (then it is loaded whole, or refused by load_audio)."""
        if not isinstance(audio, (str, os.PathLike)):
            return None
        try:
            rate, _, duration = audio_info(audio)
        except InvalidInput:
            return None
        if duration <= LONG_FILE_S:
            return None
        return iter_audio_blocks(audio, FILE_BLOCK_S, target_rate=None), rate

    def _analyzer(self, options: SoundOptions) -> Analyzer:
        """A streaming analyzer on this classifier: its results equal the whole-clip ones."""
        return Analyzer(self, options)

    def window_scores(
        self, audio: AudioInput, sample_rate: int | None = None, **overrides: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """(window start times [W] in seconds, scores [W, C]) of a clip (zero-padded tail)."""
        options = self.resolve(overrides)
        samples = self._load(audio, sample_rate)
        layout = self.layout(options)
        padded = dsp.pad_for_windows(samples, layout.min_samples, layout.hop_samples)
        scores = self.analyze_windows(padded, layout)
        return layout.start_s(np.arange(len(scores))), scores

    def label_mask(self, options: SoundOptions) -> np.ndarray | None:
        labels = LabelFilter.of(options)
        if labels.allowed is None and not labels.denied:
            return None
        return labels.mask(self._lower)

    def identify(
        self, audio: AudioInput, sample_rate: int | None = None, **overrides: Any
    ) -> list[SoundEvent]:
        """Sound events of a clip, sorted by start time; overrides replace options."""
        options = self.resolve(overrides)
        long_file = self._long_file(audio)
        if long_file is not None:  # bounded memory: the streaming analyzer over file blocks
            events = self._analyzer(options).stream(*long_file)
            return sorted(events, key=lambda e: (e.start, -e.score))
        samples = self._load(audio, sample_rate)
        layout = self.layout(options)
        padded = dsp.pad_for_windows(samples, layout.min_samples, layout.hop_samples)
        scores = self.analyze_windows(padded, layout)
        votes = window_votes(
            scores, options.top_k, options.score_threshold, mask=self.label_mask(options)
        )
        return merge_events(
            layout.start_s(np.arange(len(scores))),
            scores,
            votes,
            labels=self.labels,
            window_s=layout.window_s,
            hop_s=layout.hop_s,
            max_gap=options.max_gap,
            duration=len(samples) / self.sample_rate,
            energy_db=dsp.frame_energy_db(padded, layout.frame_length, layout.frame_hop),
            frame_s=layout.frame_length / layout.sample_rate,
            frame_hop_s=layout.frame_hop / layout.sample_rate,
            no_trim=self.no_trim,
        )

    def classify(
        self, audio: AudioInput, sample_rate: int | None = None, **overrides: Any
    ) -> list[Category]:
        """Clip-level categories (window scores averaged over the clip), best first."""
        options = self.resolve(overrides)
        long_file = self._long_file(audio)
        if long_file is not None:  # bounded memory: window scores summed block by block
            clip = self._analyzer(options).clip_scores(*long_file)
        else:
            _, scores = self.window_scores(audio, sample_rate, **overrides)
            clip = scores.mean(axis=0)
        mask = clip >= options.score_threshold
        label_mask = self.label_mask(options)
        if label_mask is not None:
            mask &= label_mask
        candidates = np.flatnonzero(mask)
        values, order = nn.top_k(clip[candidates], options.top_k)
        return [
            Category(self.labels[candidates[i]], float(v), int(candidates[i]))
            for v, i in zip(values, order)
        ]

    def embeddings(self, audio: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """The model's feature vectors [patches, D], one per 0.96 s patch every 0.48 s."""
        name = self.post.get("features")
        if not name:
            raise InvalidInput(f"Model {self.model.name!r} exposes no feature output")
        samples = self._load(audio, sample_rate)
        layout = self.layout(SoundOptions(window=self.spec.patch_frames * self.spec.hop))
        padded = dsp.pad_for_windows(samples, layout.min_samples, layout.hop_samples)
        batch, _, _ = self._preprocess(padded, layout)
        return self._forward(batch, name).astype(np.float32)

    __call__ = identify


def _classifier(model: str) -> SoundClassifier:
    return cached_default(("sound", str(model)), lambda: SoundClassifier.from_model(model))


def identify(
    audio: AudioInput,
    *,
    window: float = 0.96,
    overlap: float = 0.5,
    top_k: int = 3,
    score_threshold: float = 0.1,
    model: str = DEFAULT_MODEL,
    sample_rate: int | None = None,
    **options: Any,
) -> list[SoundEvent]:
    """Sound events in ``audio`` with start and end times, using a shared classifier.

    Args:
        audio: a path (wav, flac, ogg), encoded bytes, or a sample array (with sample_rate).
        window: analysis window in seconds (Apple's windowDuration).
        overlap: overlap of consecutive windows in [0, 1) (Apple's overlapFactor).
        top_k: labels each window may vote for.
        score_threshold: minimum window score for a vote.
        model: zoo name or package path (e.g. one written by ``train_classifier``).
        sample_rate: rate of an array ``audio``.
        **options: other :class:`SoundOptions` fields (max_gap, allow, deny).

    Returns:
        SoundEvents sorted by start time.
    """
    return _classifier(model).identify(
        audio,
        sample_rate,
        window=window,
        overlap=overlap,
        top_k=top_k,
        score_threshold=score_threshold,
        **_with_label_options(options),
    )


def classify(
    audio: AudioInput,
    *,
    top_k: int = 5,
    score_threshold: float = 0.0,
    model: str = DEFAULT_MODEL,
    sample_rate: int | None = None,
    **options: Any,
) -> list[Category]:
    """Clip-level categories of ``audio``, best first (same type as ``vision.classify``)."""
    return _classifier(model).classify(
        audio,
        sample_rate,
        top_k=top_k,
        score_threshold=score_threshold,
        **_with_label_options(options),
    )


def _with_label_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: label_option(v) if k in ("allow", "deny") else v for k, v in options.items()}
