"""One worker's side of a batch run: the task built once, then one result row per item.

The local engine's worker processes and the Ray engine's actors both hold a
:class:`Runner`, so both engines write the same rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensekit.core.errors import InvalidInput, SensekitError
from sensekit.core.tasks import task, to_jsonable

TEXT_INPUTS = ("text", "document")
FILE_INPUTS = ("image", "audio")


@dataclass(frozen=True)
class Job:
    """What every worker needs to run the task; sent once to each worker.

    Attributes:
        task: name in the task table.
        model: zoo name or absolute ``.skmodel`` path.
        options: the caller's options, validated, as given to ``TaskSpec.create``.
        settings: every option's value as JSON: the rows' ``options`` (defaults included,
            so ``--top-k 5`` and no flag are the same run).
        threads: ONNX Runtime intra-op threads per worker (None: ONNX Runtime's default).
        subtitles: transcript side files to produce ("srt", "vtt").
    """

    task: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    subtitles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """One unit of work: a file (and a question for ``answer``), with its content hash."""

    path: str
    sha256: str | None
    name: str
    question: str | None = None


def make_row(
    job: Job, item: Item, *, result: Any = None, error: str | None = None, seconds: float = 0.0
) -> dict[str, Any]:
    """A results row; ``question`` only for tasks that take one."""
    row: dict[str, Any] = {
        "path": item.path,
        "sha256": item.sha256,
        "task": job.task,
        "model": job.model,
        "options": job.settings,
    }
    if "question" in task(job.task).inputs:
        row["question"] = item.question
    row.update(result=result, error=error, seconds=round(seconds, 6))
    return row


def describe_error(error: BaseException) -> str:
    """An error row's text: sensekit's own message, or the type and message of others."""
    if isinstance(error, SensekitError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class Runner:
    """The task of a job, built once; calling it runs one item into a row and side files.

    Raises (at construction):
        SensekitError: the model cannot be loaded or the options are invalid.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.spec = task(job.task)
        self._task = self.spec.create(job.model, **job.options)
        if job.threads is not None:
            limit_threads(self._task, job.threads)

    def __call__(self, item: Item) -> tuple[dict[str, Any], dict[str, str]]:
        """The row of ``item`` and its side files ({"srt": text, ...}); never raises for a
        bad item: the error goes into the row."""
        start = time.perf_counter()
        try:
            result = self.spec.run(self._task, *self._inputs(item))
            jsonable = to_jsonable(result)
            json.dumps(jsonable)  # a result JSON cannot hold is this item's error, here
            row = make_row(self.job, item, result=jsonable, seconds=time.perf_counter() - start)
            return row, self._side_files(result)
        except Exception as e:  # a bad item becomes an error row, whatever raised
            return make_row(
                self.job, item, error=describe_error(e), seconds=time.perf_counter() - start
            ), {}

    def _inputs(self, item: Item) -> list[Any]:
        inputs: list[Any] = []
        for kind in self.spec.inputs:
            if kind == "question":
                inputs.append(item.question)
            elif kind in TEXT_INPUTS:
                inputs.append(read_text(item.path))
            else:
                inputs.append(item.path)
        return inputs

    def _side_files(self, result: Any) -> dict[str, str]:
        if not self.job.subtitles:
            return {}
        from sensekit.speech.formats import format_transcript

        return {fmt: format_transcript(result, fmt) for fmt in self.job.subtitles}


def read_text(path: str) -> str:
    """A text input's content (UTF-8).

    Raises:
        InvalidInput: missing, unreadable or not UTF-8.
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InvalidInput(f"Text file not found: {path}") from e
    except UnicodeDecodeError as e:
        raise InvalidInput(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise InvalidInput(f"Cannot read {path}: {e.strerror or e}") from e


def limit_threads(task_object: Any, threads: int) -> None:
    """Gives the task's models ``threads`` ONNX Runtime threads, and numpy's BLAS as many.

    Task classes load their model with ONNX Runtime's default (every core); N workers on N
    cores would then run N x N threads. A model that pinned its own thread count (Silero
    VAD: 1) keeps it. Sessions already made while building the task (the Whisper runner
    reads its decoder's shapes) are dropped, to be made again with the limit on first use.
    """
    import dataclasses

    from threadpoolctl import threadpool_limits

    from sensekit.core.model import Model

    for value in vars(task_object).values():
        if isinstance(value, Model) and value.configuration.threads is None:
            with value._lock:
                value.configuration = dataclasses.replace(value.configuration, threads=threads)
                value._sessions.clear()
    threadpool_limits(limits=threads)
