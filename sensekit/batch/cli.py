"""``sensekit batch TASK INPUT... --out RESULTS [--workers N] [--ray [ADDRESS]] ...``.

One sub-verb per task of the task table (a task added to the table appears here), with
the task's options as flags (``sensekit batch classify photos/ --out r.jsonl --top-k 3``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

_COMMON = {
    "out",
    "workers",
    "ray",
    "include",
    "exclude",
    "retry_failed",
    "model",
    "questions",
    "srt",
    "vtt",
    "quiet",
    "help",
}


def _element_type(annotation: str) -> Any:
    """argparse type of an option's annotation (a string under PEP 563): int, float, str;
    None for a bool."""
    inner = annotation.removeprefix("tuple[")
    for name, kind in (("bool", None), ("int", int), ("float", float)):
        if inner.startswith(name):
            return kind
    return str


def _add_option_flags(parser: argparse.ArgumentParser, spec: Any) -> None:
    group = parser.add_argument_group(f"{spec.name} options")
    for name, field in spec.option_fields().items():
        annotation = str(field.type)
        kind = _element_type(annotation)
        # an option named like a batch flag gets a prefix instead of breaking the CLI
        flag = "--" + ("option-" if name in _COMMON else "") + name.replace("_", "-")
        dest = f"option_{name}"
        if kind is None:
            group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None)
        elif annotation.startswith("tuple"):
            group.add_argument(
                flag, dest=dest, nargs="+", type=kind, default=None, metavar=name.upper()
            )
        else:
            group.add_argument(flag, dest=dest, type=kind, default=None, metavar=name.upper())


def _add_task(tasks: Any, spec: Any) -> None:
    parser = tasks.add_parser(
        spec.name, help=spec.summary, description=f"{spec.summary}, over a corpus, resumably"
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="files, folders (recursive) or .txt/.csv lists of paths "
        "(@LIST for a list of any name)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="RESULTS",
        help="results: .jsonl (appended as items finish) or .parquet "
        "(written at the end, JSON Lines beside it)",
    )
    parser.add_argument("--model", help=f"zoo name or .skmodel path ({spec.default_model})")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes or Ray actors (default: one per core)",
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run on Ray: a local Ray, or the cluster at ADDRESS",
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only files in folders that match (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out files in folders that match (repeatable)",
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="run inputs whose earlier row is an error again"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    if "question" in spec.inputs:
        parser.add_argument(
            "--questions",
            required=True,
            metavar="FILE",
            help="questions, one per line: each document is asked each",
        )
    if spec.domain == "speech":
        parser.add_argument("--srt", action="store_true", help="write SubRip side files")
        parser.add_argument("--vtt", action="store_true", help="write WebVTT side files")
    _add_option_flags(parser, spec)
    parser.set_defaults(func=_run, spec=spec)


def _run(args: argparse.Namespace) -> int:
    from sensekit.batch import run

    options = {
        k.removeprefix("option_"): tuple(v) if isinstance(v, list) else v
        for k, v in vars(args).items()
        if k.startswith("option_") and v is not None
    }
    subtitles = [fmt for fmt in ("srt", "vtt") if getattr(args, fmt, False)]
    summary = run(
        args.spec.name,
        args.inputs,
        out=args.out,
        model=args.model,
        options=options,
        workers=args.workers,
        engine="local" if args.ray is None else "ray",
        ray_address=args.ray or None,
        include=args.include,
        exclude=args.exclude,
        retry_failed=args.retry_failed,
        questions=getattr(args, "questions", None),
        subtitles=subtitles,
        progress=not args.quiet,
    )
    for note in summary.notes:
        print(f"sensekit: {note}", file=sys.stderr)
    where = summary.parquet or summary.results
    print(
        f"{summary.computed} computed ({summary.failed} failed), {summary.skipped} already "
        f"done, in {summary.seconds:.1f} s: {where}"
    )
    return 0


def add_cli(subparsers: Any) -> None:
    """Adds ``sensekit batch TASK ...`` with one sub-verb per task of the table."""
    from sensekit.core.tasks import TASKS

    batch = subparsers.add_parser(
        "batch", help="run a task over a corpus (resumable; local workers or Ray)"
    )
    tasks = batch.add_subparsers(dest="batch_task", required=True, metavar="TASK")
    for spec in TASKS.values():
        _add_task(tasks, spec)
