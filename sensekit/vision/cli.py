"""``sensekit classify|detect|pose IMAGE... [--json] [--draw OUT.png]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def _out_path(draw: str, image: str, many: bool) -> Path:
    """OUT.png for one image; OUT-<image stem>.png for several."""
    out = Path(draw)
    return out.with_name(f"{out.stem}-{Path(image).stem}{out.suffix or '.png'}") if many else out


def _run(args: argparse.Namespace) -> int:
    from sensekit import vision

    if args.command == "classify":
        task = vision.ImageClassifier.from_model(
            args.model or vision.classify_module.DEFAULT_MODEL,
            vision.ClassifierOptions(top_k=args.top_k),
        )
    elif args.command == "detect":
        task = vision.ObjectDetector.from_model(
            args.model or vision.detect_module.DEFAULT_MODEL,
            vision.DetectorOptions(score_threshold=args.threshold),
        )
    else:
        task = vision.PoseDetector.from_model(
            args.model or vision.pose_module.DEFAULT_MODEL,
            vision.PoseOptions(max_people=args.max_people),
        )
    report: dict[str, Any] = {}
    for image in args.images:
        results = task(image)
        report[image] = [r.to_dict() for r in results]
        if args.draw:
            _write(_out_path(args.draw, image, len(args.images) > 1), vision.draw(image, results))
        if not args.json:
            print(f"{image}:")
            for r in results:
                print(f"  {_line(r)}")
    if args.json:
        print(json.dumps(report if len(args.images) > 1 else report[args.images[0]], indent=2))
    return 0


def _line(result: Any) -> str:
    if hasattr(result, "keypoints"):
        shown = ", ".join(
            f"{k.name}=({k.x:.3f},{k.y:.3f})"
            for k in result.keypoints
            if k.name in ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip")
        )
        return f"person {result.score:.3f}: {shown}"
    if hasattr(result, "box"):
        return f"{result.label:<14} {result.score:.3f}  box={result.pixels}"
    return f"{result.label:<30} {result.score:.3f}"


def add_cli(subparsers: Any) -> None:
    """Adds the classify, detect and pose subcommands to the ``sensekit`` parser."""
    helps = {
        "classify": "label what an image shows",
        "detect": "find objects with boxes",
        "pose": "find body keypoints of people",
    }
    for name, text in helps.items():
        parser = subparsers.add_parser(name, help=text)
        parser.add_argument("images", nargs="+", metavar="IMAGE")
        parser.add_argument("--json", action="store_true", help="print results as JSON")
        parser.add_argument(
            "--draw", metavar="OUT.png", help="write the image with results drawn on it"
        )
        parser.add_argument("--model", help="zoo name or .skmodel path")
        if name == "classify":
            parser.add_argument("--top-k", type=int, default=5)
        elif name == "detect":
            parser.add_argument(
                "--threshold", type=float, default=0.35, help="minimum score (default 0.35)"
            )
        else:
            parser.add_argument("--max-people", type=int, default=5)
        parser.set_defaults(func=_run)
    add_dice_cli(subparsers)


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _dice(args: argparse.Namespace) -> int:
    """Reads dice in a photo, or follows a video / camera until each roll ends."""
    from sensekit import vision
    from sensekit.vision.dice import DiceRoll, dice

    source = args.source
    model = args.model or "dice"
    if source.isdigit() or Path(source).suffix.lower() in VIDEO_SUFFIXES:
        roll = DiceRoll(model, every=args.every)
        states = []
        for state in roll.follow(int(source) if source.isdigit() else source):
            if state.phase == "ended":
                states.append(state)
                if not args.json:
                    print(
                        f"frame {state.frame}: roll ended: {state.reading.values} "
                        f"(total {state.reading.total})"
                    )
        if args.draw and states:
            _write(args.draw, vision.draw(states[-1].image, states[-1].reading.dice))
        if args.json:
            print(json.dumps([s.to_dict() for s in states], indent=2))
        elif not states:
            print("no roll came to rest")
        return 0
    reading = dice(source, model=model)
    if args.draw:
        _write(args.draw, vision.draw(source, reading.dice))
    if args.json:
        print(json.dumps(reading.to_dict(), indent=2))
    else:
        print(
            f"{source}: {reading.values} (total {reading.total})"
            if reading.values
            else f"{source}: no dice"
        )
    return 0


def _write(path: str | Path, rgb: Any) -> None:
    """Writes an RGB drawing; a folder that does not exist or an unknown image extension
    is an InvalidInput (OpenCV only returns False or raises its own error)."""
    import cv2

    from sensekit.core.errors import InvalidInput

    try:
        written = cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    except cv2.error as e:
        raise InvalidInput(f"--draw {path}: cannot write an image there ({e.err or e})") from e
    if not written:
        raise InvalidInput(
            f"--draw {path}: cannot write an image there (does the folder "
            f"exist? is the extension .png or .jpg?)"
        )


def _train_detector(args: argparse.Namespace) -> int:
    from sensekit.vision.detector_training import train_detector

    record = train_detector(
        args.data,
        args.out,
        epochs=args.epochs,
        size=args.size,
        batch_size=args.batch_size,
        validation=args.validation,
        vertical_flip=args.all_orientations,
        class_agnostic_nms=args.class_agnostic,
    )
    last = record["history"][-1]
    print(
        f"{args.out}: {record['train_images']} training images, validation mAP@0.5 "
        f"{last['val_map50']:.3f} after {last['epoch']} epochs"
    )
    return 0


def add_dice_cli(subparsers: Any) -> None:
    """``sensekit dice`` and ``sensekit train detector``."""
    parser = subparsers.add_parser(
        "dice", help="read dice in a photo, or follow a roll in a video or camera"
    )
    parser.add_argument("source", metavar="PHOTO|VIDEO|CAMERA")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--draw",
        metavar="OUT.png",
        help="write the (last ended) frame with each die's box and value",
    )
    parser.add_argument("--every", type=int, default=3, help="analyse one frame in N (3)")
    parser.add_argument("--model", help="zoo name or .skmodel path (default: dice)")
    parser.set_defaults(func=_dice)
    train = subparsers.add_parser("train", help="train a model on your own data")
    kinds = train.add_subparsers(dest="train_command", required=True)
    detector = kinds.add_parser(
        "detector",
        help="an object detector from labelled boxes (YOLO folder, COCO .json, VOC folder)",
    )
    detector.add_argument("data")
    detector.add_argument("--out", required=True, metavar="NAME.skmodel")
    detector.add_argument("--epochs", type=int, default=30)
    detector.add_argument("--size", type=int, default=384, help="input side in pixels")
    detector.add_argument("--batch-size", type=int, default=16)
    detector.add_argument(
        "--validation",
        type=float,
        default=0.1,
        help="share of images held out for the validation mAP",
    )
    detector.add_argument(
        "--all-orientations",
        action="store_true",
        help="also flip vertically and rotate (objects with no 'up')",
    )
    detector.add_argument(
        "--class-agnostic", action="store_true", help="one box per object whatever its label"
    )
    detector.set_defaults(func=_train_detector)
