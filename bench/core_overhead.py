"""core.Model.predict vs a raw onnxruntime.InferenceSession.run on the same model and inputs.

Interleaved rounds, medians and the median of per-round ratios (goal <= 1.02).
Run: python bench/core_overhead.py [--model efficientnet-lite0] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

from sensekit.accelerate import cpu
from sensekit.core.model import ORT_SPIN_WAIT, Model


def _time(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(cpu.describe())  # every figure says which CPU it came from

    model = Model.load(args.model, compute_units="cpu", threads=args.threads)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = args.threads
    # Same spin-wait setting as sensekit's sessions: in interleaved runs an idle pool that
    # spins steals the cores of the other side, which would skew the ratio either way.
    if not ORT_SPIN_WAIT:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    raw = ort.InferenceSession(
        str(model.package.graph_path()), options, providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in raw.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in spec.shape]
        feeds[spec.name] = rng.standard_normal(shape).astype(np.float32)
    for _ in range(3):  # warm up both
        model.predict(feeds)
        raw.run(None, feeds)
    ours, theirs, ratios = [], [], []
    for round_index in range(args.rounds):
        order = [("sensekit", lambda: model.predict(feeds)), ("raw", lambda: raw.run(None, feeds))]
        if round_index % 2:
            order.reverse()
        timings = {name: _time(fn, args.repeats) for name, fn in order}
        ours.append(timings["sensekit"])
        theirs.append(timings["raw"])
        ratios.append(timings["sensekit"] / timings["raw"])
    print(
        f"model {args.model}, {args.rounds} interleaved rounds x {args.repeats} runs, "
        f"{args.threads} threads"
    )
    print(f"  sensekit Model.predict   median {statistics.median(ours) * 1e3:8.3f} ms")
    print(f"  raw InferenceSession.run median {statistics.median(theirs) * 1e3:8.3f} ms")
    print(
        f"  ratio sensekit/raw: median {statistics.median(ratios):.3f} "
        f"(goal <= 1.02), IQR {np.percentile(ratios, 25):.3f}-{np.percentile(ratios, 75):.3f}"
    )


if __name__ == "__main__":
    main()
