"""Fine-tunes the MiniLM encoder + a span head on the SQuAD-v2 style data set in data/qa.

``python scripts/train_qa.py`` reproduces the shipped weights end to end (two passes,
evaluation, int8 decision); ``python -m sensekit.language.train`` runs one training pass.
The passages are split by content hash (every 10th passage is dev). The embeddings and
the lower ``FROZEN_LAYERS`` encoder layers stay as in the base encoder; the trained
parameters (upper layers + span head) are written as fp16 safetensors to
``sensekit/zoo/data/minilm_qa.safetensors`` (about 10 MB), which the "minilm-qa"
recipe lays over the pinned registry encoder.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.language.squad import (QAExample, dev_scores, load_examples, split_examples,
                                     training_windows)
from sensekit.language.tokenize import load_tokenizer

log = logging.getLogger("sensekit.language.train")
DATA_DIR = Path(__file__).parent / "data" / "qa"
WEIGHTS_OUT = Path(__file__).parents[1] / "zoo" / "data" / "minilm_qa.safetensors"
FROZEN_LAYERS = 3  # embeddings + the lower encoder layers stay as in the base encoder


def base_encoder(base: str = "minilm") -> dict[str, Path]:
    """Verified local copies of the base encoder files (weights, config, tokenizer)."""
    from sensekit.core.registry import home, recipes
    from sensekit.core.sources import fetch

    if base not in ("minilm", "minilm-embed"):
        raise ValueError(f"unknown base {base!r}; available: 'minilm'")
    recipe = recipes()["minilm-embed"]
    return {role: fetch(pair[0], home() / "downloads") for role, pair in recipe.sources.items()}


def build_model(paths: dict[str, Path], frozen_layers: int = FROZEN_LAYERS) -> Any:
    """A BertForQuestionAnswering with the base encoder's weights and a fresh span head.

    The embeddings and the lowest ``frozen_layers`` encoder layers are frozen: training
    is about 1.5x cheaper on CPU and the trained delta to ship is smaller.
    """
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    config = BertConfig.from_json_file(str(paths["config"]))
    config.num_labels = 2
    model = BertForQuestionAnswering(config)
    state = {k: v for k, v in load_file(str(paths["weights"])).items()
             if "position_ids" not in k and not k.startswith("pooler.")}
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    if unexpected or missing:
        raise RuntimeError(f"encoder weights do not fit: {missing} {unexpected}")
    for name, param in model.named_parameters():
        param.requires_grad_(not _is_frozen(name, frozen_layers))
    return model


def _is_frozen(name: str, frozen_layers: int) -> bool:
    if name.startswith("bert.embeddings."):
        return True
    match = re.match(r"bert\.encoder\.layer\.(\d+)\.", name)
    return bool(match) and int(match.group(1)) < frozen_layers


def _batches(windows: dict[str, np.ndarray], batch_size: int, rng: random.Random
             ) -> list[np.ndarray]:
    """Index batches of similar length (less padding), in shuffled order."""
    lengths = windows["attention_mask"].sum(1)
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [np.array(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _step_tensors(windows: dict[str, np.ndarray], index: np.ndarray) -> dict[str, Any]:
    import torch

    length = int(windows["attention_mask"][index].sum(1).max())
    names = ("input_ids", "attention_mask", "token_type_ids")
    feeds = {n: torch.from_numpy(windows[n][index, :length]) for n in names}
    feeds["start_positions"] = torch.from_numpy(windows["start_positions"][index])
    feeds["end_positions"] = torch.from_numpy(windows["end_positions"][index])
    return feeds


def fit(model: Any, windows: dict[str, np.ndarray], epochs: float, lr: float,
        batch_size: int, seed: int = 0, checkpoints: dict[float, Path] | None = None,
        decay: bool = False) -> None:
    """AdamW, linear warm-up over 10 % of the steps, then a constant rate (or, with
    ``decay``, a linear decay to zero).

    The constant rate makes ``checkpoints`` (share of the steps -> weights path) a fair
    data-size study in a single pass: after 25 % of one epoch the model has seen a
    random 25 % of the questions once, under the same schedule as the full run.
    """
    import torch

    rng = random.Random(seed)
    per_epoch = math.ceil(len(windows["input_ids"]) / batch_size)
    total = max(1, int(per_epoch * epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warmup = max(1, total // 10)
    def rate(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        return max(0.0, (total - s) / max(1, total - warmup)) if decay else 1.0

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    saves = {max(1, round(total * share)): path for share, path in (checkpoints or {}).items()}
    model.train()
    step, started, batches = 0, time.time(), []
    while step < total:
        if not batches:
            batches = _batches(windows, batch_size, rng)
        loss = model(**_step_tensors(windows, batches.pop())).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step += 1
        if step % 20 == 0 or step == total:
            log.info("step %d/%d loss %.3f (%.0f s)", step, total, loss.item(),
                     time.time() - started)
        if step in saves:
            log.info("checkpoint %s", save_weights(model, saves[step]))
    model.eval()


def predict_logits(model: Any, windows: dict[str, np.ndarray], batch_size: int = 64
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Start/end logits of every window (PyTorch, for dev scoring during training)."""
    import torch

    starts, ends = [], []
    names = ("input_ids", "attention_mask", "token_type_ids")
    with torch.no_grad():
        for i in range(0, len(windows["input_ids"]), batch_size):
            feeds = {n: torch.from_numpy(windows[n][i:i + batch_size]) for n in names}
            out = model(**feeds)
            starts.append(out.start_logits.numpy())
            ends.append(out.end_logits.numpy())
    return np.concatenate(starts), np.concatenate(ends)


def evaluate(model: Any, tokenizer: Any, dev: list[QAExample], max_seq_len: int
             ) -> dict[str, float]:
    """Dev EM/F1 (SQuAD v2 rules) of a PyTorch model."""
    windows = training_windows(tokenizer, dev, max_seq_len, doc_stride=128)
    start, end = predict_logits(model, windows)
    return dev_scores(tokenizer, dev, windows, start, end)


def save_weights(model: Any, path: Path) -> Path:
    """The trained (not frozen) parameters as fp16 safetensors."""
    from safetensors.torch import save_file

    state = {k: v.detach().half().contiguous() for k, v in model.named_parameters()
             if v.requires_grad}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt", "base": "all-MiniLM-L6-v2"})
    return path


def train_qa(data: str | Path | None = None, base: str = "minilm", epochs: float = 1.0,
             lr: float = 8e-5, batch_size: int = 16, max_seq_len: int = 96,
             fraction: float = 1.0, out: str | Path | None = None, seed: int = 0,
             curve: tuple[float, ...] = (), evaluate_dev: bool = True,
             init: str | Path | None = None, frozen_layers: int = FROZEN_LAYERS,
             decay: bool = False) -> dict[str, Any]:
    """Fine-tunes ``base`` for extractive QA on a SQuAD-v2 style directory or file.

    Each training question gives one window of ``max_seq_len`` tokens (the one holding
    its answer), which keeps a CPU run short; answering uses longer windows.

    Args:
        data: directory of *.json files (default: the bundled data set) or one file.
        base: the encoder to start from ("minilm").
        epochs: passes over the training questions (fractional allowed).
        lr: peak AdamW learning rate.
        batch_size: windows per step.
        max_seq_len: tokens per training window (question + passage).
        fraction: share of the training questions used.
        out: where to write the fp16 weights (None: do not write).
        seed: seed of the question subsample and the batch order.
        curve: shares of the steps after which to save checkpoints next to ``out``
            (``NAME.25pct.safetensors``) for the data-size study.
        evaluate_dev: score the dev split at the end (PyTorch, 384-token windows).
        init: trained weights to continue from (a further epoch of an earlier run).
        frozen_layers: encoder layers below this index keep the base encoder's weights.
        decay: decay the rate linearly to zero after the warm-up (a final run) instead of
            holding it constant (the data-size study).

    Returns:
        {"train_questions", "dev_questions", "dev": {"exact", "f1", ...}, "seconds",
        "weights", "checkpoints"}.
    """
    import torch

    torch.manual_seed(seed)
    started = time.time()
    paths = base_encoder(base)
    tokenizer = load_tokenizer(paths["tokenizer"])
    train, dev = split_examples(load_examples(data or DATA_DIR))
    if fraction < 1.0:
        train = random.Random(seed).sample(train, max(1, round(len(train) * fraction)))
    windows = training_windows(tokenizer, train, max_seq_len, max_seq_len // 2, one_window=True)
    log.info("%d train questions -> %d windows; %d dev questions", len(train),
             len(windows["input_ids"]), len(dev))
    out = Path(out) if out is not None else None
    checkpoints = {share: out.with_name(f"{out.stem}.{round(share * 100)}pct.safetensors")
                   for share in curve} if out is not None else {}
    model = build_model(paths, frozen_layers)
    if init is not None:
        load_trained(model, Path(init))
    fit(model, windows, epochs, lr, batch_size, seed, checkpoints, decay)
    result: dict[str, Any] = {"train_questions": len(train), "dev_questions": len(dev),
                              "epochs": epochs, "lr": lr, "train_seq_len": max_seq_len,
                              "frozen_layers": frozen_layers, "decay": decay,
                              "checkpoints": {f"{s:g}": str(p) for s, p in checkpoints.items()}}
    if out is not None:
        result["weights"] = str(save_weights(model, out))
    result["train_seconds"] = round(time.time() - started, 1)
    if evaluate_dev:
        result["dev"] = evaluate(model, tokenizer, dev, 384)
        log.info("dev %s", result["dev"])
    return result


def load_trained(model: Any, weights: Path) -> Any:
    """Loads fp16 weights written by :func:`save_weights` into ``model``."""
    from safetensors.torch import load_file

    delta = {k: v.float() for k, v in load_file(str(weights)).items()}
    model.load_state_dict({**model.state_dict(), **delta})
    return model


def evaluate_weights(weights: str | Path, max_seq_len: int = 384) -> dict[str, float]:
    """Dev EM/F1 (PyTorch) of trained weights written by :func:`train_qa`."""
    paths = base_encoder()
    model = load_trained(build_model(paths), Path(weights))
    _, dev = split_examples(load_examples(DATA_DIR))
    return evaluate(model.eval(), load_tokenizer(paths["tokenizer"]), dev, max_seq_len)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(WEIGHTS_OUT))
    parser.add_argument("--curve", type=float, nargs="*", default=[0.25, 0.5],
                        help="save checkpoints after these shares of the questions")
    parser.add_argument("--init", default=None, help="continue from these trained weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seq-len", type=int, default=96, help="tokens per training window")
    parser.add_argument("--frozen-layers", type=int, default=FROZEN_LAYERS)
    parser.add_argument("--decay", action="store_true", help="linear decay after warm-up")
    parser.add_argument("--no-eval", action="store_true", help="skip the dev evaluation")
    parser.add_argument("--evaluate", nargs="*", default=None,
                        help="only evaluate these weight files on the dev split")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    if args.evaluate is not None:
        result: Any = {p: evaluate_weights(p) for p in args.evaluate}
    else:
        result = train_qa(epochs=args.epochs, lr=args.lr, out=args.out, curve=tuple(args.curve),
                          evaluate_dev=not args.no_eval, init=args.init, seed=args.seed,
                          max_seq_len=args.max_seq_len, frozen_layers=args.frozen_layers,
                          decay=args.decay)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
