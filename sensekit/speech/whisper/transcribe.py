"""Speech to text with Whisper: files and arrays of any length, and live streams."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensekit.accelerate import dsp
from sensekit.core.audio import _check_rate
from sensekit.core.blocks import WhisperLogMel
from sensekit.core.errors import InvalidInput
from sensekit.core.model import Model
from sensekit.core.tasks import Task, cached_default
from sensekit.core.types import Segment, Transcript
from sensekit.sound.resample import StreamResampler
from sensekit.speech.audio_input import SAMPLE_RATE, audio_blocks, check_samples
from sensekit.speech.whisper.decode import DecodeOptions, WhisperRunner
from sensekit.speech.whisper.tokenizer import TASKS, SpecialTokens, WhisperTokenizer
from sensekit.speech.whisper.windows import WindowSession, window_mel

DEFAULT_MODEL = "whisper-tiny.en"
DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

# The front end the decoder and windowing are built for; a package must declare the same.
WHISPER_FRONT_END = WhisperLogMel(
    sample_rate=dsp.WHISPER_SAMPLE_RATE,
    n_fft=dsp.WHISPER_N_FFT,
    hop=dsp.WHISPER_HOP,
    window_seconds=dsp.WHISPER_FRAMES * dsp.WHISPER_HOP // dsp.WHISPER_SAMPLE_RATE,
    frames=dsp.WHISPER_FRAMES,
)


@dataclass(frozen=True)
class TranscribeOptions:
    """Options of :class:`Transcriber`.

    Attributes:
        language: spoken language code ("en", "de", ...); None detects it on the first
            window (multilingual models; English-only models always say "en").
        task: "transcribe", or "translate" into English (multilingual models).
        beam_size: beams of the temperature-0 decode (1 = greedy).
        best_of: candidates sampled at each fallback temperature > 0.
        temperature: temperatures tried in turn until the text passes both thresholds.
        compression_ratio_threshold: text compressing better than this (zlib) is a loop.
        log_prob_threshold: a mean token log-probability below this is a failed decode.
        no_speech_threshold: with a low log-probability, a window whose no-speech
            probability exceeds this is silence and yields nothing.
        condition_on_previous_text: prompt each window with the text before it (Whisper's
            default). Off by default here: on a 3.5 min clip that repeats a paragraph,
            the prompt made windows end after one or two sentences and skip the rest
            (WER 0.165 on vs 0.116 off at beam 5; faster-whisper 0.116).
        initial_prompt: text to prompt the first window with (names, spelling, style).
        word_timestamps: fill ``Segment.words``. Times are approximate: each segment's
            span (from Whisper's 20 ms timestamp tokens) is shared among its words in
            proportion to their length in characters; no cross-attention alignment.
        vad: skip windows without speech (Silero VAD), the guard against Whisper's
            hallucinations on silence and noise.
        vad_threshold: speech probability above which a 32 ms chunk counts as speech.
    """

    language: str | None = None
    task: str = "transcribe"
    beam_size: int = 5
    best_of: int = 5
    temperature: tuple[float, ...] = DEFAULT_TEMPERATURES
    compression_ratio_threshold: float = 2.4
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6
    condition_on_previous_text: bool = False
    initial_prompt: str | None = None
    word_timestamps: bool = False
    vad: bool = True
    vad_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InvalidInput(f"task must be one of {TASKS}, not {self.task!r}")
        if not isinstance(self.beam_size, int) or not 1 <= self.beam_size <= 16:
            raise InvalidInput(f"beam_size must be an int in 1..16, not {self.beam_size!r}")
        if not isinstance(self.best_of, int) or not 1 <= self.best_of <= 16:
            raise InvalidInput(f"best_of must be an int in 1..16, not {self.best_of!r}")
        temps = (
            (self.temperature,)
            if isinstance(self.temperature, (int, float))
            else tuple(self.temperature)
        )
        if not temps or any(not isinstance(t, (int, float)) or not 0 <= t <= 2 for t in temps):
            raise InvalidInput(f"temperature must be numbers in [0, 2], not {self.temperature!r}")
        object.__setattr__(self, "temperature", tuple(float(t) for t in temps))
        if self.language is not None and not isinstance(self.language, str):
            raise InvalidInput(f"language must be a code such as 'en', not {self.language!r}")
        if self.initial_prompt is not None and not isinstance(self.initial_prompt, str):
            raise InvalidInput("initial_prompt must be a string")
        if not 0.0 < float(self.vad_threshold) < 1.0:
            raise InvalidInput(f"vad_threshold must be in (0, 1), not {self.vad_threshold!r}")


@dataclass(frozen=True)
class TranscriptUpdate:
    """One result of :meth:`Transcriber.stream`.

    Attributes:
        is_final: True for finished segments (they never change); False for a partial
            guess at the audio after the last final segment (replaced by later updates).
        segments: the final segments (absolute times), or () for a partial.
        text: the segments' text, or the partial text.
        start, end: seconds of the stream this update covers.
    """

    is_final: bool
    segments: tuple[Segment, ...]
    text: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_final": self.is_final,
            "segments": [s.to_dict() for s in self.segments],
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }


class Transcriber(Task):
    """Transcribes speech with a Whisper model package (task speech-recognition)."""

    MANIFEST_TASKS = ("speech-recognition",)
    Options = TranscribeOptions
    DEFAULT_MODEL = DEFAULT_MODEL

    def __init__(self, model: Model, options: TranscribeOptions | None = None) -> None:
        super().__init__(model, options)
        post = model.manifest.postprocess
        if post.get("kind") != "whisper":
            raise InvalidInput(f"Model {model.name!r} is not a Whisper speech model")
        front = model.manifest.inputs.get("")
        if front != WHISPER_FRONT_END:
            raise InvalidInput(
                f"Model {model.name!r}: its audio front end {front} is not Whisper's "
                f"{WHISPER_FRONT_END}, which this decoder is built for"
            )
        special = SpecialTokens.from_manifest(post["tokens"])
        tokenizer = WhisperTokenizer(
            model.package.path(post.get("tokenizer", "tokenizer.json")), special
        )
        self.runner = WhisperRunner(model, tokenizer)
        self._gate: Any = None

    @property
    def multilingual(self) -> bool:
        return self.runner.special.multilingual

    def _session(self, options: TranscribeOptions) -> WindowSession:
        if options.language is not None and self.multilingual:
            self.runner.tokenizer.language_token(options.language)  # validates the code
        elif options.language not in (None, "en"):
            raise InvalidInput(
                f"{self.model.name} is English-only; language "
                f"{options.language!r} needs a multilingual model "
                f"(e.g. model='whisper-base')"
            )
        gate = None
        if options.vad:
            from sensekit.sound.vad import speech_gate

            if self._gate is None:
                self._gate = speech_gate()
            gate = self._gate  # shared by threads: the threshold travels with the session
        return WindowSession(self.runner, options, gate)

    def segments(
        self, audio: Any, sample_rate: int | None = None, progress: bool = False, **overrides: Any
    ) -> Iterator[Segment]:
        """Final segments as soon as each window is decoded (files are streamed from disk)."""
        session = self._session(self.resolve(overrides))
        yield from self._run(session, audio, sample_rate, progress)

    def _run(
        self, session: WindowSession, audio: Any, sample_rate: int | None, progress: bool
    ) -> Iterator[Segment]:
        bar = _progress_bar(audio) if progress else None
        fed = 0
        for block in audio_blocks(audio, sample_rate):
            session.feed(block)
            fed += len(block)
            yield from session.ready(final=False)
            if bar is not None:
                bar.update(round(session.seek / SAMPLE_RATE - bar.n, 2))
        if fed == 0:
            raise InvalidInput("The audio is empty (0 samples)")
        yield from session.ready(final=True)
        if bar is not None:
            bar.update(round(fed / SAMPLE_RATE - bar.n, 2))
            bar.close()

    def transcribe(
        self, audio: Any, sample_rate: int | None = None, progress: bool = False, **overrides: Any
    ) -> Transcript:
        """Transcribes a path (wav/flac/ogg/mp3...), bytes or an array.

        Args:
            audio: the audio; arrays need ``sample_rate``.
            sample_rate: Hz of an array input.
            progress: show a progress bar (seconds of audio done).
            **overrides: :class:`TranscribeOptions` fields for this call.

        Raises:
            InvalidInput: unreadable, empty or non-finite audio; bad options.
        """
        session = self._session(self.resolve(overrides))
        segments = tuple(self._run(session, audio, sample_rate, progress))
        text = "".join(s.text for s in segments).strip()
        return Transcript(
            text,
            session.language or "en",
            session.language_probability,
            segments,
            session.end / SAMPLE_RATE,
        )

    __call__ = transcribe

    def stream(
        self,
        chunks: Iterable[Any],
        sample_rate: int = SAMPLE_RATE,
        partial_interval: float = 1.0,
        **overrides: Any,
    ) -> Iterator[TranscriptUpdate]:
        """Transcribes audio as it arrives.

        Yields final updates (segments with absolute times, decided once a 30 s window
        has filled, and at the end) and, every ``partial_interval`` seconds of new audio,
        a partial update with a greedy guess at the not yet final audio.
        """
        session = self._session(self.resolve(overrides))
        resampler = StreamResampler(_check_rate(sample_rate, "sample_rate"), SAMPLE_RATE)
        since_partial = 0
        for block in resampler.stream(_stream_block(chunk) for chunk in chunks):
            session.feed(block)
            since_partial += len(block)
            for segment in session.ready(final=False):
                yield _final(segment)
            pending = session.end - session.seek
            if since_partial >= partial_interval * SAMPLE_RATE and pending >= SAMPLE_RATE // 2:
                since_partial = 0
                yield self._partial(session)
        for segment in session.ready(final=True):
            yield _final(segment)

    def _partial(self, session: WindowSession) -> TranscriptUpdate:
        begin = session.seek - session.offset
        audio = session.buffer[begin:]
        cross = self.runner.encode(window_mel(audio[-30 * SAMPLE_RATE :], self.runner.n_mels))
        language = session.language if self.multilingual else "en"
        greedy = DecodeOptions(
            task=session.options.task,
            language=language,
            temperature=0.0,
            beam_size=1,
            best_of=1,
            without_timestamps=True,
        )
        result = self.runner.decode(cross, greedy)
        quiet = result.no_speech_prob > session.options.no_speech_threshold
        return TranscriptUpdate(
            False,
            (),
            "" if quiet else result.text.strip(),
            session.seek / SAMPLE_RATE,
            session.end / SAMPLE_RATE,
        )


def _final(segment: Segment) -> TranscriptUpdate:
    return TranscriptUpdate(True, (segment,), segment.text.strip(), segment.start, segment.end)


def _stream_block(chunk: Any) -> np.ndarray:
    """A chunk of a live stream as mono float32 at its own rate."""
    try:
        mono = dsp.to_mono_float(np.asarray(chunk))
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"A stream chunk is not audio: {e}") from e
    return check_samples(mono)


def _progress_bar(audio: Any) -> Any:
    from tqdm import tqdm

    total = None
    if isinstance(audio, (str, os.PathLike)):
        try:
            import soundfile as sf

            total = round(sf.info(str(audio)).duration, 2)
        except Exception:  # not readable by soundfile (mp3 via ffmpeg): no total
            total = None
    return tqdm(total=total, unit="s", desc="transcribing", leave=False)


def transcribe(
    audio: Any,
    *,
    language: str | None = None,
    task: str = "transcribe",
    beam_size: int = 5,
    temperature: float | tuple[float, ...] = DEFAULT_TEMPERATURES,
    word_timestamps: bool = False,
    vad: bool = True,
    initial_prompt: str | None = None,
    model: str = DEFAULT_MODEL,
    sample_rate: int | None = None,
    **options: Any,
) -> Transcript:
    """Transcribes speech with a shared default Whisper model.

    Audio of any length is decoded in 30 s windows that seek by Whisper's timestamps;
    windows without speech (Silero VAD) are skipped, and failing decodes fall back to
    higher temperatures. See :class:`TranscribeOptions` for every option.

    Args:
        audio: a path (wav, flac, ogg, mp3 via ffmpeg), bytes, or an array (with
            ``sample_rate``); stereo is mixed down and any rate is resampled to 16 kHz.
        language: language code, or None to detect it (multilingual models).
        task: "transcribe" or "translate" (to English).
        beam_size: beams at temperature 0 (1 = greedy).
        temperature: fallback temperatures.
        word_timestamps: fill ``Segment.words`` (approximate; see TranscribeOptions).
        vad: skip non-speech windows.
        initial_prompt: text that primes the first window.
        model: zoo name ("whisper-tiny.en", "whisper-base") or package path.
        sample_rate: Hz of an array input.

    Returns:
        A Transcript with the text, language and timed segments.
    """
    transcriber = cached_default(("transcribe", str(model)), lambda: Transcriber.from_model(model))
    return transcriber.transcribe(
        audio,
        sample_rate,
        language=language,
        task=task,
        beam_size=beam_size,
        temperature=temperature,
        word_timestamps=word_timestamps,
        vad=vad,
        initial_prompt=initial_prompt,
        **options,
    )
