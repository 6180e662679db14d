"""int8 weights fitted to the CPU, on a real model: both paths forced on this machine.

The embedding model (MiniLM, fp32 package) is quantized with int8 and with uint8 weights;
each package records its choice and the CPU, the other kind of CPU warns on load with the
fix, and both stay close to fp32 on real sentences where their kernels are exact."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

from sensekit.accelerate import cpu
from sensekit.core.model import Model
from sensekit.language import embed
from sensekit.tools.compress import compress

SENTENCES = [
    "The bridge links San Francisco to Marin County.",
    "A cat sat on the warm mat by the window.",
    "Joseph Strauss was the chief engineer of the Golden Gate Bridge.",
    "Whisper transcribes speech in many languages.",
    "The train to the airport leaves every twenty minutes.",
]


def _weight_types(path: Path) -> set[int]:
    graph = onnx.load(str(path / "model.onnx"))
    inits = {t.name: t.data_type for t in graph.graph.initializer}
    return {
        inits[n.input[1]]
        for n in graph.graph.node
        if n.op_type == "MatMulInteger" and n.input[1] in inits
    }


@pytest.mark.parametrize("weights", ["int8", "uint8"])
def test_each_int8_path_on_minilm(weights, monkeypatch, tmp_path):
    base = Model.load("minilm-embed", compute_units="cpu")
    fp32 = embed(SENTENCES, model="minilm-embed")
    monkeypatch.setenv(cpu.INT8_WEIGHTS_ENV, weights)
    report = compress(base, "int8-dynamic", tmp_path / f"embed-{weights}.skmodel", repeats=1)
    assert f"{weights} weights ({cpu.info().kind} CPU)" in report.notes
    want = onnx.TensorProto.INT8 if weights == "int8" else onnx.TensorProto.UINT8
    assert _weight_types(report.path) == {want}
    record = Model.load(report.path).manifest.conversion["int8"]
    assert record["weights"] == weights and record["cpu_kind"] == cpu.info().kind

    monkeypatch.delenv(cpu.INT8_WEIGHTS_ENV)  # load as a user would, on this CPU
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectors = embed(SENTENCES, model=str(report.path))
    fitted = weights == cpu.int8_weights()
    mismatch = [str(w.message) for w in caught if "rebuild it here" in str(w.message)]
    assert bool(mismatch) == (not fitted), mismatch
    similarity = np.sum(fp32 * vectors, 1) / (
        np.linalg.norm(fp32, axis=1) * np.linalg.norm(vectors, axis=1)
    )
    # Measured on an AVX2 EPYC: uint8 0.985, int8 0.961 (saturating sums: the warning above).
    assert similarity.min() > (0.97 if fitted else 0.9), similarity
