"""The results file of a batch run: JSON Lines, appended row by row, read back to resume.

Each row is written with one ``write`` to a file opened for appending, as its item
finishes, so a run killed at any moment loses at most the row being written: a torn last
line is cut off when the file is opened again. An input is identified by its path, task,
model, options and question; the last row of an identity is its result, so a retried
failure or a changed file supersedes the older row, which is dropped when the file is
rewritten (into a temporary file, then renamed over it: never half-written). One run at a
time may write a results file: a lock file beside it says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sensekit.core.errors import SensekitError


def identity(row: dict[str, Any]) -> bytes:
    """What makes two rows the same input (16 bytes, so a million fit in ~100 MB)."""
    key = json.dumps(
        [row["path"], row["task"], row["model"], row["options"], row.get("question")],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def state(sha256: str | None, ok: bool) -> bytes:
    """The state of an identity: which content it was run on, and whether it succeeded."""
    return hashlib.blake2b(f"{sha256}:{ok}".encode(), digest_size=16).digest()


class Journal:
    """An open results file: what is done, and appending rows.

    Use :meth:`open`; close it (or use ``with``) to release the lock and drop superseded
    rows.
    """

    def __init__(self, path: Path, lock_fd: int, created: bool = False) -> None:
        self.path = path
        self._created = created  # removed again on closing if no row was ever written
        self.notes: list[str] = []  # repairs made on opening, for the run's summary
        self._lock_fd = lock_fd
        self._index: dict[bytes, bytes] = {}
        self._superseded = False
        self._load()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Opens (or creates) a results file for a run.

        Raises:
            SensekitError: the file cannot be written, or another run holds it.
        """
        path = Path(path)
        if path.is_dir():
            raise SensekitError(f"Cannot write results to {path}: it is a folder")
        created = not path.exists()
        lock_path = path.with_name(path.name + ".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock_fd = _lock(lock_path)
        except OSError as e:
            raise SensekitError(f"Cannot write results to {path}: {_why(path, e)}") from e
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
            return cls(path, lock_fd, created)
        except BaseException as e:
            _unlock(lock_path, lock_fd)
            if isinstance(e, OSError):
                raise SensekitError(f"Cannot write results to {path}: {_why(path, e)}") from e
            raise

    def status(self, row_identity: bytes, sha256: str | None) -> str | None:
        """ "ok", "error" or None (no row) for an input with this content."""
        found = self._index.get(row_identity)
        if found is None:
            return None
        return {state(sha256, True): "ok", state(sha256, False): "error"}.get(found)

    def append(self, row: dict[str, Any]) -> None:
        """Writes one row (one line, one system call) and counts it as done."""
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        key = identity(row)
        self._superseded |= key in self._index
        self._index[key] = state(row["sha256"], row["error"] is None)

    def close(self) -> None:
        """Syncs the file, drops superseded rows and releases the lock."""
        if self._fd < 0:
            return
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        try:
            if self._superseded:
                _rewrite(self.path, _last_rows(self.path))
            if self._created and self.path.stat().st_size == 0:
                self.path.unlink()  # a run that failed before its first row leaves nothing
        finally:
            _unlock(self.path.with_name(self.path.name + ".lock"), self._lock_fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load(self) -> None:
        """Indexes the rows, cutting a torn last line and rewriting the file without
        unreadable lines and superseded rows when it has any."""
        if _cut_torn_tail(self.path):
            self.notes.append(f"cut a torn last line from {self.path.name} (an interrupted run)")
        keep: dict[bytes, int] = {}
        bad = rows = 0
        for number, row in _rows(self.path):
            if row is None:
                bad += 1
                continue
            rows += 1
            key = identity(row)
            keep[key] = number
            self._index[key] = state(row["sha256"], row["error"] is None)
        if bad:
            self.notes.append(f"dropped {bad} unreadable line(s) of {self.path.name}")
        if bad or len(keep) < rows:
            _rewrite(self.path, set(keep.values()))


def _why(path: Path, error: OSError) -> str:
    """What is wrong with an output path, in words."""
    existing = next((p for p in path.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    return error.strerror or str(error)


def _cut_torn_tail(path: Path) -> bool:
    """Cuts the file after its last newline; True if there was anything after it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        end = size
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
    if end == size:
        return False
    os.truncate(path, end)
    return True


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, row or None when unreadable) of every complete line."""
    with open(path, "rb") as f:
        for number, line in enumerate(f):
            if line.endswith(b"\n"):
                yield number, _parse(line)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    required = ("path", "sha256", "task", "model", "options", "error")
    return row if isinstance(row, dict) and all(k in row for k in required) else None


def _last_rows(path: Path) -> set[int]:
    """Line numbers of the last row of every identity."""
    keep: dict[bytes, int] = {}
    for number, row in _rows(path):
        if row is not None:
            keep[identity(row)] = number
    return set(keep.values())


def _rewrite(path: Path, keep: set[int]) -> None:
    """Rewrites the file with only the lines numbered in ``keep``, atomically."""
    temporary = path.with_name(path.name + ".tmp")
    with open(path, "rb") as source, open(temporary, "wb") as target:
        for number, line in enumerate(source):
            if number in keep:
                target.write(line)
        target.flush()
        os.fsync(target.fileno())
    os.replace(temporary, path)


def read_rows(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every complete, readable row of a results file."""
    for _, row in _rows(Path(path)):
        if row is not None:
            yield row


def _lock(lock_path: Path) -> int:
    """Takes the lock file of a results file, or says which run holds it."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SensekitError(
                f"Another sensekit batch run is writing {lock_path.name[:-5]}; "
                f"wait for it or choose another --out"
            ) from None
        try:  # the holder before us may have removed the file after we opened it
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _unlock(lock_path: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_path)
    os.close(fd)
