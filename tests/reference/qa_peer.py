"""Hugging Face ``pipeline("question-answering")`` on sensekit's QA weights, in PyTorch.

The peer for the reference tests and for ``bench/language.py``: same trained weights
(the minilm-qa recipe's base encoder with the shipped trained parameters laid over it,
see :func:`trained_directory`), run by transformers' own QA pipeline. transformers 5
dropped that pipeline, so the peer runs in a worker process on transformers 4.57,
installed apart from the environment by :func:`ensure_installed` (pinned, from PyPI):

    pip install --no-deps --target ~/.cache/sensekit/peers/transformers4 \\
        transformers==4.57.6 tokenizers==0.22.1 huggingface_hub==0.36.0
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PEER_DIR = Path(
    os.environ.get(
        "SENSEKIT_PEER_TRANSFORMERS", Path.home() / ".cache/sensekit/peers/transformers4"
    )
)
PEER_PINS = ("transformers==4.57.6", "tokenizers==0.22.1", "huggingface_hub==0.36.0")
# The pipeline's defaults, passed to both sides so they search the same windows and spans.
OPTIONS = {"top_k": 1, "max_answer_len": 30, "doc_stride": 128, "max_seq_len": 384}


def ensure_installed() -> Path:
    """PEER_DIR with the pinned transformers 4 installed (a 10 MB pip install, once)."""
    marker = PEER_DIR / ".installed"
    if marker.is_file() and marker.read_text(encoding="utf-8").split() == list(PEER_PINS):
        return PEER_DIR
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--upgrade",
            "--target",
            str(PEER_DIR),
            *PEER_PINS,
        ],
        check=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    marker.write_text(" ".join(PEER_PINS), encoding="utf-8")
    return PEER_DIR


def trained_directory(work: Path) -> Path:
    """The trained QA model as a transformers directory (same steps as the zoo build)."""
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


# -- the worker process -------------------------------------------------------------------
def worker(model_dir: str) -> None:
    """Reads JSON jobs [{question, context}] from stdin, answers with the HF pipeline.

    Replies {"answers": [[start, end] or None], "scores": [...], "seconds": ...}: character
    offsets into the context, None for "no answer".
    """
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
        answers, scores = [], []
        for item in items:
            r = qa(
                question=item["question"],
                context=item["context"],
                handle_impossible_answer=True,
                max_question_len=64,
                **OPTIONS,
            )
            answers.append(None if not r["answer"] else [r["start"], r["end"]])
            scores.append(float(r["score"]))
        print(
            json.dumps(
                {"answers": answers, "scores": scores, "seconds": time.perf_counter() - started}
            ),
            flush=True,
        )


class Peer:
    """The HF pipeline in a transformers 4 worker process; ``close`` when done."""

    def __init__(self, model_dir: Path) -> None:
        env = dict(
            os.environ,
            PYTHONPATH=str(ensure_installed()),
            USE_TF="0",
            USE_TORCH="1",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_VERBOSITY="error",
        )
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(model_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        json.loads(self._line())

    def _line(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"the transformers 4 worker died (is {PEER_DIR} complete? see the module docstring)"
            )
        return line

    def ask(self, items: list[dict[str, str]]) -> dict[str, Any]:
        """The worker's reply to ``items`` (see :func:`worker`)."""
        self.process.stdin.write(json.dumps(items) + "\n")
        self.process.stdin.flush()
        return json.loads(self._line())

    def run(self, items: list[dict[str, str]]) -> tuple[list, float]:
        """(answers, seconds) for ``items``."""
        reply = self.ask(items)
        return reply["answers"], reply["seconds"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


if __name__ == "__main__":
    # This folder is not on the worker's path: only the peer's transformers and site-packages.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    worker(sys.argv[sys.argv.index("--worker") + 1])
