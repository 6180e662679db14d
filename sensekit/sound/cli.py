"""``sensekit identify FILE... [--json] [--plot OUT.png]``: sounds heard in audio files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import SensekitError

_PLOT_LABELS = 5  # labels drawn in the timeline plot


def add_cli(subparsers: Any) -> None:
    """Registers the ``identify`` subcommand."""
    parser = subparsers.add_parser("identify", help="sound events in audio files (YAMNet)")
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="OUT.png",
        help="save a timeline of the top labels' scores (one file: OUT.png; "
        "several: OUT-<name>.png)",
    )
    parser.add_argument("--model", default="yamnet", help="zoo name or package path")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--window", type=float, default=0.96, help="window in seconds")
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.set_defaults(func=_identify)


def _identify(args: argparse.Namespace) -> int:
    from sensekit.core.tasks import cached_default
    from sensekit.sound.identify import SoundClassifier

    if args.plot is not None:
        _require_matplotlib()
    classifier = cached_default(
        ("sound", str(args.model)), lambda: SoundClassifier.from_model(args.model)
    )
    options = {
        "top_k": args.top_k,
        "score_threshold": args.threshold,
        "window": args.window,
        "overlap": args.overlap,
    }
    results = {}
    for name in args.files:
        events = classifier.identify(name, **options)
        results[name] = [e.to_dict() for e in events]
        if args.plot is not None:
            target = (
                args.plot
                if len(args.files) == 1
                else args.plot.with_name(f"{args.plot.stem}-{Path(name).stem}{args.plot.suffix}")
            )
            starts, scores = classifier.window_scores(name, **options)
            plot_timeline(
                starts, scores, classifier.labels, options["window"], target, title=Path(name).name
            )
        if not args.json:
            print(f"# {name}")
            for e in events:
                print(f"{e.start:8.2f} {e.end:8.2f}  {e.score:.2f}  {e.label}")
    if args.json:
        print(
            json.dumps(
                results if len(args.files) > 1 else results[args.files[0]],
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0


def _require_matplotlib() -> None:
    """Fails before any work when --plot cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise SensekitError("--plot needs matplotlib: pip install 'sensekit[plot]'") from e


def plot_timeline(
    starts: np.ndarray,
    scores: np.ndarray,
    labels: list[str],
    window: float,
    target: Path,
    title: str = "",
) -> Path:
    """Saves a PNG: score of the clip's top labels over time (window centres)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = np.argsort(-scores.max(axis=0))[:_PLOT_LABELS]
    figure, axis = plt.subplots(figsize=(10, 3.5))
    centres = starts + window / 2
    for index in top:
        axis.plot(centres, scores[:, index], marker=".", label=labels[index])
    axis.set_xlabel("time (s)")
    axis.set_ylabel("score")
    axis.set_ylim(0, 1.02)
    axis.set_title(title)
    axis.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target
