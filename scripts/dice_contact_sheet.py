"""A contact sheet of rendered dice scenes with their labels drawn, for a quick look at
what the dice detector is trained on (scripts/train_dice.py renders 12,000 like these).

    python scripts/dice_contact_sheet.py [--out docs/dice_contact_sheet.jpg] [--count 12]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from sensekit.vision.synthetic.dice import render_scene

TILE = (320, 240)


def sheet(count: int, seed: int, columns: int = 4) -> np.ndarray:
    tiles = []
    for index in range(count):
        image, dice = render_scene(np.random.default_rng([seed, index]), (640, 480))
        canvas = np.ascontiguousarray(image)
        for die in dice:
            x0, y0, x1, y1 = (round(v) for v in die.box)
            cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 255, 0), 2)
            cv2.putText(
                canvas,
                str(die.value),
                (x0, max(12, y0 - 4)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.8,
                (0, 255, 0),
                2,
            )
        tiles.append(cv2.resize(canvas, TILE, interpolation=cv2.INTER_AREA))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/dice_contact_sheet.jpg"))
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0, help="0: the first training scenes")
    args = parser.parse_args()
    image = sheet(args.count, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(
        str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    print(f"{args.out}: {image.shape[1]}x{image.shape[0]}")


if __name__ == "__main__":
    main()
