"""``sensekit transcribe FILE... [--format srt|vtt|txt|json] [--model whisper-base]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sensekit.core.errors import InvalidInput
from sensekit.speech.formats import FORMATS

_PROGRESS_FROM_S = 60.0  # show a progress bar for files longer than this


def add_cli(subparsers: Any) -> None:
    """Registers the ``transcribe`` subcommand."""
    parser = subparsers.add_parser("transcribe", help="speech to text (Whisper)")
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, mp3...)")
    parser.add_argument("--format", choices=FORMATS, default="txt", help="output format")
    parser.add_argument(
        "--model",
        default="whisper-tiny.en",
        help="zoo name (whisper-tiny.en, whisper-base) or package path",
    )
    parser.add_argument("--language", default=None, help="language code (default: detect)")
    parser.add_argument("--task", choices=("transcribe", "translate"), default="transcribe")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--word-timestamps", action="store_true")
    parser.add_argument("--no-vad", action="store_true", help="decode silent windows too")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="write FILE.<format> there instead of printing",
    )
    parser.set_defaults(func=_transcribe)


def _long(path: str) -> bool:
    try:
        import soundfile as sf

        return sf.info(path).duration > _PROGRESS_FROM_S
    except Exception:  # unknown length (mp3 through ffmpeg): assume long
        return True


def _transcribe(args: argparse.Namespace) -> int:
    from sensekit.speech.formats import format_transcript
    from sensekit.speech.whisper.transcribe import TranscribeOptions, Transcriber

    options = TranscribeOptions(
        language=args.language,
        task=args.task,
        beam_size=args.beam_size,
        word_timestamps=args.word_timestamps,
        vad=not args.no_vad,
    )
    if args.output_dir is not None:  # an unusable folder fails before any work
        try:
            args.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InvalidInput(f"--output-dir {args.output_dir}: {e.strerror or e}") from e
    transcriber = Transcriber.from_model(args.model, options)
    for name in args.files:
        transcript = transcriber.transcribe(name, progress=sys.stderr.isatty() and _long(name))
        text = format_transcript(transcript, args.format)
        if args.output_dir is not None:
            target = args.output_dir / f"{Path(name).stem}.{args.format}"
            partial = target.with_name(f".{target.name}.partial")
            try:  # through a rename: a stopped run never leaves half a transcript
                partial.write_text(text, encoding="utf-8")
                os.replace(partial, target)
            except OSError as e:
                raise InvalidInput(f"cannot write {target}: {e.strerror or e}") from e
            print(target)
        else:
            if len(args.files) > 1:
                print(f"# {name}")
            sys.stdout.write(text)
    return 0
