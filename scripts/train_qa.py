"""Reproduces the shipped minilm-qa weights and their record, end to end.

    python scripts/train_qa.py            # train the three stages (~60-70 min on 2 CPU cores)
    python scripts/train_qa.py --finalize # only re-evaluate existing weights

1. ``sensekit.language.train.train_qa`` fine-tunes MiniLM's upper three encoder layers and
   the span head on the training split (one pass, 96-token windows, lr 8e-5, with
   checkpoints after 25 % and 50 % of the questions: the data-size study); a second pass
   continues from it (lr 6e-5, another shuffle); a third stage unfreezes all six layers
   and trains 3 epochs on 128-token windows (lr 1e-4, linear decay). It writes
   ``sensekit/zoo/data/minilm_qa.safetensors`` (fp16: six encoder layers + head).
2. Each weight file is turned into a package through sensekit's own converter and scored
   on the dev split with ``QuestionAnswerer`` (384-token windows, as shipped).
3. The int8 package is kept when its dev F1 is within 1 point of fp32; the choice, the
   sha256 and every score go to ``sensekit/zoo/data/minilm_qa.json``. Scores of stages
   whose weight files are gone (they are not shipped) are kept from the previous record.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from pathlib import Path

from sensekit.core import registry
from sensekit.core.package import sha256_file
from sensekit.language import QuestionAnswerer
from sensekit.language.squad import load_examples, score_predictions, split_examples
from sensekit.language.train import DATA_DIR, WEIGHTS_OUT, train_qa, train_squad
from sensekit.tools.convert import convert
from sensekit.zoo.minilm_embed import hf_directory
from sensekit.zoo.minilm_qa import TRAINED_INFO, overlay

INFO = WEIGHTS_OUT.with_name(TRAINED_INFO)
CURVE = (0.25, 0.5)
MAX_F1_LOSS = 1.0  # int8 is shipped if it loses at most this many F1 points


def dev_scores(package: str | Path) -> dict[str, float]:
    """EM/F1 of a package on the dev split, through the shipped inference path."""
    _, dev = split_examples(load_examples(DATA_DIR))
    answerer = QuestionAnswerer.from_model(package)
    texts = []
    for e in dev:
        a = answerer.answer(e.question, e.context)
        texts.append("" if a is None else a.text)
    return score_predictions(dev, texts)


def fp32_package(weights: Path, work: Path) -> Path:
    """The trained weights as an fp32 package, via the transformers converter."""
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


def write_info(**fields) -> None:
    INFO.write_text(json.dumps(fields, indent=1) + "\n", encoding="utf-8")


STAGES = (  # (tag, description) of the weight files a full run leaves behind
    ("25pct", "1 pass over 25 % of the questions, layers 3-5 + head"),
    ("50pct", "1 pass over 50 % of the questions, layers 3-5 + head"),
    ("pass1", "1 pass, layers 3-5 + head"),
    ("pass2", "2 passes, layers 3-5 + head"),
)
FINAL = "2 passes, then 3 epochs of all six layers + head on 128-token windows"


def finalize(train_result: dict | None = None) -> dict:
    train_questions = len(split_examples(load_examples(DATA_DIR))[0])
    sha = sha256_file(WEIGHTS_OUT)
    previous = json.loads(INFO.read_text(encoding="utf-8")) if INFO.is_file() else {}
    kept = {entry.get("stage"): entry for entry in previous.get("data", [])}
    curve = []
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = dev_scores(fp32_package(WEIGHTS_OUT, Path(tmp)))
        for tag, stage in STAGES:
            checkpoint = WEIGHTS_OUT.with_name(f"{WEIGHTS_OUT.stem}.{tag}.safetensors")
            share = {"25pct": 0.25, "50pct": 0.5}.get(tag, 1.0)
            if checkpoint.is_file():
                curve.append(
                    {
                        "stage": stage,
                        "train_questions": round(train_questions * share),
                        "dev_fp32": dev_scores(fp32_package(checkpoint, Path(tmp))),
                    }
                )
            elif stage in kept:
                curve.append(kept[stage])
    curve.append({"stage": FINAL, "train_questions": train_questions, "dev_fp32": fp32})
    training = train_result or previous.get("training", {})
    write_info(sha256=sha, quantize="int8", dev={"fp32": fp32}, data=curve)
    registry.build("minilm-qa", force=True, progress=False)
    int8 = dev_scores("minilm-qa")
    quantize = "int8" if int8["f1"] >= fp32["f1"] - MAX_F1_LOSS else "none"
    info = {
        "sha256": sha,
        "quantize": quantize,
        "dev": {"fp32": fp32, "int8": int8},
        "data": curve,
        "training": training,
    }
    write_info(**info)
    if quantize != "int8":
        registry.build("minilm-qa", force=True, progress=False)
    return info


def squad_stage(threads: int) -> dict:
    """Stage 1: SQuAD v1.1, resumable; its state and log live in the cache."""
    import torch

    torch.set_num_threads(threads)
    state_dir = registry.home() / "train" / "qa-squad"
    state_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(state_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger().addHandler(handler)
    result = train_squad(out=state_dir / "minilm_qa.squad.safetensors", state_dir=state_dir)
    (state_dir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finalize", action="store_true", help="skip training")
    parser.add_argument(
        "--stage",
        choices=("squad",),
        default=None,
        help="run one resumable stage (squad: SQuAD v1.1, ~6 h on 2 cores)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.stage == "squad":
        print(json.dumps(squad_stage(args.threads), indent=1))
        return
    result = None
    if not args.finalize:
        import torch

        torch.set_num_threads(2)
        first = train_qa(out=WEIGHTS_OUT, curve=CURVE, evaluate_dev=False)
        pass_one = WEIGHTS_OUT.with_name(f"{WEIGHTS_OUT.stem}.pass1.safetensors")
        shutil.move(WEIGHTS_OUT, pass_one)
        second = train_qa(out=WEIGHTS_OUT, lr=6e-5, seed=1, init=pass_one, evaluate_dev=False)
        pass_two = WEIGHTS_OUT.with_name(f"{WEIGHTS_OUT.stem}.pass2.safetensors")
        shutil.move(WEIGHTS_OUT, pass_two)
        third = train_qa(
            out=WEIGHTS_OUT,
            epochs=3,
            lr=1e-4,
            max_seq_len=128,
            frozen_layers=0,
            decay=True,
            init=pass_two,
            curve=(),
            evaluate_dev=False,
        )
        result = {"pass1": first, "pass2": second, "final": third}
    info = finalize(result)
    for checkpoint in WEIGHTS_OUT.parent.glob(f"{WEIGHTS_OUT.stem}.*.safetensors"):
        shutil.move(checkpoint, Path(tempfile.gettempdir()) / checkpoint.name)  # not shipped
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
