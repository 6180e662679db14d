"""sensekit question answering vs Hugging Face ``pipeline("question-answering")``.

Same trained weights (the minilm-qa recipe's base encoder + shipped trained parameters)
on both sides: sensekit runs its package (int8 as shipped, and an fp32 package made by
``sensekit.tools.convert`` from the same transformers directory); the peer runs PyTorch
through the QA pipeline, in a transformers 4 worker process (``tests/reference/qa_peer.py``,
shared with the reference tests; it installs its pinned transformers on first use).

Reports: answer agreement on the dev split (same character span, or both "no answer"),
dev EM/F1 of each, median latency per question (interleaved rounds) and the throughput
of answering 100 questions about one long document (``answer_many``).

    python bench/language.py [--rounds 3] [--latency-questions 40] [--doc-passages 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds accelerate.py, which transformers would take for the accelerate package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reference"))
from qa_peer import OPTIONS, Peer, trained_directory  # noqa: E402

from sensekit.accelerate import cpu  # noqa: E402


# -- sensekit ------------------------------------------------------------------------------
def sensekit_run(answerer, items: list[dict]) -> tuple[list, float]:
    started = time.perf_counter()
    out = []
    for item in items:
        a = answerer.answer(item["question"], item["context"], **OPTIONS)
        out.append(None if a is None else [a.start, a.end])
    return out, time.perf_counter() - started


def dev_items() -> tuple[list, list[dict]]:
    from sensekit.language.squad import load_examples, split_examples
    from sensekit.language.train import DATA_DIR

    _, dev = split_examples(load_examples(DATA_DIR))
    return dev, [{"question": e.question, "context": e.context} for e in dev]


def scores(dev: list, answers: list) -> dict:
    from sensekit.language.squad import score_predictions

    texts = ["" if a is None else e.context[a[0] : a[1]] for e, a in zip(dev, answers)]
    return score_predictions(dev, texts)


def agreement(a: list, b: list) -> float:
    return 100.0 * sum(x == y for x, y in zip(a, b)) / len(a)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-questions", type=int, default=40)
    parser.add_argument("--doc-passages", type=int, default=4)
    args = parser.parse_args()
    print(cpu.describe())  # every figure says which CPU it came from
    from sensekit.language import QuestionAnswerer
    from sensekit.tools.convert import convert

    dev, items = dev_items()
    with tempfile.TemporaryDirectory() as tmp:
        hf = trained_directory(Path(tmp))
        fp32 = convert(
            hf, kind="transformers", destination=Path(tmp) / "fp32.skmodel", name="minilm-qa-fp32"
        )
        # The shipped package is int8 (dynamic, uint8 weights: dev F1 -0.5); the fp32
        # conversion of the same weights shows what int8 buys and costs.
        systems = {
            "sensekit": QuestionAnswerer.from_model("minilm-qa"),
            "sensekit-fp32": QuestionAnswerer.from_model(fp32),
        }
        peer = Peer(hf)
        try:
            report(dev, items, systems, peer, args)
        finally:
            peer.close()


def report(dev, items, systems, peer, args) -> None:
    answers = {name: sensekit_run(s, items)[0] for name, s in systems.items()}
    answers["hf-pipeline"] = peer.run(items)[0]
    print(f"dev questions: {len(dev)}")
    for name, got in answers.items():
        print(f"  {name:14s} {scores(dev, got)}")
    for name in systems:
        print(
            f"  same answer as hf-pipeline: {name} "
            f"{agreement(answers[name], answers['hf-pipeline']):.1f} %"
        )
    subset = items[: args.latency_questions]
    times: dict[str, list[float]] = {n: [] for n in [*systems, "hf-pipeline"]}
    for _ in range(args.rounds):  # interleaved rounds
        for name, s in systems.items():
            times[name].append(sensekit_run(s, subset)[1] / len(subset))
        times["hf-pipeline"].append(peer.run(subset)[1] / len(subset))
    peer_ms = statistics.median(times["hf-pipeline"]) * 1000
    print(f"latency per question (median of {args.rounds} rounds x {len(subset)} questions):")
    for name, values in times.items():
        ms = statistics.median(values) * 1000
        print(f"  {name:14s} {ms:8.1f} ms   speed-up vs hf-pipeline {peer_ms / ms:5.2f}x")
    throughput(dev, systems, peer, args.doc_passages)


def throughput(dev, systems, peer, passages: int) -> None:
    contexts = list(dict.fromkeys(e.context for e in dev))[:passages]
    document = "\n\n".join(contexts)
    questions = [e.question for e in dev if e.context in contexts][:100]
    questions = (questions * (100 // max(1, len(questions)) + 1))[:100]
    tokens = len(systems["sensekit"].document(document).tokens)
    print(
        f"throughput: 100 questions over one document of {len(document):,} characters "
        f"({tokens:,} tokens)"
    )
    results = {}
    for name, s in systems.items():
        started = time.perf_counter()
        s.answer_many(questions, document, **OPTIONS)
        results[name] = time.perf_counter() - started
    results["hf-pipeline"] = peer.run([{"question": q, "context": document} for q in questions])[1]
    for name, seconds in results.items():
        print(
            f"  {name:14s} {100 / seconds:7.2f} questions/s  ({seconds:.1f} s)   "
            f"x{results['hf-pipeline'] / seconds:.2f} vs hf-pipeline"
        )


if __name__ == "__main__":
    main()
