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
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.language.squad import (
    QAExample,
    dev_scores,
    load_examples,
    split_examples,
    training_windows,
)
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
    state = {
        k: v
        for k, v in load_file(str(paths["weights"])).items()
        if "position_ids" not in k and not k.startswith("pooler.")
    }
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


def _batches(
    windows: dict[str, np.ndarray], batch_size: int, rng: random.Random
) -> list[np.ndarray]:
    """Index batches of similar length (less padding), in shuffled order."""
    lengths = windows["attention_mask"].sum(1)
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [np.array(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
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


def _batch_stream(
    windows: dict[str, np.ndarray], batch_size: int, seed: int
) -> Iterator[np.ndarray]:
    """Length-bucketed batches, reshuffled each epoch; the same sequence for one seed."""
    rng = random.Random(seed)
    while True:
        batches = _batches(windows, batch_size, rng)
        while batches:
            yield batches.pop()


def _schedule(total: int, decay: bool) -> Callable[[int], float]:
    """Linear warm-up over 10 % of the steps, then constant or (``decay``) linear to 0."""
    warmup = max(1, total // 10)

    def rate(s: int) -> float:
        if s < warmup:
            return (s + 1) / warmup
        return max(0.0, (total - s) / max(1, total - warmup)) if decay else 1.0

    return rate


def fit(
    model: Any,
    windows: dict[str, np.ndarray],
    epochs: float,
    lr: float,
    batch_size: int,
    seed: int = 0,
    checkpoints: dict[float, Path] | None = None,
    decay: bool = False,
    state: Path | None = None,
    save_every: int = 200,
    log_every: int = 20,
) -> dict[str, Any]:
    """AdamW, linear warm-up over 10 % of the steps, then a constant rate (or, with
    ``decay``, a linear decay to zero).

    The constant rate makes ``checkpoints`` (share of the steps -> weights path) a fair
    data-size study in a single pass: after 25 % of one epoch the model has seen a
    random 25 % of the questions once, under the same schedule as the full run.

    With ``state`` (a file path) the run is resumable: every ``save_every`` steps the
    trainable weights, optimizer, schedule, step and random state are written there
    atomically, and a run that finds the file continues from it (same batch order).

    Returns:
        {"steps", "resumed_at", "seconds"}: seconds of this call, not of earlier runs.
    """
    import torch

    per_epoch = math.ceil(len(windows["input_ids"]) / batch_size)
    total = max(1, int(per_epoch * epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, decay))
    saves = {max(1, round(total * share)): path for share, path in (checkpoints or {}).items()}
    step = _load_state(state, model, optimizer, schedule, total) if state else 0
    resumed_at, started = step, time.time()
    stream = _batch_stream(windows, batch_size, seed)
    for _ in range(step):
        next(stream)
    model.train()
    while step < total:
        loss = model(**_step_tensors(windows, next(stream))).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step += 1
        if step % log_every == 0 or step == total:
            done = step - resumed_at
            eta = (time.time() - started) / done * (total - step)
            log.info(
                "step %d/%d loss %.3f lr %.2e (%.0f s, eta %.0f min)",
                step,
                total,
                loss.item(),
                schedule.get_last_lr()[0],
                time.time() - started,
                eta / 60,
            )
        if step in saves:
            log.info("checkpoint %s", save_weights(model, saves[step]))
        if state is not None and (step % save_every == 0 or step == total):
            _save_state(state, model, optimizer, schedule, step, total)
    model.eval()
    return {"steps": total, "resumed_at": resumed_at, "seconds": round(time.time() - started, 1)}


def _save_state(
    path: Path, model: Any, optimizer: Any, schedule: Any, step: int, total: int
) -> None:
    """Writes the resumable training state through a temporary file and a rename."""
    import torch

    trainable = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    payload = {
        "step": step,
        "total": total,
        "model": trainable,
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def _load_state(path: Path, model: Any, optimizer: Any, schedule: Any, total: int) -> int:
    """The step a saved state reached (0 when there is none), loaded into the objects."""
    import torch

    if not path.is_file():
        return 0
    payload = torch.load(path, weights_only=False)
    if payload["total"] != total:
        raise ValueError(
            f"{path} is a run of {payload['total']} steps, this one has {total}; "
            f"use the same data and settings or remove the file"
        )
    model.load_state_dict({**model.state_dict(), **payload["model"]})
    optimizer.load_state_dict(payload["optimizer"])
    schedule.load_state_dict(payload["schedule"])
    torch.set_rng_state(payload["torch_rng"])
    log.info("resumed %s at step %d/%d", path, payload["step"], total)
    return int(payload["step"])


def predict_logits(
    model: Any, windows: dict[str, np.ndarray], batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Start/end logits of every window (PyTorch, for dev scoring during training)."""
    import torch

    starts, ends = [], []
    names = ("input_ids", "attention_mask", "token_type_ids")
    with torch.no_grad():
        for i in range(0, len(windows["input_ids"]), batch_size):
            feeds = {n: torch.from_numpy(windows[n][i : i + batch_size]) for n in names}
            out = model(**feeds)
            starts.append(out.start_logits.numpy())
            ends.append(out.end_logits.numpy())
    return np.concatenate(starts), np.concatenate(ends)


def evaluate(
    model: Any, tokenizer: Any, dev: list[QAExample], max_seq_len: int
) -> dict[str, float]:
    """Dev EM/F1 (SQuAD v2 rules) of a PyTorch model."""
    windows = training_windows(tokenizer, dev, max_seq_len, doc_stride=128)
    start, end = predict_logits(model, windows)
    return dev_scores(tokenizer, dev, windows, start, end)


def save_weights(model: Any, path: Path) -> Path:
    """The trained (not frozen) parameters as fp16 safetensors."""
    from safetensors.torch import save_file

    state = {
        k: v.detach().half().contiguous() for k, v in model.named_parameters() if v.requires_grad
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt", "base": "all-MiniLM-L6-v2"})
    return path


def average_weights(paths: list[Path], out: Path) -> Path:
    """The mean of fine-tuned weights that share one starting point ("model soup",
    Wortsman et al. 2022): two runs that learned different things keep most of both."""
    from safetensors.torch import load_file, save_file

    states = [load_file(str(p)) for p in paths]
    if any(s.keys() != states[0].keys() for s in states):
        raise ValueError(f"{paths} do not hold the same parameters")
    mean = {k: sum(s[k].float() for s in states).div(len(states)).half() for k in states[0]}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(mean, str(out), metadata={"format": "pt", "base": "all-MiniLM-L6-v2"})
    return out


def train_qa(
    data: str | Path | None = None,
    base: str = "minilm",
    epochs: float = 1.0,
    lr: float = 8e-5,
    batch_size: int = 16,
    max_seq_len: int = 96,
    fraction: float = 1.0,
    out: str | Path | None = None,
    seed: int = 0,
    curve: tuple[float, ...] = (),
    evaluate_dev: bool = True,
    init: str | Path | None = None,
    frozen_layers: int = FROZEN_LAYERS,
    decay: bool = False,
    one_window: bool = True,
    rehearse_squad: int = 0,
) -> dict[str, Any]:
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
        one_window: one window per question (the one holding its answer); False trains on
            every window of every question, those without the answer pointing at CLS, so
            the model learns to rank the windows of long documents.
        rehearse_squad: SQuAD v1.1 training questions (a seeded sample) mixed into the
            training set, so a model trained on SQuAD first keeps what it learned there.

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
    if rehearse_squad:
        from sensekit.language.squad import squad_file

        squad = load_examples(squad_file("train"))
        train = train + random.Random(seed).sample(squad, rehearse_squad)
    windows = training_windows(
        tokenizer, train, max_seq_len, max_seq_len // 2, one_window=one_window
    )
    log.info(
        "%d train questions -> %d windows; %d dev questions",
        len(train),
        len(windows["input_ids"]),
        len(dev),
    )
    out = Path(out) if out is not None else None
    checkpoints = (
        {share: out.with_name(f"{out.stem}.{round(share * 100)}pct.safetensors") for share in curve}
        if out is not None
        else {}
    )
    model = build_model(paths, frozen_layers)
    if init is not None:
        load_trained(model, Path(init))
    fit(model, windows, epochs, lr, batch_size, seed, checkpoints, decay)
    result: dict[str, Any] = {
        "train_questions": len(train),
        "dev_questions": len(dev),
        "epochs": epochs,
        "lr": lr,
        "train_seq_len": max_seq_len,
        "frozen_layers": frozen_layers,
        "decay": decay,
        "one_window": one_window,
        "rehearsed_squad_questions": rehearse_squad,
        "checkpoints": {f"{s:g}": str(p) for s, p in checkpoints.items()},
    }
    if out is not None:
        result["weights"] = str(save_weights(model, out))
    result["train_seconds"] = round(time.time() - started, 1)
    if evaluate_dev:
        result["dev"] = evaluate(model, tokenizer, dev, 384)
        log.info("dev %s", result["dev"])
    return result


def train_squad(
    out: str | Path,
    state_dir: str | Path,
    epochs: float = 1.0,
    lr: float = 8e-5,
    batch_size: int = 16,
    max_seq_len: int = 192,
    overlap: int = 64,
    seed: int = 0,
    save_every: int = 200,
    init: str | Path | None = None,
    state_name: str = "state.pt",
) -> dict[str, Any]:
    """Fine-tunes all six encoder layers + the span head on SQuAD v1.1's training set.

    Every window of every question is trained on (a window without the answer points at
    CLS), so the model learns to rank windows of long documents, not only to place a span
    inside the right one. The embeddings stay frozen (they are not shipped). The run is
    resumable: ``state_dir`` holds the tokenized windows, the training state and the log;
    run the same call again after a stop and it continues where it left off. ``init``
    starts from trained weights (a further epoch), with its own ``state_name``.

    Returns:
        The training record: data source, settings, steps, seconds of this call.
    """
    import torch

    from sensekit.language.squad import load_examples, squad_file, squad_source

    torch.manual_seed(seed)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    paths = base_encoder()
    tokenizer = load_tokenizer(paths["tokenizer"])
    cached = state_dir / f"windows-{max_seq_len}-{overlap}.npz"
    if cached.is_file():
        windows = dict(np.load(cached))
    else:
        train = load_examples(squad_file("train"))
        windows = training_windows(tokenizer, train, max_seq_len, overlap)
        partial = cached.with_name(cached.stem + ".partial.npz")
        np.savez(partial, **windows)
        os.replace(partial, cached)
    questions = int(windows["example"].max()) + 1
    log.info(
        "SQuAD v1.1 train: %d questions -> %d windows of <= %d tokens",
        questions,
        len(windows["input_ids"]),
        max_seq_len,
    )
    model = build_model(paths, frozen_layers=0)
    if init is not None:
        load_trained(model, Path(init))
    run = fit(
        model,
        windows,
        epochs,
        lr,
        batch_size,
        seed,
        decay=True,
        state=state_dir / state_name,
        save_every=save_every,
    )
    weights = save_weights(model, Path(out))
    return {
        "data": squad_source("train"),
        "train_questions": questions,
        "train_windows": len(windows["input_ids"]),
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "train_seq_len": max_seq_len,
        "overlap": overlap,
        "seed": seed,
        "frozen": "embeddings",
        "init": None if init is None else Path(init).name,
        "decay": True,
        "weights": str(weights),
        **run,
    }


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
    parser.add_argument(
        "--curve",
        type=float,
        nargs="*",
        default=[0.25, 0.5],
        help="save checkpoints after these shares of the questions",
    )
    parser.add_argument("--init", default=None, help="continue from these trained weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seq-len", type=int, default=96, help="tokens per training window")
    parser.add_argument("--frozen-layers", type=int, default=FROZEN_LAYERS)
    parser.add_argument("--decay", action="store_true", help="linear decay after warm-up")
    parser.add_argument("--no-eval", action="store_true", help="skip the dev evaluation")
    parser.add_argument(
        "--evaluate",
        nargs="*",
        default=None,
        help="only evaluate these weight files on the dev split",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    if args.evaluate is not None:
        result: Any = {p: evaluate_weights(p) for p in args.evaluate}
    else:
        result = train_qa(
            epochs=args.epochs,
            lr=args.lr,
            out=args.out,
            curve=tuple(args.curve),
            evaluate_dev=not args.no_eval,
            init=args.init,
            seed=args.seed,
            max_seq_len=args.max_seq_len,
            frozen_layers=args.frozen_layers,
            decay=args.decay,
        )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
