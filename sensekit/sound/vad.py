"""Speech activity: where in a recording someone speaks (Silero VAD).

The zoo's "silero-vad" scores 32 ms chunks (512 samples at 16 kHz, each preceded by the
last 64 samples of the previous chunk) through a recurrent state, run chunk by chunk
as the model was trained. Probabilities become ranges with Silero's hysteresis: speech
starts at ``threshold``, ends after ``min_silence`` seconds below ``threshold - 0.15``;
ranges shorter than ``min_speech`` are dropped and the rest padded by ``speech_pad``.
Every parameter default comes from the package manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensekit.core.audio import AudioInput, load_audio
from sensekit.core.errors import InvalidInput
from sensekit.core.model import ComputeUnits, Model
from sensekit.core.tasks import cached_default
from sensekit.core.types import TimeRange

VAD_MODEL = "silero-vad"


@dataclass(frozen=True)
class _Hysteresis:
    threshold: float
    neg_threshold: float
    min_speech: float  # in chunks (fractional, compared like Silero compares samples)
    min_silence: float  # in chunks
    pad: float  # seconds


class SpeechActivity:
    """Speech probabilities and speech ranges of 16 kHz audio."""

    def __init__(self, model: Model) -> None:
        spec, post = model.manifest.preprocess, model.manifest.postprocess
        if post.get("kind") != "speech-activity":
            raise InvalidInput(f"Model {model.name!r} is not a speech-activity model")
        self.model = model
        self.sample_rate = int(spec["sample_rate"])
        self.chunk, self.context = int(spec["chunk"]), int(spec["context"])
        self._names = (spec["input"], spec["state"], spec["rate"], post["output"], post["state"])
        self._state_shape = tuple(spec["state_shape"])
        self.post = post
        # a package compressed with fixed_inputs={"sr": 16000} no longer takes the rate
        self._takes_rate = spec["rate"] in {i.name for i in model.session().get_inputs()}

    @classmethod
    def from_model(
        cls, name_or_path: str | os.PathLike[str] = VAD_MODEL, compute_units: ComputeUnits = "cpu"
    ) -> SpeechActivity:
        """Loads the VAD (one thread: each chunk is tiny, thread hand-offs would dominate)."""
        return cls(Model.load(name_or_path, compute_units=compute_units, threads=1))

    @property
    def chunk_seconds(self) -> float:
        return self.chunk / self.sample_rate

    def _forward(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        out = self.model.predict(feeds, outputs=[self._names[3], self._names[4]])
        return out[self._names[3]], out[self._names[4]]

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms chunk [ceil(N / 512)] (last chunk zero-padded)."""
        samples = np.asarray(samples, np.float32)
        count = -(-len(samples) // self.chunk)
        padded = np.zeros(self.context + count * self.chunk, np.float32)
        padded[self.context : self.context + len(samples)] = samples
        audio, state_name, rate_name = self._names[:3]
        state = np.zeros(self._state_shape, np.float32)
        rate = np.array(self.sample_rate, np.int64)
        out = np.empty(count, np.float32)
        width = self.chunk + self.context
        for i in range(count):  # recurrent: each chunk needs the previous state
            start = i * self.chunk
            window = padded[start : start + width][None, :]
            feeds = {audio: window, state_name: state}
            if self._takes_rate:
                feeds[rate_name] = rate
            probability, state = self._forward(feeds)
            out[i] = probability[0, 0]
        return out

    def _hysteresis(
        self,
        threshold: float | None,
        min_speech: float | None,
        min_silence: float | None,
        speech_pad: float | None,
    ) -> _Hysteresis:
        post = self.post
        high = float(post.get("threshold", 0.5) if threshold is None else threshold)
        if not 0.0 < high < 1.0:
            raise InvalidInput(f"threshold must be in (0, 1), not {high!r}")
        low = max(high - float(post.get("neg_threshold_offset", 0.15)), 0.01)

        def chunks(value: float | None, key: str) -> float:
            seconds = float(post.get(key, 0.0) if value is None else value)
            if seconds < 0:
                raise InvalidInput(f"{key} must be >= 0 seconds, not {value!r}")
            return seconds / self.chunk_seconds

        pad = float(post.get("speech_pad", 0.03) if speech_pad is None else speech_pad)
        return _Hysteresis(
            high,
            low,
            chunks(min_speech, "min_speech"),
            chunks(min_silence, "min_silence"),
            max(0.0, pad),
        )

    def ranges(
        self,
        probabilities: np.ndarray,
        duration: float,
        threshold: float | None = None,
        min_speech: float | None = None,
        min_silence: float | None = None,
        speech_pad: float | None = None,
    ) -> list[TimeRange]:
        """Speech ranges (seconds) from chunk probabilities, with Silero's hysteresis."""
        rule = self._hysteresis(threshold, min_speech, min_silence, speech_pad)
        spans: list[list[int]] = []
        start, quiet_from = None, None
        for i, p in enumerate(probabilities.tolist()):
            if p >= rule.threshold:
                quiet_from = None
                if start is None:
                    start = i
            elif start is not None and p < rule.neg_threshold:
                quiet_from = i if quiet_from is None else quiet_from
                if i - quiet_from >= rule.min_silence:
                    spans.append([start, quiet_from])
                    start, quiet_from = None, None
        if start is not None:
            spans.append([start, len(probabilities)])
        spans = [s for s in spans if s[1] - s[0] > rule.min_speech]
        return _padded(spans, self.chunk_seconds, rule.pad, duration)

    def detect(
        self, audio: AudioInput, sample_rate: int | None = None, **options: Any
    ) -> list[TimeRange]:
        """Speech ranges of a clip; arrays without ``sample_rate`` are taken as 16 kHz."""
        rate = (
            self.sample_rate
            if sample_rate is None and isinstance(audio, np.ndarray)
            else sample_rate
        )
        samples = load_audio(audio, rate, self.sample_rate)
        return self.ranges(self.probabilities(samples), len(samples) / self.sample_rate, **options)

    __call__ = detect


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
    threshold: float | None = None,
    min_speech: float | None = None,
    min_silence: float | None = None,
    speech_pad: float | None = None,
    model: str = VAD_MODEL,
) -> list[TimeRange]:
    """Ranges of speech in ``audio``, in seconds.

    Args:
        audio: a path, bytes, or samples; a float32 array without ``sample_rate`` is
            taken as 16 kHz (so speech.transcribe can gate its windows with it).
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
