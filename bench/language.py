"""sensekit question answering vs Hugging Face ``pipeline("question-answering")``.

Same trained weights (the minilm-qa recipe's base encoder + shipped trained parameters)
on both sides: sensekit runs its package (int8 as shipped, and an fp32 package made by
``sensekit.core.convert`` from the same transformers directory); the peer runs PyTorch
through the QA pipeline. transformers 5 dropped that pipeline, so the peer runs in a
worker process on transformers 4.57 installed apart from the environment:

    pip install --no-deps --target ~/.cache/sensekit/peers/transformers4 \\
        transformers==4.57.6 tokenizers==0.22.1 huggingface_hub==0.36.0

Reports: answer agreement on the dev split (same character span, or both "no answer"),
dev EM/F1 of each, median latency per question (interleaved rounds) and the throughput
of answering 100 questions about one long document (``answer_many``).

    python bench/language.py [--rounds 3] [--latency-questions 40] [--doc-passages 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds accelerate.py, which transformers would take for the accelerate package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
PEER_DIR = Path(os.environ.get("SENSEKIT_PEER_TRANSFORMERS",
                               Path.home() / ".cache/sensekit/peers/transformers4"))
OPTIONS = {"top_k": 1, "max_answer_len": 30, "doc_stride": 128, "max_seq_len": 384}


# -- the peer, in a worker process ---------------------------------------------------------
def worker(model_dir: str) -> None:
    """Reads JSON jobs [{question, context}] from stdin, answers with the HF pipeline."""
    import torch
    from transformers import AutoModelForQuestionAnswering, BertTokenizerFast, pipeline

    torch.set_num_threads(2)
    tokenizer = BertTokenizerFast(tokenizer_file=str(Path(model_dir) / "tokenizer.json"))
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
    qa = pipeline("question-answering", model=model, tokenizer=tokenizer, device=-1)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        items = json.loads(line)
        started = time.perf_counter()
        out = []
        for item in items:
            r = qa(question=item["question"], context=item["context"],
                   handle_impossible_answer=True, max_question_len=64, **OPTIONS)
            out.append(None if not r["answer"] else [r["start"], r["end"]])
        print(json.dumps({"answers": out, "seconds": time.perf_counter() - started}),
              flush=True)


class Peer:
    def __init__(self, model_dir: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(PEER_DIR), USE_TF="0", USE_TORCH="1",
                   HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
        self.process = subprocess.Popen([sys.executable, __file__, "--worker", str(model_dir)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env=env)
        json.loads(self._line())

    def _line(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the transformers 4 worker died (is it installed? see the "
                               "module docstring)")
        return line

    def run(self, items: list[dict]) -> tuple[list, float]:
        self.process.stdin.write(json.dumps(items) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self._line())
        return reply["answers"], reply["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


# -- sensekit ------------------------------------------------------------------------------
def trained_directory(work: Path) -> Path:
    """The trained model as a transformers directory (same recipe as the zoo build)."""
    from sensekit.core.registry import BuildContext, recipes
    from sensekit.zoo import data_file
    from sensekit.zoo.minilm_embed import hf_directory
    from sensekit.zoo.minilm_qa import TRAINED, overlay

    directory = work / "hf"
    directory.mkdir()
    context = BuildContext(recipes()["minilm-qa"], work / "unused", lambda message: None)
    hf_directory(context, directory)
    overlay(directory, data_file(TRAINED))
    return directory


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

    texts = ["" if a is None else e.context[a[0]:a[1]] for e, a in zip(dev, answers)]
    return score_predictions(dev, texts)


def agreement(a: list, b: list) -> float:
    return 100.0 * sum(x == y for x, y in zip(a, b)) / len(a)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-questions", type=int, default=40)
    parser.add_argument("--doc-passages", type=int, default=4)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    from sensekit.core.convert import convert
    from sensekit.language import QuestionAnswerer

    dev, items = dev_items()
    with tempfile.TemporaryDirectory() as tmp:
        hf = trained_directory(Path(tmp))
        fp32 = convert(hf, kind="transformers", destination=Path(tmp) / "fp32.skmodel",
                       name="minilm-qa-fp32")
        # The shipped package is int8 (dynamic, uint8 weights: dev F1 -0.5); the fp32
        # conversion of the same weights shows what int8 buys and costs.
        systems = {"sensekit": QuestionAnswerer.from_model("minilm-qa"),
                   "sensekit-fp32": QuestionAnswerer.from_model(fp32)}
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
        print(f"  same answer as hf-pipeline: {name} "
              f"{agreement(answers[name], answers['hf-pipeline']):.1f} %")
    subset = items[:args.latency_questions]
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
    print(f"throughput: 100 questions over one document of {len(document):,} characters "
          f"({tokens:,} tokens)")
    results = {}
    for name, s in systems.items():
        started = time.perf_counter()
        s.answer_many(questions, document, **OPTIONS)
        results[name] = time.perf_counter() - started
    results["hf-pipeline"] = peer.run([{"question": q, "context": document}
                                       for q in questions])[1]
    for name, seconds in results.items():
        print(f"  {name:14s} {100 / seconds:7.2f} questions/s  ({seconds:.1f} s)   "
              f"x{results['hf-pipeline'] / seconds:.2f} vs hf-pipeline")


if __name__ == "__main__":
    main()
