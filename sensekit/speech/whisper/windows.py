"""Long-form transcription: 30 s windows over a growing audio buffer, seeking by timestamps.

A :class:`WindowSession` is fed 16 kHz audio as it arrives (from a file reader or a
live stream) and turns it into final segments window by window, as openai-whisper's
``transcribe()`` does: decode the window at ``seek``, cut the tokens into segments at
consecutive timestamp pairs, and move ``seek`` to the last complete segment's end. Only
audio after ``seek`` is kept, so memory stays bounded for audio of any length.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from sensekit.accelerate import dsp
from sensekit.core.types import Segment, Word
from sensekit.speech.whisper.decode import DecodeOptions, DecodeResult, WhisperRunner

# Whisper's front end (accelerate.dsp holds it once; packages must match, see Transcriber)
SAMPLE_RATE = dsp.WHISPER_SAMPLE_RATE
FRAMES = dsp.WHISPER_FRAMES  # mel frames per window (10 ms hop)
HOP = dsp.WHISPER_HOP  # samples per mel frame
WINDOW = FRAMES * HOP  # samples per window (30 s)
SAMPLES_PER_TIMESTAMP = 320  # 20 ms: the encoder halves the frame rate
MIN_SPEECH_S = 0.25  # less VAD speech than this in a window: skip it
HALLUCINATION_NO_SPEECH = 0.8  # with <= 3 words, a window this sure of silence is dropped
TOKENS_PER_SECOND = 10  # generous cap on tokens per second of window audio
LEAD_IN_S = 0.5  # keep this much audio before the first speech in a window


def window_mel(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """[n_mels, 3000] log-mel of <= 30 s of audio, as openai transcribe() builds it.

    The log-mel is taken on the audio followed by 30 s of zeros (the floor at max - 8 then
    sees the same range); frames past the audio are set to zero, not to silence's log-mel.
    """
    padded = np.concatenate([audio.astype(np.float32), np.zeros(WINDOW, np.float32)])
    mel = dsp.log_mel_whisper(padded, n_mels=n_mels, frames=None)
    content = min(len(audio) // HOP, FRAMES)
    out = np.zeros((n_mels, FRAMES), np.float32)
    out[:, :content] = mel[:, :content]
    return out


class WindowSession:
    """Incremental long-form transcription state (see the module docstring)."""

    def __init__(self, runner: WhisperRunner, options: Any, gate: Any = None) -> None:
        self.runner, self.options, self.gate = runner, options, gate
        self.buffer = np.zeros(0, np.float32)
        self.offset = 0  # absolute sample index of buffer[0]
        self.seek = 0  # absolute sample index of the next window
        self.speech: list[np.ndarray] = []  # VAD mask per chunk, absolute
        self._vad_pos = 0
        self.tokens: list[int] = []
        self.reset_since = 0
        if options.initial_prompt:
            self.tokens = runner.tokenizer.encode(" " + options.initial_prompt.strip())
        self.language = options.language
        self.language_probability = 1.0
        self._last_text = ""

    @property
    def end(self) -> int:
        return self.offset + len(self.buffer)

    def feed(self, block: np.ndarray) -> None:
        """Appends 16 kHz mono samples; scores their speech activity when gating."""
        self.buffer = np.concatenate([self.buffer, block])
        if self.gate is not None:
            chunk = self.gate.chunk
            usable = (self.end - self._vad_pos) // chunk * chunk
            if usable:
                start = self._vad_pos - self.offset
                self.speech.append(
                    self.gate.speech_mask(
                        self.buffer[start : start + usable], self.options.vad_threshold
                    )
                )
                self._vad_pos += usable

    def ready(self, final: bool) -> Iterator[Segment]:
        """Final segments of every window that can be decoded now (all of them if final)."""
        while self.seek < self.end and (final or self.end - self.seek >= WINDOW):
            if final and self.gate is not None and self._vad_pos < self.end:
                self._score_tail()
            yield from self._window(min(WINDOW, self.end - self.seek))
            self._trim()

    def _score_tail(self) -> None:
        tail = self.buffer[self._vad_pos - self.offset :]
        padded = np.pad(tail, (0, self.gate.chunk - len(tail) % self.gate.chunk))
        self.speech.append(self.gate.speech_mask(padded, self.options.vad_threshold))
        self._vad_pos += len(padded)

    def _trim(self) -> None:
        keep_from = min(self.seek, self._vad_pos) if self.gate is not None else self.seek
        drop = max(0, keep_from - self.offset)
        if drop:
            self.buffer, self.offset = self.buffer[drop:], self.offset + drop

    def _speech_start(self, length: int) -> int | None:
        """Offset (samples) of the first speech in [seek, seek + length), None if too little."""
        chunk = self.gate.chunk
        mask = np.concatenate(self.speech) if len(self.speech) > 1 else self.speech[0]
        self.speech = [mask]
        first, last = self.seek // chunk, -(-(self.seek + length) // chunk)
        hits = np.nonzero(mask[first:last])[0]
        if len(hits) * chunk < MIN_SPEECH_S * SAMPLE_RATE:
            return None
        return max(0, (first + int(hits[0])) * chunk - self.seek)

    def _window(self, length: int) -> list[Segment]:
        if self.gate is not None and self.speech:
            start = self._speech_start(length)
            if start is None:
                self.seek += length
                return []
            if start > LEAD_IN_S * SAMPLE_RATE:  # move the window to where speech begins
                self.seek += start - int(LEAD_IN_S * SAMPLE_RATE)
                return []
        begin = self.seek - self.offset
        audio = self.buffer[begin : begin + length]
        result = self._decode(window_mel(audio, self.runner.n_mels), length)
        if self._silent(result) or not result.tokens:
            self.seek += length
            return []
        segments, advance = self._segments(result, length)
        self.seek += advance if advance > 0 else length
        self.tokens += [t for piece in segments for t in piece[3]]
        if not self.options.condition_on_previous_text or result.temperature > 0.5:
            self.reset_since = len(self.tokens)
        return [self._segment(piece, result) for piece in segments if self._keep(piece[3])]

    def _silent(self, result: DecodeResult) -> bool:
        """Whisper's silence rule (no-speech probability high, log-probability low), plus a
        very sure no-speech token with a few words at most: the "You" / "Thank you."
        that Whisper hallucinates on silence and noise."""
        o = self.options
        if (
            result.no_speech_prob > o.no_speech_threshold
            and result.avg_logprob < o.log_prob_threshold
        ):
            return True
        words = len(self.runner.tokenizer.decode(result.tokens).split())
        return result.no_speech_prob > HALLUCINATION_NO_SPEECH and words <= 3

    def _decode(self, mel: np.ndarray, length: int) -> DecodeResult:
        """Decodes with temperature fallback; retries without the prompt if that gave nothing."""
        # Nobody says more than ~8 tokens a second: longer output is a hallucination, and
        # capping it keeps failed high-temperature samples of short windows cheap.
        sample_len = min(224, 16 + int(TOKENS_PER_SECOND * length / SAMPLE_RATE))
        cross = self.runner.encode(mel)
        prompt = self.tokens[self.reset_since :]
        result = self._decode_window(cross, prompt, sample_len)
        if prompt and self.gate is not None and (self._silent(result) or not result.text.strip()):
            # VAD heard speech but the prompted decode calls it silence: the previous text
            # can talk the model out of a new sentence, so try once without it.
            result = self._decode_window(cross, [], sample_len)
        if self.language is None:
            self.language, self.language_probability = result.language, result.language_probability
        return result

    def _decode_window(
        self, cross: dict[str, np.ndarray], prompt: list[int], sample_len: int
    ) -> DecodeResult:
        """Tries each temperature until the text passes both thresholds (or is silence)."""
        o = self.options
        candidates: list[DecodeResult] = []
        for temperature in o.temperature:
            decode = DecodeOptions(
                task=o.task,
                language=self.language,
                temperature=temperature,
                beam_size=o.beam_size,
                best_of=o.best_of,
                sample_len=sample_len,
            )
            result = self.runner.decode(cross, decode, prompt)
            candidates.append(result)
            silent = (
                result.no_speech_prob > o.no_speech_threshold
                and result.avg_logprob < o.log_prob_threshold
            )
            if silent or (
                result.compression_ratio <= o.compression_ratio_threshold
                and result.avg_logprob >= o.log_prob_threshold
            ):
                break
        else:  # every temperature failed: the most probable non-looping candidate
            fine = [c for c in candidates if c.compression_ratio <= o.compression_ratio_threshold]
            result = max(fine or candidates, key=lambda c: c.avg_logprob)
        return result

    def _segments(
        self, result: DecodeResult, length: int
    ) -> tuple[list[tuple[int, int, int, list[int]]], int]:
        """(start, end samples, token offset, tokens) per timestamp pair; how far to seek."""
        begin = self.runner.special.timestamp_begin
        tokens = result.tokens
        stamp = np.array(tokens) >= begin
        single_ending = len(tokens) >= 2 and not stamp[-2] and stamp[-1]
        cuts = (np.nonzero(stamp[:-1] & stamp[1:])[0] + 1).tolist()
        if not cuts:
            stamps = [t for t in tokens if t >= begin]
            end = (
                (stamps[-1] - begin) * SAMPLES_PER_TIMESTAMP
                if stamps and stamps[-1] != begin
                else length
            )
            return [(self.seek, self.seek + min(end, length), 0, tokens)], length
        if single_ending:
            cuts.append(len(tokens))
        pieces, last = [], 0
        for cut in cuts:
            piece = tokens[last:cut]
            start, end = (
                (min(t - begin, length // SAMPLES_PER_TIMESTAMP) * SAMPLES_PER_TIMESTAMP)
                for t in (piece[0], piece[-1])
            )
            pieces.append((self.seek + start, self.seek + end, last, piece))
            last = cut
        advance = length if single_ending else (tokens[last - 1] - begin) * SAMPLES_PER_TIMESTAMP
        return pieces, min(advance, length)

    def _keep(self, tokens: list[int]) -> bool:
        """Drops empty segments and a segment repeating the previous one word for word."""
        text = self.runner.tokenizer.decode(tokens).strip()
        repeated = len(text) > 12 and text.lower() == self._last_text
        self._last_text = text.lower()
        return bool(text) and not repeated

    def _segment(self, piece: tuple[int, int, int, list[int]], result: DecodeResult) -> Segment:
        start, end, _, tokens = piece
        words = self._words(piece, result) if self.options.word_timestamps else ()
        return Segment(
            start / SAMPLE_RATE,
            max(end, start) / SAMPLE_RATE,
            self.runner.tokenizer.decode(tokens),
            result.avg_logprob,
            result.no_speech_prob,
            result.compression_ratio,
            result.temperature,
            words,
        )

    def _words(
        self, piece: tuple[int, int, int, list[int]], result: DecodeResult
    ) -> tuple[Word, ...]:
        """Approximate word times: the segment's span shared out by characters per word;
        a word's probability is exp(mean log-probability of its tokens)."""
        start, end, first, tokens = piece
        tokenizer, eot = self.runner.tokenizer, self.runner.special.eot
        positions = [first + i for i, t in enumerate(tokens) if t < eot]
        groups = tokenizer.split_words([tokens[p - first] for p in positions])
        if not groups:
            return ()
        texts = [tokenizer.decode(g) for g in groups]
        sizes = np.array([max(len(t.strip()), 1) for t in texts], np.float64)
        edges = start + np.concatenate([[0.0], np.cumsum(sizes)]) / sizes.sum() * (end - start)
        words, cursor = [], 0
        for text, group, a, b in zip(texts, groups, edges[:-1], edges[1:]):
            values = [
                result.token_logprobs[p]
                for p in positions[cursor : cursor + len(group)]
                if p < len(result.token_logprobs)
            ]
            cursor += len(group)
            words.append(
                Word(
                    text,
                    float(a) / SAMPLE_RATE,
                    float(b) / SAMPLE_RATE,
                    float(np.exp(np.mean(values))) if values else 0.0,
                )
            )
        return tuple(words)
