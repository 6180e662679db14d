"""language.train_qa: a short run on a slice of the bundled data set measurably improves
a fresh span head on questions about passages it never saw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sensekit.language.squad import load_examples, split_examples
from sensekit.language.tokenize import load_tokenizer
from sensekit.language.train import DATA_DIR, base_encoder, build_model, evaluate, train_qa

PASSAGES = 80  # 10 questions each; every 10th passage (by content hash) is held back
FROZEN = 4  # train the top two encoder layers and the head: cheaper backward passes
DEV_WINDOW = 384  # train_qa scores its dev split with 384-token windows
# Measured on this slice (720 training questions; 80 held back): the fresh head scores
# F1 3.3 / EM 0.0 on the held-back questions, one epoch (45 steps) F1 18.3 / EM 11.3.
# The margins are about half of those gains (EM 5.0 = 4 of 80 questions exactly right).
MIN_F1_GAIN = 8.0
MIN_EXACT_GAIN = 5.0


def _slice(count: int, target: Path) -> Path:
    """The first ``count`` passages of the bundled data set (files in name order)."""
    articles, taken = [], 0
    for file in sorted(DATA_DIR.glob("*.json")):
        for article in json.loads(file.read_text(encoding="utf-8"))["data"]:
            paragraphs = article["paragraphs"][: count - taken]
            taken += len(paragraphs)
            if paragraphs:
                articles.append({**article, "paragraphs": paragraphs})
    target.write_text(json.dumps({"version": "slice", "data": articles}), encoding="utf-8")
    return target


def test_train_qa_improves_a_fresh_head_on_held_back_passages(tmp_path: Path) -> None:
    data = _slice(PASSAGES, tmp_path / "slice.json")
    train, dev = split_examples(load_examples(data))
    assert not {e.passage for e in train} & {e.passage for e in dev}
    paths = base_encoder()
    tokenizer = load_tokenizer(paths["tokenizer"])
    before = evaluate(build_model(paths, FROZEN), tokenizer, dev, DEV_WINDOW)

    weights = tmp_path / "qa.safetensors"
    result = train_qa(
        data, epochs=1.0, lr=5e-4, batch_size=16, max_seq_len=64, frozen_layers=FROZEN, out=weights
    )
    after = result["dev"]
    assert (result["train_questions"], result["dev_questions"]) == (len(train), len(dev))
    assert after["questions"] == before["questions"] == len(dev)
    assert after["f1"] >= before["f1"] + MIN_F1_GAIN, (before, after)
    assert after["exact"] >= before["exact"] + MIN_EXACT_GAIN, (before, after)

    # What is written is the trained layers and head, in float16.
    stored = load_file(str(weights))
    assert stored and {t.dtype for t in stored.values()} == {torch.float16}
    assert all(
        n.startswith(("qa_outputs.", "bert.encoder.layer.4.", "bert.encoder.layer.5."))
        for n in stored
    )


def test_average_weights_is_the_mean_and_rejects_other_parameters(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from sensekit.language.train import WEIGHTS_OUT, average_weights

    shipped = load_file(str(WEIGHTS_OUT))
    name = next(iter(shipped))
    doubled = {k: (v.float() * 2).half() for k, v in shipped.items()}
    save_file(doubled, str(tmp_path / "doubled.safetensors"))
    mean = load_file(
        str(
            average_weights(
                [WEIGHTS_OUT, tmp_path / "doubled.safetensors"], tmp_path / "mean.safetensors"
            )
        )
    )
    assert torch.allclose(mean[name].float(), shipped[name].float() * 1.5, rtol=1e-3, atol=1e-3)
    save_file({name: shipped[name]}, str(tmp_path / "one.safetensors"))
    with pytest.raises(ValueError, match="same parameters"):
        average_weights([WEIGHTS_OUT, tmp_path / "one.safetensors"], tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()
