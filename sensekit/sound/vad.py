"""Speech activity with Silero VAD: where in a recording someone speaks, and the gate
with which ``speech.transcribe`` skips windows without speech.

The zoo's "silero-vad" scores 32 ms chunks (512 samples at 16 kHz, each preceded by the
last 64 samples of the previous chunk) through a recurrent state. It runs two ways:

- :meth:`SpeechActivity.probabilities`: one pass, chunk by chunk, as the model was
  trained (equal to Silero's own wrapper to 1e-5); ``speech_activity`` uses it.
- :meth:`SpeechActivity.lane_probabilities`: the audio cut into independent *lanes* of
  ~2 s that run as one batch. One chunk per call costs ~0.3 ms of overhead; each lane
  starts from a fresh state (Silero settles within a few chunks; 97 % of chunk decisions
  agree with one sequential pass on jfk.wav), so a 30 s window costs ~63 calls instead
  of ~940. Lanes of digital silence are not run. Transcription gating uses it.

Probabilities become ranges with Silero's hysteresis: speech starts at ``threshold``,
ends after ``min_silence`` seconds below ``threshold - neg_threshold_offset``; ranges
shorter than ``min_speech`` are dropped and the rest padded by ``speech_pad``. The chunk
size, context, tensor names and option defaults come from the package manifest; the
tensor names are looked up in the graph by name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sensekit.accelerate import dsp
from sensekit.core.audio import AudioInput, load_audio
from sensekit.core.blocks import AudioChunks
from sensekit.core.errors import InvalidInput, ModelIntegrityError, ModelNotFound, SourceUnavailable
from sensekit.core.model import ComputeUnits, Model
from sensekit.core.tasks import Task, cached_default
from sensekit.core.types import TimeRange

VAD_MODEL = "silero-vad"
LANE_CHUNKS = 63  # chunks per lane of lane_probabilities (2 s)
SILENCE_DB = -60.0  # lanes whose every chunk is quieter than this are not run at all
ENERGY_FLOOR_DB = -45.0  # EnergyGate: a chunk louder than this is speech
_STATE_BATCH_AXIS = 1  # Silero's recurrent state is [2, batch, 128]


@dataclass(frozen=True)
class VadOptions:
    """How speech probabilities become speech (Silero's ``get_speech_timestamps``
    defaults; a package's manifest may carry its own, see :meth:`from_manifest`)."""

    threshold: float = 0.5  # speech probability (0-1) at which a chunk is speech
    neg_threshold_offset: float = 0.15  # speech ends below threshold minus this (0-1)
    min_speech: float = 0.25  # seconds; shorter speech ranges are dropped
    min_silence: float = 0.1  # seconds below the lower threshold that end a range
    speech_pad: float = 0.03  # seconds added on both sides of each range

    def __post_init__(self) -> None:
        if not _number(self.threshold) or not 0.0 < self.threshold < 1.0:
            raise InvalidInput(f"threshold must be in (0, 1), not {self.threshold!r}")
        for name in ("neg_threshold_offset", "min_speech", "min_silence", "speech_pad"):
            value = getattr(self, name)
            if not _number(value) or value < 0:
                raise InvalidInput(f"{name} must be a number >= 0, not {value!r}")

    @classmethod
    def from_manifest(cls, postprocess: Mapping[str, Any]) -> VadOptions:
        """The options a package's postprocess block sets; the class defaults elsewhere."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in postprocess.items() if k in names})


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class SpeechActivity(Task):
    """Speech probabilities, speech ranges and a speech mask of 16 kHz audio."""

    MANIFEST_TASKS = ("speech-activity",)
    Options = VadOptions
    DEFAULT_MODEL = VAD_MODEL

    def __init__(self, model: Model, options: VadOptions | None = None) -> None:
        super().__init__(model, options)
        post = model.manifest.postprocess
        if post.get("kind") != "speech-activity":
            raise InvalidInput(f"Model {model.name!r} is not a speech-activity model")
        if options is None:  # the package's own thresholds, where it sets them
            self.options = VadOptions.from_manifest(post)
        front = model.manifest.inputs.get("")
        if not isinstance(front, AudioChunks):
            raise InvalidInput(f"Model {model.name!r} does not read audio in fixed chunks")
        self.sample_rate = front.sample_rate
        self.chunk, self.context = front.chunk, front.context
        self._state_shape = front.state_shape
        session = model.session()
        inputs = {i.name for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        self._audio, self._state = (_in_graph(model, n, inputs) for n in (front.input, front.state))
        self._output, self._next_state = (
            _in_graph(model, post[k], outputs) for k in ("output", "state")
        )
        # a package compressed with fixed_inputs={"sr": 16000} no longer takes the rate
        self._rate = front.rate if front.rate in inputs else None

    @classmethod
    def from_model(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        options: VadOptions | None = None,
        *,
        compute_units: ComputeUnits = "cpu",
        progress: bool = True,
    ) -> SpeechActivity:
        """Loads the VAD (one thread: each chunk is tiny, thread hand-offs would dominate;
        so this overrides :meth:`Task.from_model`)."""
        name = VAD_MODEL if name_or_path is None else name_or_path
        model = Model.load(name, compute_units=compute_units, threads=1, progress=progress)
        return cls(model, options)

    @property
    def chunk_seconds(self) -> float:
        return self.chunk / self.sample_rate

    # -- probabilities ------------------------------------------------------------------
    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms chunk [ceil(N / 512)] (last chunk zero-padded),
        in one recurrent pass."""
        samples = np.asarray(samples, np.float32)
        count = -(-len(samples) // self.chunk)
        padded = np.zeros(self.context + count * self.chunk, np.float32)
        padded[self.context : self.context + len(samples)] = samples
        return self._run_lanes(padded, np.arange(count)[None, :] * self.chunk)[0]

    def lane_probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each whole chunk [N // 512], run in lanes (module
        docstring); chunks of lanes that are digital silence get 0."""
        count = len(samples) // self.chunk
        if count == 0:
            return np.empty(0, np.float32)
        audio = np.asarray(samples[: count * self.chunk], np.float32)
        lanes = -(-count // LANE_CHUNKS)
        steps = -(-count // lanes)
        loud = dsp.frame_energy_db(audio, self.chunk, self.chunk) > SILENCE_DB
        loud = np.pad(loud, (0, lanes * steps - count)).reshape(lanes, steps).any(axis=1)
        scores = np.zeros((lanes, steps), np.float32)
        if loud.any():
            run = np.flatnonzero(loud)
            covered = max(len(audio), (int(run.max()) + 1) * steps * self.chunk)
            padded = np.zeros(self.context + covered, np.float32)
            padded[self.context : self.context + len(audio)] = audio
            starts = (run[:, None] * steps + np.arange(steps)[None, :]) * self.chunk
            scores[loud] = self._run_lanes(padded, starts)
        return scores.reshape(-1)[:count]

    def _run_lanes(self, padded: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Scores [lanes, steps] of the chunks at ``starts`` [lanes, steps] of ``padded``
        (the audio after ``context`` zeros); each lane carries its own state from zero."""
        lanes, steps = starts.shape
        shape = list(self._state_shape)
        shape[_STATE_BATCH_AXIS] = lanes
        state = np.zeros(shape, np.float32)
        window = np.arange(self.chunk + self.context)
        rate = np.array(self.sample_rate, np.int64)
        scores = np.empty((lanes, steps), np.float32)
        for step in range(steps):  # recurrent: each chunk needs the previous state
            if lanes == 1:  # a view, no gather: the one-pass path of probabilities()
                first = starts[0, step]
                audio = padded[None, first : first + len(window)]
            else:
                audio = padded[starts[:, step, None] + window]
            feeds = {self._audio: audio, self._state: state}
            if self._rate is not None:
                feeds[self._rate] = rate
            probability, state = self._forward(feeds)
            scores[:, step] = probability.reshape(lanes)
        return scores

    def _forward(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        out = self.model.predict(feeds, outputs=[self._output, self._next_state])
        return out[self._output], out[self._next_state]

    # -- decisions ----------------------------------------------------------------------
    def speech_mask(self, samples: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Speech or not for each whole chunk (:meth:`lane_probabilities`); isolated single
        chunks are dropped.

        ``threshold`` (default: ``options.threshold``) is per call, so one detector shared
        by threads serves callers with different thresholds.
        """
        limit = self.options.threshold if threshold is None else threshold
        return _without_blips(self.lane_probabilities(samples) >= limit)

    def ranges(
        self, probabilities: np.ndarray, duration: float, options: VadOptions | None = None
    ) -> list[TimeRange]:
        """Speech ranges (seconds) from chunk probabilities, with Silero's hysteresis."""
        rule = options or self.options
        low = max(rule.threshold - rule.neg_threshold_offset, 0.01)
        min_speech = rule.min_speech / self.chunk_seconds  # in chunks, compared like
        min_silence = rule.min_silence / self.chunk_seconds  # Silero compares samples
        spans: list[list[int]] = []
        start, quiet_from = None, None
        for i, p in enumerate(probabilities.tolist()):
            if p >= rule.threshold:
                quiet_from = None
                if start is None:
                    start = i
            elif start is not None and p < low:
                quiet_from = i if quiet_from is None else quiet_from
                if i - quiet_from >= min_silence:
                    spans.append([start, quiet_from])
                    start, quiet_from = None, None
        if start is not None:
            spans.append([start, len(probabilities)])
        spans = [s for s in spans if s[1] - s[0] > min_speech]
        return _padded(spans, self.chunk_seconds, rule.speech_pad, duration)

    def detect(
        self, audio: AudioInput, sample_rate: int | None = None, **overrides: Any
    ) -> list[TimeRange]:
        """Speech ranges of a clip; arrays without ``sample_rate`` are taken as 16 kHz.
        ``overrides`` are :class:`VadOptions` fields for this call (None keeps the default).
        """
        options = self.resolve({k: v for k, v in overrides.items() if v is not None})
        rate = (
            self.sample_rate
            if sample_rate is None and isinstance(audio, np.ndarray)
            else sample_rate
        )
        samples = load_audio(audio, rate, self.sample_rate)
        duration = len(samples) / self.sample_rate
        return self.ranges(self.probabilities(samples), duration, options)

    __call__ = detect


class EnergyGate:
    """Stands in for :meth:`SpeechActivity.speech_mask` when the VAD model cannot be had:
    a 32 ms chunk is speech when it is louder than ENERGY_FLOOR_DB."""

    chunk = 512  # samples at 16 kHz, as Silero's chunks

    def __init__(self) -> None:
        self.options = VadOptions()

    def speech_mask(self, samples: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Loud or not for each whole chunk (``threshold`` has no use here)."""
        count = len(samples) // self.chunk
        if count == 0:
            return np.zeros(0, bool)
        energy = dsp.frame_energy_db(samples[: count * self.chunk], self.chunk, self.chunk)
        return _without_blips(energy > ENERGY_FLOOR_DB)


def speech_gate(model: str = VAD_MODEL) -> SpeechActivity | EnergyGate:
    """The VAD that gates transcription; an :class:`EnergyGate` (with a warning) when the
    model is neither cached nor downloadable."""
    try:
        return SpeechActivity.from_model(model, progress=False)
    except (ModelNotFound, SourceUnavailable) as e:
        warnings.warn(
            f"{model} is unavailable ({e}); gating speech by energy instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return EnergyGate()


def _in_graph(model: Model, name: str, names: set[str]) -> str:
    """``name`` (from the manifest) if the graph has a tensor of that name."""
    if name not in names:
        raise ModelIntegrityError(
            f"Model {model.name!r}: the manifest names tensor {name!r}, which its graph "
            f"lacks (it has {sorted(names)}); rebuild the package"
        )
    return name


def _without_blips(speech: np.ndarray) -> np.ndarray:
    """Drops speech chunks with no speech neighbour: a lone 32 ms blip is a click."""
    if len(speech) >= 3:
        neighbours = np.convolve(speech.astype(np.int8), np.ones(3, np.int8), "same")
        speech &= neighbours >= 2
    return speech


def _padded(spans: list[list[int]], chunk_s: float, pad: float, duration: float) -> list[TimeRange]:
    """Chunk spans -> seconds, padded by ``pad`` without overlapping or leaving the clip."""
    out: list[list[float]] = []
    for first, last in spans:
        start, end = max(0.0, first * chunk_s - pad), min(duration, last * chunk_s + pad)
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [TimeRange(round(s, 3), round(e, 3)) for s, e in out]


def speech_activity(
    audio: AudioInput,
    sample_rate: int | None = None,
    *,
    threshold: float | None = None,
    min_speech: float | None = None,
    min_silence: float | None = None,
    speech_pad: float | None = None,
    model: str = VAD_MODEL,
) -> list[TimeRange]:
    """Ranges of speech in ``audio``, in seconds.

    Args:
        audio: a path, bytes, or samples; a float32 array without ``sample_rate`` is
            taken as 16 kHz.
        sample_rate: rate of an array ``audio``.
        threshold: speech probability that starts speech (manifest default 0.5).
        min_speech: shorter speech ranges are dropped (seconds, default 0.25).
        min_silence: silence needed to end a range (seconds, default 0.1).
        speech_pad: seconds added on both sides of each range (default 0.03).
        model: zoo name or package path of the VAD.

    Returns:
        TimeRanges in time order, not overlapping.
    """
    detector = cached_default(
        ("speech_activity", str(model)), lambda: SpeechActivity.from_model(model)
    )
    return detector.detect(
        audio,
        sample_rate,
        threshold=threshold,
        min_speech=min_speech,
        min_silence=min_silence,
        speech_pad=speech_pad,
    )
