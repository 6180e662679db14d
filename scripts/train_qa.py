"""Reproduces the shipped minilm-qa weights and their record, end to end.

    python scripts/train_qa.py               # both stages, then finalize (~4 h on 2 cores)
    python scripts/train_qa.py --stage squad # stage 1 only (resumable: run it again)
    python scripts/train_qa.py --stage own   # stage 2 only (needs stage 1's weights)
    python scripts/train_qa.py --finalize    # only re-evaluate the shipped weights
    python scripts/train_qa.py --stage squad2  # experiment: a second SQuAD epoch (resumable)

1. ``sensekit.language.train.train_squad``: all six encoder layers + the span head on all
   87,599 questions of SQuAD v1.1's training set (every 192-token window, 64 shared, the
   windows without the answer pointing at CLS), one epoch, batch 16, lr 8e-5 with warm-up
   and linear decay. Resumable: its state, log and tokenized windows live in
   ``$SENSEKIT_HOME/train/qa-squad``; a stopped run continues where it left off.
2. ``train_qa`` continues from it twice on sensekit's own written data (the training
   split of ``sensekit/language/data/qa``: unanswerable questions and long documents,
   which SQuAD v1.1 has none of), every window, lr 3e-5, linear decay: on that data alone
   for 2 epochs (it learns "no answer", but loses 5 SQuAD dev F1), and mixed with 4,000
   SQuAD training questions for 1 epoch (it keeps SQuAD, but learns "no answer" less).
   The mean of the two runs' weights keeps most of both (measured on 1,000 SQuAD dev
   questions and the own dev split; see the closing note of issue 19). It writes
   ``sensekit/zoo/data/minilm_qa.safetensors`` (fp16: six encoder layers + head).
3. Finalize: the weights become a package through sensekit's own converter; the no-answer
   threshold (``null_offset``) and the prior against long answers (``length_decay``) are
   chosen on the own dev split; the int8 package is kept
   when its dev F1 is within 1 point of fp32; both dev splits are scored through the
   shipped ``QuestionAnswerer``; everything goes to ``sensekit/zoo/data/minilm_qa.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
from pathlib import Path

from sensekit.core import registry
from sensekit.core.package import sha256_file
from sensekit.language import QuestionAnswerer
from sensekit.language.squad import (
    load_examples,
    long_documents,
    score_predictions,
    split_examples,
    squad_file,
    squad_source,
)
from sensekit.language.train import (
    DATA_DIR,
    WEIGHTS_OUT,
    average_weights,
    train_qa,
    train_squad,
)
from sensekit.tools.convert import convert
from sensekit.zoo.minilm_embed import hf_directory
from sensekit.zoo.minilm_qa import TRAINED_INFO, overlay

INFO = WEIGHTS_OUT.with_name(TRAINED_INFO)
MAX_F1_LOSS = 1.0  # int8 is shipped if it loses at most this many F1 points
REHEARSE_SQUAD = 4000  # SQuAD questions mixed into stage 2, so it does not forget SQuAD
OFFSETS = [x / 4 for x in range(-16, 17)]  # null_offset grid, log(span / null score)
DECAYS = [0.0, 0.02, 0.05, 0.1]  # length_decay grid, per token of answer length


def state_dir() -> Path:
    return registry.home() / "train" / "qa-squad"


def squad_weights() -> Path:
    return state_dir() / "minilm_qa.squad.safetensors"


def _log_to(path: Path) -> None:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger().addHandler(handler)


def squad_stage(threads: int) -> dict:
    """Stage 1: SQuAD v1.1, resumable; its state and log live in the cache."""
    import torch

    torch.set_num_threads(threads)
    state_dir().mkdir(parents=True, exist_ok=True)
    _log_to(state_dir() / "train.log")
    result = train_squad(out=squad_weights(), state_dir=state_dir())
    (state_dir() / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def squad2_stage(threads: int) -> dict:
    """Experiment (not yet in the shipped pipeline): a second SQuAD v1.1 epoch from stage
    1's weights, lr 3e-5, another batch order; resumable like stage 1."""
    import torch

    if not squad_weights().is_file():
        raise SystemExit(f"{squad_weights()} is missing: run --stage squad first")
    torch.set_num_threads(threads)
    _log_to(state_dir() / "train.log")
    out = state_dir() / "minilm_qa.squad2.safetensors"
    result = train_squad(
        out=out,
        state_dir=state_dir(),
        lr=3e-5,
        seed=1,
        init=squad_weights(),
        state_name="state-e2.pt",
    )
    (state_dir() / "result-e2.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def own_stage(threads: int) -> dict:
    """Stage 2: two fine-tunes of stage 1 on the own written data (no-answer questions,
    long documents), one on it alone (2 epochs), one with SQuAD rehearsal (1 epoch), and
    their average: the first learns "no answer" best, the second keeps SQuAD best."""
    import torch

    if not squad_weights().is_file():
        raise SystemExit(f"{squad_weights()} is missing: run --stage squad first")
    torch.set_num_threads(threads)
    _log_to(state_dir() / "train.log")
    runs = {}
    for name, rehearse, epochs in (("own", 0, 2.0), ("rehearse", REHEARSE_SQUAD, 1.0)):
        out = state_dir() / f"minilm_qa.{name}.safetensors"
        runs[name] = train_qa(
            out=out,
            init=squad_weights(),
            frozen_layers=0,
            max_seq_len=192,
            one_window=False,
            rehearse_squad=rehearse,
            epochs=epochs,
            lr=3e-5,
            decay=True,
            evaluate_dev=False,
        )
    average_weights([Path(r["weights"]) for r in runs.values()], WEIGHTS_OUT)
    result = {**runs, "shipped": "mean of the two runs' weights"}
    (state_dir() / "own-result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def fp32_package(weights: Path, work: Path) -> Path:
    """Trained weights as an fp32 package, via the transformers converter."""
    directory = work / f"hf-{weights.stem}"
    directory.mkdir()
    context = registry.BuildContext(registry.recipes()["minilm-qa"], work / "x", print)
    hf_directory(context, directory)
    overlay(directory, weights)
    return convert(
        directory,
        kind="transformers",
        destination=work / f"{weights.stem}.skmodel",
        name="minilm-qa-fp32",
    )


def _scored(
    package: str | Path, examples: list, decay: float | None = None
) -> list[tuple[str, float, float]]:
    """(best span text, its score, the null score) of each question, no decision made."""
    answerer = QuestionAnswerer.from_model(package)
    options = answerer.resolve({"length_decay": decay})
    out = []
    for e in examples:
        answers, null = answerer.scored(e.question, answerer.document(e.context), options)
        best = answers[0] if answers else None
        out.append(("" if best is None else best.text, 0.0 if best is None else best.score, null))
    return out


def _decide(scored: list[tuple[str, float, float]], offset: float) -> list[str]:
    return [text if score >= null * math.exp(offset) else "" for text, score, null in scored]


def calibrate(package: str | Path) -> tuple[float, float, dict]:
    """The (null_offset, length_decay) with the best F1 on the own dev split (ties: the
    smaller change), and that split's scores. The split holds unanswerable questions, so
    this threshold declines them (81 % right); choosing on the mean with the split's
    long-document form instead gave +2.2 SQuAD F1 and +3.0 long-document F1 but declined
    only 62 % (measured, issue 19's note): a wrong answer where there is none costs more
    trust than a missed one."""
    _, dev = split_examples(load_examples(DATA_DIR))
    scored = {decay: _scored(package, dev, decay) for decay in DECAYS}

    def f1(choice: tuple[float, float]) -> tuple[float, float, float]:
        offset, decay = choice
        return score_predictions(dev, _decide(scored[decay], offset))["f1"], -decay, -abs(offset)

    offset, decay = max(((o, d) for o in OFFSETS for d in DECAYS), key=f1)
    return offset, decay, score_predictions(dev, _decide(scored[decay], offset))


def own_dev(package: str | Path, offset: float, decay: float, long: bool = False) -> dict:
    """Own dev split scored with ``offset`` and ``decay``; ``long``: its questions asked
    of four-passage documents (``squad.long_documents``)."""
    _, dev = split_examples(load_examples(DATA_DIR))
    dev = long_documents(dev) if long else dev
    return score_predictions(dev, _decide(_scored(package, dev, decay), offset))


def squad_dev(package: str | Path, offset: float, decay: float) -> dict:
    """SQuAD v1.1 dev (all 10,570 questions, every one answerable): the field's number.
    The package answers as shipped, "no answer" allowed (it counts as wrong here); and
    forced to answer, as SQuAD v1.1 models are scored."""
    examples = load_examples(squad_file("dev"))
    scored = _scored(package, examples, decay)
    shipped, forced = _decide(scored, offset), [text for text, _, _ in scored]
    scores, always = score_predictions(examples, shipped), score_predictions(examples, forced)
    return {
        "exact": scores["exact"],
        "f1": scores["f1"],
        "forced_exact": always["exact"],
        "forced_f1": always["f1"],
        "questions": scores["questions"],
    }


def write_info(**fields) -> None:
    INFO.write_text(json.dumps(fields, indent=1) + "\n", encoding="utf-8")


def finalize(training: dict | None = None) -> dict:
    previous = json.loads(INFO.read_text(encoding="utf-8")) if INFO.is_file() else {}
    training = training or previous.get("training", {})
    sha = sha256_file(WEIGHTS_OUT)
    train_questions = len(split_examples(load_examples(DATA_DIR))[0])
    data = [
        {
            "stage": "1: SQuAD v1.1 train, 1 epoch",
            "source": squad_source("train"),
            "train_questions": 87599,
        },
        {
            "stage": "2: mean of two fine-tunes of stage 1 on sensekit's own data (train "
            "split): alone, 2 epochs; with SQuAD rehearsal, 1 epoch",
            "source": "sensekit/language/data/qa (written for sensekit)",
            "train_questions": train_questions,
            "rehearsed_squad_questions": REHEARSE_SQUAD,
        },
    ]
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = fp32_package(WEIGHTS_OUT, Path(tmp))
        offset, decay, fp32_dev = calibrate(fp32)
        fp32_long = own_dev(fp32, offset, decay, long=True)
        fp32_squad = squad_dev(fp32, offset, decay)
    info = {
        "sha256": sha,
        "quantize": "int8",
        "null_offset": offset,
        "length_decay": decay,
        "data": data,
        "training": training,
    }
    write_info(**info)
    registry.build("minilm-qa", force=True, progress=False)  # the int8 package, to score it
    int8_dev = own_dev("minilm-qa", offset, decay)
    quantize = "int8" if int8_dev["f1"] >= fp32_dev["f1"] - MAX_F1_LOSS else "none"
    info.update(quantize=quantize, dev={"fp32": fp32_dev, "int8": int8_dev})
    info["long_dev"] = {"fp32": fp32_long}
    info["squad_dev"] = {"fp32": fp32_squad}
    if quantize == "int8":
        info["long_dev"]["int8"] = own_dev("minilm-qa", offset, decay, long=True)
        info["squad_dev"]["int8"] = squad_dev("minilm-qa", offset, decay)
    write_info(**info)
    registry.build("minilm-qa", force=True, progress=False)  # the shipped choice + record
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finalize", action="store_true", help="skip training")
    parser.add_argument("--stage", choices=("squad", "squad2", "own"), help="run one stage only")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.stage == "squad":
        print(json.dumps(squad_stage(args.threads), indent=1))
        return
    if args.stage == "squad2":
        print(json.dumps(squad2_stage(args.threads), indent=1))
        return
    if args.stage == "own":
        print(json.dumps(own_stage(args.threads), indent=1))
        return
    training = None
    if not args.finalize:
        training = {"squad": squad_stage(args.threads), "own": own_stage(args.threads)}
    print(json.dumps(finalize(training), indent=1))


if __name__ == "__main__":
    main()
