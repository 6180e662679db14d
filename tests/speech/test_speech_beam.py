"""Beam search bookkeeping, on a scripted decoder (no model): only sequences that end
above the last kept beam count as finished, as in openai-whisper."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from sensekit.speech.whisper.decode import DecodeOptions, WhisperRunner

EOT, VOCAB = 5, 6


def _row(**logprobs: float) -> np.ndarray:
    row = np.full(VOCAB, -np.inf, np.float32)
    for name, value in logprobs.items():
        row[EOT if name == "eot" else int(name[1:])] = value
    return row


# next-token log-probabilities after each token (the script of the fake decoder)
AFTER = {
    0: _row(t2=-0.1, eot=-4.0),
    1: _row(t3=-0.1, eot=-4.0),
    2: _row(t4=-5.0, eot=-0.01),
    3: _row(t4=-5.0, eot=-0.01),
    4: _row(eot=-0.01),
}


def _scripted_runner() -> WhisperRunner:
    runner = WhisperRunner.__new__(WhisperRunner)
    runner.special = SimpleNamespace(eot=EOT)
    runner._filter = lambda logits, sequences, timestamps: logits
    runner._forward_decoder = lambda feed, cross, cache: (
        np.stack([AFTER[int(t)] for t in feed[:, -1]]),
        cache,
    )
    return runner


def test_low_scoring_endings_do_not_stop_the_search():
    # Step 1 offers tokens 0 and 1 and a poor ending (-3); step 2 offers poorer endings
    # (-4) below both kept beams. Counting those as finished would stop the search with
    # the empty sequence as its best; the right answer is 0, 2 then the end.
    first = _row(t0=-0.1, t1=-0.2, eot=-3.0)[None]
    options = DecodeOptions(
        task="transcribe", language="en", temperature=0.0, beam_size=2, best_of=5, sample_len=20
    )
    tokens, logprobs = _scripted_runner()._beam_search(first, {}, {"k": np.zeros((1, 1))}, options)
    assert tokens == [0, 2]
    np.testing.assert_allclose(logprobs, [-0.1, -0.1, -0.01], rtol=1e-6)
