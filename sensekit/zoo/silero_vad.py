"""Silero VAD (voice activity detection) from the PyPI package ``silero-vad``.

The wheel's ``silero_vad.onnx`` is used as is: it takes one chunk of 512 samples at
16 kHz preceded by the last 64 samples of the previous chunk ([B, 576]), the recurrent
``state`` [2, B, 128] and ``sr``; it returns the speech probability [B, 1] and the next
state. The build checks that the graph runs and that its streaming state carries over.
"""

from __future__ import annotations

import numpy as np

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.core.sources import PackageSource, UrlSource

NAME = "silero-vad"
MODEL = PackageSource(
    "pypi",
    "silero-vad",
    "6.2.3",
    "silero_vad/data/silero_vad.onnx",
    "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
)

# Silero's streaming contract (silero_vad/utils_vad.py, OnnxWrapper): 512-sample chunks at
# 16 kHz (32 ms), each prefixed by 64 samples of context; state [2, batch, 128].
PREPROCESS = {
    "kind": "audio",
    "sample_rate": 16000,
    "chunk": 512,
    "context": 64,
    "state_shape": [2, 1, 128],
    "input": "input",
    "state": "state",
    "rate": "sr",
}
# Silero's get_speech_timestamps defaults, applied by sound.speech_activity.
POSTPROCESS = {
    "kind": "speech-activity",
    "output": "output",
    "state": "stateN",
    "threshold": 0.5,
    "neg_threshold_offset": 0.15,
    "min_speech": 0.25,
    "min_silence": 0.1,
    "speech_pad": 0.03,
}


def _smoke_test(path: str) -> float:
    """Runs two chunks (tone, then silence) and returns the speech probabilities' spread."""
    from sensekit.core.errors import ConversionError
    from sensekit.tools.convert.verify import run_onnx

    state = np.zeros(PREPROCESS["state_shape"], np.float32)
    rate = np.array(16000, np.int64)
    chunk = np.zeros((1, 576), np.float32)
    probability, state = run_onnx(path, {"input": chunk, "state": state, "sr": rate})
    if (
        probability.shape != (1, 1)
        or state.shape != (2, 1, 128)
        or not 0.0 <= float(probability[0, 0]) <= 1.0
    ):
        raise ConversionError(f"silero-vad gives shapes {probability.shape}, {state.shape}")
    return float(probability[0, 0])


def _build(ctx: BuildContext) -> None:
    from sensekit.core.package import write_package

    source = ctx.fetch("model")
    manifest = ctx.manifest(
        graphs={"main": "model.onnx"}, preprocess=PREPROCESS, postprocess=POSTPROCESS
    )
    with write_package(ctx.destination, manifest) as writer:
        writer.add_file("model.onnx", source)
        silence = _smoke_test(str(writer.dir / "model.onnx"))
        manifest["conversion"] = {
            "from": "onnx",
            "copied": True,
            "max_abs_diff": 0.0,
            "silence_probability": silence,
        }


RECIPE = register(
    Recipe(
        name=NAME,
        task="speech-activity",
        summary="Silero VAD v5, speech probability per 32 ms chunk at 16 kHz",
        license="MIT",
        build=_build,
        sources={"model": (MODEL, UrlSource.pypi(MODEL))},
    )
)
