"""``sensekit answer "QUESTION" --file DOC.txt [--top-k 3] [--json]`` and ``sensekit embed``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sensekit.core.errors import InvalidInput


def add_cli(subparsers: Any) -> None:
    """Registers the ``answer`` and ``embed`` subcommands."""
    parser = subparsers.add_parser("answer", help="answer a question from a text document")
    parser.add_argument("question", help="the question")
    parser.add_argument(
        "--file",
        type=Path,
        default=None,
        metavar="DOC.txt",
        help="UTF-8 text document (default: read standard input)",
    )
    parser.add_argument("--top-k", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--model", default="minilm-qa", help="zoo name or package path")
    parser.add_argument("--max-answer-len", type=int, default=30)
    parser.add_argument(
        "--no-impossible",
        action="store_true",
        help="always give the best span, even when 'no answer' scores higher",
    )
    parser.set_defaults(func=_answer)
    embed = subparsers.add_parser("embed", help="sentence embeddings of texts (JSON)")
    embed.add_argument("texts", nargs="+")
    embed.add_argument("--model", default="minilm-embed")
    embed.set_defaults(func=_embed)


def _read_document(path: Path | None) -> bytes:
    if path is None:
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"Cannot read {path}: {e.strerror}") from e


def _answer(args: argparse.Namespace) -> int:
    from sensekit.language import answer

    result = answer(
        args.question,
        _read_document(args.file),
        top_k=args.top_k,
        max_answer_len=args.max_answer_len,
        handle_impossible=not args.no_impossible,
        model=args.model,
    )
    answers = result if isinstance(result, list) else [] if result is None else [result]
    if args.json:
        print(
            json.dumps(
                [a.to_dict() for a in answers]
                if args.top_k > 1
                else (answers[0].to_dict() if answers else None),
                indent=2,
                ensure_ascii=False,
            )
        )
    elif not answers:
        print("(no answer)")
    else:
        for a in answers:
            print(f"{a.score:.3f}  [{a.start}:{a.end}]  {a.text}")
    return 0


def _embed(args: argparse.Namespace) -> int:
    from sensekit.language import embed

    vectors = embed(args.texts, model=args.model)
    print(json.dumps({t: [round(float(v), 6) for v in row] for t, row in zip(args.texts, vectors)}))
    return 0
