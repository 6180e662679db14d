"""Reproduces the shipped ``dice`` detector end to end, on rendered dice only.

    python scripts/train_dice.py               # render, train (resumable), evaluate, ship
    python scripts/train_dice.py --evaluate    # only score the shipped weights on the dev photos

1. Renders SCENES photos of dice (sensekit.vision.synthetic.dice, seed 0) as a YOLO folder in
   the cache; a stopped run renders only the missing ones.
2. Trains with ``vision.train_detector`` (CenterNet on the EfficientNet-Lite0 trunk, all
   orientations, class-agnostic NMS); the state in ``$SENSEKIT_HOME/train/dice`` makes a
   stopped run continue where it stopped.
3. Writes the weights as fp16 to ``sensekit/zoo/data/dice.safetensors`` with the record
   (settings, per-epoch loss and validation mAP, sha256) in ``dice.json``.
4. Scores the package on the real photos in ``shared/dice/dev`` (never trained on):
   the share of dice found (IoU >= 0.5) and read right; the figures go into the record.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from sensekit.accelerate import cpu
from sensekit.core import registry
from sensekit.core.package import sha256_file
from sensekit.vision.detector_training import DetectorTraining, fit
from sensekit.vision.synthetic.dice import write_dataset
from sensekit.zoo import data_file
from sensekit.zoo.dice import TRAINED, TRAINED_INFO, save_weights

SCENES = 12000
SETTINGS = DetectorTraining(
    epochs=2,
    size=384,
    batch_size=16,
    lr=2e-3,
    validation=0.04,
    seed=0,
    vertical_flip=True,
    class_agnostic_nms=True,
    workers=1,
)
DEV = Path(__file__).resolve().parents[1].parent / "shared" / "dice" / "dev"


def dev_scores(package: str | Path, folder: Path = DEV) -> dict:
    """Found / read-right shares of a dice package on the hand-labelled real photos."""
    from sensekit.vision.dice import score_labelled

    result = score_labelled(folder, model=package)
    return {k: v for k, v in result.items() if k != "images"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", action="store_true", help="only score the shipped weights")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = registry.home() / "train" / "dice"
    if not args.evaluate:
        import torch

        torch.set_num_threads(args.threads)
        from sensekit.vision.detection_data import load_detection_data

        data = load_detection_data(write_dataset(work / "data", SCENES, seed=0, processes=2))
        model, record = fit(data, SETTINGS, work / "state.pt")
        save_weights(model, data_file(TRAINED))
        record.pop("labels", None)
        info = {
            "sha256": sha256_file(data_file(TRAINED)),
            "scenes": SCENES,
            "train_cpu": cpu.describe(),
            **record,
        }
        data_file(TRAINED_INFO).write_text(json.dumps(info, indent=1) + "\n")
    info = json.loads(data_file(TRAINED_INFO).read_text())
    path = registry.build("dice", force=True, progress=False)
    info["dev"] = dev_scores(path)
    data_file(TRAINED_INFO).write_text(json.dumps(info, indent=1) + "\n")
    registry.build("dice", force=True, progress=False)
    print(json.dumps(info["dev"], indent=1))


if __name__ == "__main__":
    main()
