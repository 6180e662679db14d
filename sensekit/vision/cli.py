"""``sensekit classify|detect|pose IMAGE... [--json] [--draw OUT.png]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _out_path(draw: str, image: str, many: bool) -> Path:
    """OUT.png for one image; OUT-<image stem>.png for several."""
    out = Path(draw)
    return out.with_name(f"{out.stem}-{Path(image).stem}{out.suffix or '.png'}") if many else out


def _run(args: argparse.Namespace) -> int:
    from sensekit import vision

    if args.command == "classify":
        task = vision.ImageClassifier.from_model(args.model or vision.classify_module.DEFAULT_MODEL,
                                                 vision.ClassifierOptions(top_k=args.top_k))
    elif args.command == "detect":
        task = vision.ObjectDetector.from_model(
            args.model or vision.detect_module.DEFAULT_MODEL,
            vision.DetectorOptions(score_threshold=args.threshold))
    else:
        task = vision.PoseDetector.from_model(args.model or vision.pose_module.DEFAULT_MODEL,
                                              vision.PoseOptions(max_people=args.max_people))
    report: dict[str, Any] = {}
    for image in args.images:
        results = task(image)
        report[image] = [r.to_dict() for r in results]
        if args.draw:
            import cv2

            out = _out_path(args.draw, image, len(args.images) > 1)
            cv2.imwrite(str(out), vision.draw(image, results)[:, :, ::-1])
        if not args.json:
            print(f"{image}:")
            for r in results:
                print(f"  {_line(r)}")
    if args.json:
        print(json.dumps(report if len(args.images) > 1 else report[args.images[0]], indent=2))
    return 0


def _line(result: Any) -> str:
    if hasattr(result, "keypoints"):
        shown = ", ".join(f"{k.name}=({k.x:.3f},{k.y:.3f})" for k in result.keypoints
                          if k.name in ("nose", "left_shoulder", "right_shoulder",
                                        "left_hip", "right_hip"))
        return f"person {result.score:.3f}: {shown}"
    if hasattr(result, "box"):
        return f"{result.label:<14} {result.score:.3f}  box={result.pixels}"
    return f"{result.label:<30} {result.score:.3f}"


def add_cli(subparsers: Any) -> None:
    """Adds the classify, detect and pose subcommands to the ``sensekit`` parser."""
    helps = {"classify": "label what an image shows", "detect": "find objects with boxes",
             "pose": "find body keypoints of people"}
    for name, text in helps.items():
        parser = subparsers.add_parser(name, help=text)
        parser.add_argument("images", nargs="+", metavar="IMAGE")
        parser.add_argument("--json", action="store_true", help="print results as JSON")
        parser.add_argument("--draw", metavar="OUT.png",
                            help="write the image with results drawn on it")
        parser.add_argument("--model", help="zoo name or .skmodel path")
        if name == "classify":
            parser.add_argument("--top-k", type=int, default=5)
        elif name == "detect":
            parser.add_argument("--threshold", type=float, default=0.35,
                                help="minimum score (default 0.35)")
        else:
            parser.add_argument("--max-people", type=int, default=5)
        parser.set_defaults(func=_run)
