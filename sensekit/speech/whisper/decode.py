"""Decoding one 30 s window: greedy, sampling and beam search over the ONNX decoder.

The encoder runs once per window and returns every decoder layer's cross-attention K/V;
the decoder runs one token per step with a self-attention cache that is reordered by
beam (``np.take`` on the batch axis). Logit filters follow openai-whisper's
``decoding.py``: suppressed tokens, a blank-free first token, and the timestamp rules
(timestamps come in pairs, never go backwards, the first one is within 1 s).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from sensekit.core.model import Model
from sensekit.speech.whisper.tokenizer import WhisperTokenizer

MAX_INITIAL_TIMESTAMP_S = 1.0


@dataclass(frozen=True, kw_only=True)
class DecodeOptions:
    """How to decode one window.

    Attributes:
        task: "transcribe" or "translate" (to English).
        language: language code, or None to detect it (multilingual models only).
        temperature: 0 = greedy or beam search; > 0 samples ``best_of`` candidates.
        beam_size: beams at temperature 0 (1 = greedy).
        best_of: candidates sampled at temperature > 0.
        sample_len: most tokens generated per window.
        without_timestamps: decode text only (no timestamp tokens).
    """

    task: str = "transcribe"
    language: str | None = None
    temperature: float = 0.0
    beam_size: int = 5
    best_of: int = 5
    sample_len: int = 224
    without_timestamps: bool = False


@dataclass
class DecodeResult:
    """The best sequence of one window (generated ids exclude the prefix and EOT)."""

    tokens: list[int]
    token_logprobs: list[float]
    text: str
    avg_logprob: float
    no_speech_prob: float
    temperature: float
    language: str | None = None
    language_probability: float = 1.0
    compression_ratio: float = field(init=False)

    def __post_init__(self) -> None:
        self.compression_ratio = compression_ratio(self.text)


def compression_ratio(text: str) -> float:
    """len(utf-8 text) / len(zlib(text)): repetitive (looping) text compresses well."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 1.0


def log_softmax(logits: np.ndarray) -> np.ndarray:
    top = np.max(logits, axis=-1, keepdims=True)
    shifted = logits - top
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def cut_repetition(
    tokens: list[int], min_total: int = 16, max_period: int = 24, timestamp_begin: int | None = None
) -> list[int]:
    """Cuts a repetition loop at the end of ``tokens`` (a period repeated >= 3 times and
    covering >= ``min_total`` tokens), keeping its first occurrence.

    With ``timestamp_begin`` every timestamp token counts as the same token: a loop such
    as "<|1.0|> The <|1.5|><|1.5|> The <|2.0|>..." moves its timestamps on each turn and
    would otherwise run to the token limit."""
    n = len(tokens)
    keys = (
        tokens
        if timestamp_begin is None
        else [t if t < timestamp_begin else timestamp_begin for t in tokens]
    )
    for period in range(1, min(max_period, n // 3) + 1):
        repeats = 1
        while (repeats + 1) * period <= n and keys[
            n - (repeats + 1) * period : n - repeats * period
        ] == keys[n - period :]:
            repeats += 1
        if repeats >= 3 and repeats * period >= min_total:
            return tokens[: n - (repeats - 1) * period]
    return tokens


def sample_rows(logprobs: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One token per row drawn from softmax(logprobs / temperature), by inverse CDF.

    Categorical sampling as the Gumbel-max trick does it, for one exp per vocabulary
    entry and one uniform draw per row instead of a uniform draw and two logarithms per
    entry (5 x 51,864 of them per step)."""
    scaled = logprobs / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    cumulative = np.cumsum(np.exp(scaled, out=scaled), axis=-1)
    draws = rng.random(len(cumulative)) * cumulative[:, -1]
    chosen = [np.searchsorted(row, u, side="right") for row, u in zip(cumulative, draws)]
    return np.minimum(np.array(chosen, np.int64), logprobs.shape[-1] - 1)


class WhisperRunner:
    """Runs the encoder and decoder graphs of a Whisper package and decodes windows."""

    def __init__(self, model: Model, tokenizer: WhisperTokenizer) -> None:
        post = model.manifest.postprocess
        self.model, self.tokenizer = model, tokenizer
        self.special = tokenizer.special
        self.n_text_ctx = int(post["dims"]["n_text_ctx"])
        self.n_mels = int(post["dims"]["n_mels"])
        self.suppress = tokenizer.non_speech_suppression(post.get("suppress_ids", []))
        self.suppress_begin = np.array(post.get("suppress_ids_begin", []), np.int64)
        self.max_initial = self.special.timestamp_begin + round(
            MAX_INITIAL_TIMESTAMP_S / float(post.get("seconds_per_timestamp", 0.02))
        )
        decoder = model.session("decoder")
        self._present = [o.name for o in decoder.get_outputs()][1:]
        self._empty = {
            i.name: np.zeros((1, i.shape[1], 0, i.shape[3]), np.float32)
            for i in decoder.get_inputs()
            if i.name.startswith("past_")
        }

    # -- graphs ----------------------------------------------------------------------
    def _forward_encoder(self, mel: np.ndarray) -> dict[str, np.ndarray]:
        """mel [n_mels, 3000] -> cross-attention K/V of every decoder layer (batch 1)."""
        out = self.model.predict({"mel": mel[None]}, graph="encoder")
        return {k: v for k, v in out.items() if k.startswith("cross_")}

    def _forward_decoder(
        self, tokens: np.ndarray, cross: dict[str, np.ndarray], cache: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """tokens [B, T] -> last-position logits [B, vocab] and the grown cache."""
        out = self.model.predict({"tokens": tokens, **cross, **cache}, graph="decoder")
        cache = {n.replace("present_", "past_"): out[n] for n in self._present}
        return out["logits"][:, -1].astype(np.float32), cache

    def encode(self, mel: np.ndarray) -> dict[str, np.ndarray]:
        return self._forward_encoder(mel)

    # -- decoding --------------------------------------------------------------------
    def decode(
        self, cross: dict[str, np.ndarray], options: DecodeOptions, prompt: list[int] | None = None
    ) -> DecodeResult:
        """Decodes one window whose encoder output is ``cross``.

        ``prompt`` (previous text ids) goes after <|startofprev|>, cut to half the context.
        """
        special = self.special
        prefix = [special.sot_prev, *prompt[-(self.n_text_ctx // 2 - 1) :]] if prompt else []
        # The step that ends at SOT gives the no-speech probability and the language.
        logits, cache = self._forward_decoder(
            np.array([[*prefix, special.sot]]), cross, self._empty
        )
        probs = np.exp(log_softmax(logits[0].astype(np.float64)))
        no_speech = float(probs[special.no_speech]) if special.no_speech is not None else 0.0
        language, language_prob = options.language, 1.0
        if special.multilingual and language is None:
            language, language_prob = self._detect(logits[0])
        elif not special.multilingual:
            language = "en"
        rest = self.tokenizer.sot_sequence(language, options.task)[1:]
        rest += [special.no_timestamps] if options.without_timestamps else []
        if rest:
            logits, cache = self._forward_decoder(np.array([rest]), cross, cache)
        if options.temperature == 0 and options.beam_size > 1:
            tokens, logprobs = self._beam_search(logits, cross, cache, options)
        else:
            tokens, logprobs = self._sample(logits, cross, cache, options)
        tokens = cut_repetition(tokens, timestamp_begin=special.timestamp_begin)
        logprobs = logprobs[: len(tokens) + 1]
        text = self.tokenizer.decode(tokens)
        return DecodeResult(
            tokens,
            logprobs,
            text,
            float(np.sum(logprobs)) / (len(tokens) + 1),
            no_speech,
            options.temperature,
            language,
            language_prob,
        )

    def _detect(self, logits: np.ndarray) -> tuple[str, float]:
        ids = self.tokenizer.language_ids()
        probs = np.exp(log_softmax(logits[ids].astype(np.float64)))
        best = int(np.argmax(probs))
        return self.special.languages[best], float(probs[best])

    def _filter(
        self, logits: np.ndarray, sequences: list[list[int]], timestamps: bool
    ) -> np.ndarray:
        """Log-probabilities [B, vocab] after suppression and the timestamp rules."""
        logits = logits.copy()
        logits[:, self.suppress] = -np.inf
        if not sequences[0]:
            logits[:, self.suppress_begin] = -np.inf
        if timestamps:
            for row, sequence in zip(logits, sequences):
                self._timestamp_rules(row, sequence)
        logprobs = log_softmax(logits)
        if timestamps:
            begin = self.special.timestamp_begin
            stamp_mass = np.logaddexp.reduce(logprobs[:, begin:], axis=-1)
            text_best = np.max(logprobs[:, :begin], axis=-1)
            prefer = stamp_mass > text_best
            if prefer.any():  # a timestamp is likelier than any text token: emit one
                logits[prefer, :begin] = -np.inf
                logprobs[prefer] = log_softmax(logits[prefer])
        return logprobs

    def _timestamp_rules(self, row: np.ndarray, sequence: list[int]) -> None:
        special = self.special
        begin = special.timestamp_begin
        row[special.no_timestamps] = -np.inf
        last = len(sequence) >= 1 and sequence[-1] >= begin
        penultimate = len(sequence) < 2 or sequence[-2] >= begin
        if last:
            if penultimate:
                row[begin:] = -np.inf  # a pair just closed: text must follow
            else:
                row[: special.eot] = -np.inf  # close the pair, or end
        stamps = [t for t in sequence if t >= begin]
        if stamps:  # timestamps never go backwards
            floor = stamps[-1] if (last and not penultimate) else stamps[-1] + 1
            row[begin:floor] = -np.inf
        if not sequence:
            row[:begin] = -np.inf  # start with a timestamp, within the first second
            row[self.max_initial + 1 :] = -np.inf

    def _sample(
        self,
        logits: np.ndarray,
        cross: dict[str, np.ndarray],
        cache: dict[str, np.ndarray],
        options: DecodeOptions,
    ) -> tuple[list[int], list[float]]:
        """Greedy (temperature 0) or ``best_of`` sampled sequences; returns the best.

        A candidate stops at EOT or when it starts looping; stopped candidates leave the
        decoder's batch. A looping candidate is only returned when all of them loop."""
        count = 1 if options.temperature == 0 else options.best_of
        rng = np.random.default_rng(0)  # reproducible fallbacks
        eot, begin = self.special.eot, self.special.timestamp_begin
        sequences: list[list[int]] = [[] for _ in range(count)]
        scores: list[list[float]] = [[] for _ in range(count)]
        looped = [False] * count
        active = list(range(count))  # candidates still decoding, in decoder-batch order
        logits = np.repeat(logits, count, axis=0)
        cache = {k: np.repeat(v, count, axis=0) for k, v in cache.items()}
        for _ in range(options.sample_len):
            logprobs = self._filter(
                logits, [sequences[i] for i in active], not options.without_timestamps
            )
            chosen = (
                np.argmax(logprobs, axis=-1)
                if options.temperature == 0
                else sample_rows(logprobs, options.temperature, rng)
            )
            going = []
            for row, i in enumerate(active):
                token = int(chosen[row])
                scores[i].append(float(logprobs[row, token]))
                if token == eot:
                    continue
                sequences[i].append(token)
                if len(cut_repetition(sequences[i], timestamp_begin=begin)) < len(sequences[i]):
                    looped[i] = True
                    continue
                going.append(row)
            if not going:
                break
            if len(going) < len(active):
                cache = {k: np.take(v, going, axis=0) for k, v in cache.items()}
                active = [active[row] for row in going]
            feed = chosen[going][:, None].astype(np.int64)
            logits, cache = self._forward_decoder(feed, cross, cache)
        pool = [i for i in range(count) if not looped[i]] or list(range(count))
        best = max(pool, key=lambda i: sum(scores[i]) / max(len(sequences[i]), 1))
        return sequences[best], scores[best]

    def _beam_search(
        self,
        logits: np.ndarray,
        cross: dict[str, np.ndarray],
        cache: dict[str, np.ndarray],
        options: DecodeOptions,
    ) -> tuple[list[int], list[float]]:
        """Beam search with ``beam_size`` beams; stops when that many sequences ended."""
        width, eot = options.beam_size, self.special.eot
        beams: list[tuple[list[int], list[float]]] = [([], [])]
        finished: list[tuple[list[int], list[float]]] = []
        timestamps = not options.without_timestamps
        for _ in range(options.sample_len):
            logprobs = self._filter(logits, [b[0] for b in beams], timestamps)
            totals = np.array([sum(b[1]) for b in beams])[:, None] + logprobs
            top = np.argpartition(-totals, width, axis=-1)[:, : width + 1]
            candidates = sorted(
                ((totals[b, t], b, int(t)) for b in range(len(beams)) for t in top[b]), reverse=True
            )
            kept: list[tuple[list[int], list[float]]] = []
            sources: list[int] = []
            # As openai-whisper: walk the candidates best first until ``width`` beams are
            # kept; only the ended sequences met on the way (scoring above the last kept
            # beam) count as finished. Collecting lower ones too fills ``finished`` with
            # short, poor endings and stops the search after the first sentence.
            for _score, b, token in candidates:
                tokens, scores = beams[b]
                step = [*scores, float(logprobs[b, token])]
                if token == eot:
                    if len(finished) < width:
                        finished.append((tokens, step))
                    continue
                kept.append(([*tokens, token], step))
                sources.append(b)
                if len(kept) >= width:
                    break
            if len(finished) >= width or not kept:
                break
            beams = kept
            cache = {k: np.take(v, sources, axis=0) for k, v in cache.items()}
            feed = np.array([[b[0][-1]] for b in beams], np.int64)
            logits, cache = self._forward_decoder(feed, cross, cache)
        pool = finished or beams
        return max(pool, key=lambda b: sum(b[1]) / max(len(b[0]), 1))
