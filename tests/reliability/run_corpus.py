"""Runs the generated bad-input corpus through one entry point, in its own process.

Usage: python run_corpus.py ENTRY_POINT OUT.json
Each case is announced on stderr before it runs, so a crash names its case. The JSON
summary lists, per case, the outcome ("ok" or the exception type), the message and the
seconds it took.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from corpus import audio_cases, image_cases, text_cases

KINDS = {
    "vision.classify": "image",
    "vision.detect": "image",
    "vision.pose": "image",
    "sound.identify": "audio",
    "sound.classify": "audio",
    "speech.transcribe": "audio",
    "language.answer": "text",
}


def _entry_point(entry: str) -> Callable[..., Any]:
    import importlib

    module_name, verb = entry.split(".")
    function = getattr(importlib.import_module(f"sensekit.{module_name}"), verb)
    if entry == "language.answer":
        return lambda pair, **kwargs: function(pair[0], pair[1], **kwargs)
    if entry == "speech.transcribe":
        return lambda audio, **kwargs: function(audio, beam_size=1, **kwargs)
    return function


def run(entry: str, out: Path) -> None:
    from sensekit.core.errors import SensekitError

    kind, function = KINDS[entry], _entry_point(entry)
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"image": image_cases, "audio": audio_cases}.get(kind, lambda _: text_cases())(
            Path(tmp)
        )
        warm_args, warm_kwargs = _warmup(kind)
        function(*warm_args, **warm_kwargs)  # build/load the model outside the timed cases
        results = []
        for name, value, kwargs in cases:
            print(f"case {name}", file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                function(value, **kwargs)
                outcome, message = "ok", ""
            except SensekitError as e:
                outcome, message = type(e).__name__, str(e)
            except Exception as e:  # a non-sensekit exception is a defect: record it
                outcome = f"UNEXPECTED {type(e).__name__}"
                message = "".join(traceback.format_exception_only(e)).strip()[-500:]
            results.append(
                {
                    "case": name,
                    "outcome": outcome,
                    "message": message[:300],
                    "seconds": round(time.perf_counter() - start, 3),
                }
            )
    out.write_text(json.dumps({"entry": entry, "results": results}, indent=1))


def _warmup(kind: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    import numpy as np

    if kind == "image":
        return (np.zeros((64, 64, 3), np.uint8),), {}
    if kind == "audio":
        return (np.zeros(16000, np.float32),), {"sample_rate": 16000}
    return (("Who?", "Nobody is here."),), {}


if __name__ == "__main__":
    run(sys.argv[1], Path(sys.argv[2]))
