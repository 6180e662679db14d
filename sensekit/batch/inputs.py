"""What a batch run reads: files, folders and lists of paths, expanded into sources.

A folder is walked recursively (hidden files and folders skipped, sorted so every run
sees the same order) and filtered by ``include``/``exclude`` globs, matched without case
against the path under the folder and against the file name. A ``.txt`` or ``.csv`` file
is a list of paths (one per line; a CSV's ``path`` column, else its first column), relative
paths being relative to the list's folder; for tasks that read text (``embed``,
``answer``) a ``.txt`` is a document, and ``@LIST`` names a list of any suffix. A path that
does not exist is kept: the run turns it into an error row.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sensekit.core.errors import InvalidInput

LIST_SUFFIXES = (".txt", ".csv")
HASH_BLOCK = 1 << 20  # bytes read at a time while hashing: flat memory for any file size


@dataclass(frozen=True)
class Source:
    """One file to run on, as listed (before it is read).

    Attributes:
        path: absolute path (symbolic links kept: two links are two inputs).
        name: the path under the folder it was found in, or the file name; side files
            (subtitles) are written under this name.
    """

    path: str
    name: str


def list_sources(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    text_task: bool = False,
) -> list[Source]:
    """Every file named by ``inputs``, in order, each once.

    Raises:
        InvalidInput: no inputs, or a list file that cannot be read.
    """
    seen: set[str] = set()
    sources = []
    for given in inputs:
        for source in _expand(str(given), include, exclude, text_task):
            if source.path not in seen:
                seen.add(source.path)
                sources.append(source)
    if not sources:
        raise InvalidInput("No input files: name files, folders or a .txt/.csv list of paths")
    return sources


def _expand(
    given: str, include: Sequence[str], exclude: Sequence[str], text_task: bool
) -> Iterator[Source]:
    forced_list = given.startswith("@")
    path = Path(given[1:] if forced_list else given)
    if path.is_dir():
        yield from _walk(path, include, exclude)
    elif forced_list or _is_list(path, text_task):
        for entry in read_list(path):
            if entry.is_dir():
                yield from _walk(entry, include, exclude)
            else:
                yield Source(os.path.abspath(entry), entry.name)
    else:
        yield Source(os.path.abspath(path), path.name)


def _is_list(path: Path, text_task: bool) -> bool:
    suffix = path.suffix.lower()
    if suffix not in LIST_SUFFIXES or not path.is_file():
        return False
    return not (text_task and suffix == ".txt")


def _walk(root: Path, include: Sequence[str], exclude: Sequence[str]) -> Iterator[Source]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if selected(relative, include, exclude):
                yield Source(os.path.abspath(path), relative)


def selected(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether a file found in a folder passes the globs (case-insensitive)."""

    def matches(patterns: Sequence[str]) -> bool:
        candidates = (relative.lower(), relative.rsplit("/", 1)[-1].lower())
        return any(fnmatch.fnmatchcase(c, p.lower()) for p in patterns for c in candidates)

    return (not include or matches(include)) and not matches(exclude)


def read_list(path: Path) -> list[Path]:
    """The paths listed in a .txt (one a line, ``#`` comments) or .csv file.

    Raises:
        InvalidInput: the list cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"Cannot read the list of inputs {path}: {e}") from e
    if path.suffix.lower() == ".csv":
        entries = _csv_paths(text)
    else:
        entries = [line.strip() for line in text.splitlines()]
        entries = [e for e in entries if e and not e.startswith("#")]
    return [p if p.is_absolute() else path.parent / p for p in map(Path, entries)]


def _csv_paths(text: str) -> list[str]:
    rows = [row for row in csv.reader(text.splitlines()) if row and any(c.strip() for c in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = header.index("path") if "path" in header else 0
    body = rows[1:] if "path" in header else rows
    return [row[column].strip() for row in body if len(row) > column and row[column].strip()]


def read_questions(path: str | os.PathLike[str]) -> list[str]:
    """The questions of a file, one per non-empty line.

    Raises:
        InvalidInput: the file is missing, unreadable or holds no question.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"Cannot read the questions file {path}: {e}") from e
    questions = [line.strip() for line in lines if line.strip()]
    if not questions:
        raise InvalidInput(f"The questions file {path} holds no question (one per line)")
    return questions


def sha256_of(path: str) -> str:
    """Hex sha256 of a file's content, read in blocks.

    Raises:
        OSError: the file is missing or unreadable (the run makes it an error row).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
