"""sensekit question answering vs Hugging Face ``pipeline("question-answering")``.

Same trained weights (the minilm-qa recipe's base encoder + shipped trained parameters)
on both sides: sensekit runs its package as shipped (and, when that is fp32, an
int8-dynamic ``sensekit.tools.compress`` of it); the peer runs PyTorch
through the QA pipeline, in a transformers 4 worker process (``tests/reference/qa_peer.py``,
shared with the reference tests; it installs its pinned transformers on first use).

Reports: SQuAD v1.1 dev EM/F1 (the number the field compares; a seeded sample of the
10,570 questions, ``--squad-questions 0`` for all of them, beside the full-dev figures
recorded in the package when it was built), answer agreement on sensekit's own dev split
(same character span, or both "no answer"), own-dev EM/F1 of each, median latency per
question (interleaved rounds) and the throughput of answering 100 questions about one
long document (``answer_many``).

    python bench/language.py [--squad-questions 1000] [--rounds 3] [--latency-questions 40]
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
from sensekit.language.squad import long_documents  # noqa: E402


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
    return dev, items_of(dev)


def items_of(examples: list) -> list[dict]:
    return [{"question": e.question, "context": e.context} for e in examples]


def squad_items(count: int) -> tuple[list, list[dict]]:
    """SQuAD v1.1 dev: ``count`` questions shuffled with seed 0 (0 = all 10,570)."""
    import random

    from sensekit.language.squad import load_examples, squad_file

    examples = load_examples(squad_file("dev"))
    random.Random(0).shuffle(examples)
    examples = examples[:count] if count else examples
    return examples, items_of(examples)


def squad_report(systems: dict, peer, count: int) -> None:
    examples, items = squad_items(count)
    print(f"SQuAD v1.1 dev, {len(examples)} questions (seed 0), every one answerable:")
    for name, system in systems.items():
        got = scores(examples, sensekit_run(system, items)[0])
        recorded = system.model.manifest.extra.get("training", {}).get("squad_dev", {})
        shipped = "int8" if "int8" in recorded else "fp32"
        full = recorded.get(shipped) if name == "sensekit" else None
        note = (
            f"   (all 10,570 at build: EM {full['exact']} F1 {full['f1']}; forced to "
            f"answer: EM {full['forced_exact']} F1 {full['forced_f1']})"
            if full
            else ""
        )
        print(f"  {name:14s} EM {got['exact']:5.2f}  F1 {got['f1']:5.2f}{note}")
    got = scores(examples, peer.run(items)[0])
    print(f"  {'hf-pipeline':14s} EM {got['exact']:5.2f}  F1 {got['f1']:5.2f}")


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
    parser.add_argument("--squad-questions", type=int, default=1000, help="0: all 10,570")
    args = parser.parse_args()
    print(cpu.describe())  # every figure says which CPU it came from
    from sensekit.language import QuestionAnswerer
    from sensekit.tools.compress import compress

    dev, items = dev_items()
    with tempfile.TemporaryDirectory() as tmp:
        hf = trained_directory(Path(tmp))
        # The shipped package is fp32 when int8 cost more than a dev F1 point at training
        # time (scripts/train_qa.py); an int8-dynamic package of it shows what int8 buys
        # and costs, with the same calibrated no-answer threshold and length prior.
        systems = {"sensekit": QuestionAnswerer.from_model("minilm-qa")}
        if "quantization" not in systems["sensekit"].model.manifest.conversion:
            int8 = compress("minilm-qa", "int8-dynamic", Path(tmp) / "int8.skmodel")
            systems["sensekit-int8"] = QuestionAnswerer.from_model(int8.path)
        peer = Peer(hf)
        try:
            report(dev, items, systems, peer, args)
        finally:
            peer.close()


def report(dev, items, systems, peer, args) -> None:
    squad_report(systems, peer, args.squad_questions)
    answers = {name: sensekit_run(s, items)[0] for name, s in systems.items()}
    answers["hf-pipeline"] = peer.run(items)[0]
    print(f"own dev split: {len(dev)} questions")
    for name, got in answers.items():
        print(f"  {name:14s} {scores(dev, got)}")
    long = long_documents(dev)
    print(f"own dev split asked of {len({e.context for e in long})} four-passage documents:")
    long_items = items_of(long)
    for name, system in systems.items():
        print(f"  {name:14s} {scores(long, sensekit_run(system, long_items)[0])}")
    print(f"  {'hf-pipeline':14s} {scores(long, peer.run(long_items)[0])}")
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
