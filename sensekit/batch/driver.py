"""``sensekit.batch.run``: checks everything up front, then feeds an engine and writes rows.

Every mistake a caller can make (unknown task or option, unwritable output, unknown
model, missing questions file) is a :class:`~sensekit.core.errors.SensekitError` raised
before the first input is read. After that no input can stop the run: a missing,
unreadable or corrupt file becomes an error row.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensekit.batch.inputs import Source, list_sources, read_questions, sha256_of
from sensekit.batch.journal import Journal, identity
from sensekit.batch.local import PREFETCH, LocalEngine, cores, plan_workers
from sensekit.batch.outputs import require_pyarrow, write_parquet, write_side_files
from sensekit.batch.runner import TEXT_INPUTS, Item, Job, make_row
from sensekit.core import tasks as task_table
from sensekit.core.errors import InvalidInput, ModelNotFound
from sensekit.core.tasks import TaskSpec, to_jsonable

ENGINES = ("local", "ray")
SUBTITLES = ("srt", "vtt")


@dataclass(frozen=True)
class BatchSummary:
    """What a run did.

    Attributes:
        results: the JSON Lines results file (all rows, this run's and earlier ones).
        parquet: the Parquet copy, when asked for.
        total: inputs of the run (x questions for ``answer``).
        computed: rows written by this run, failed ones included.
        failed: error rows written by this run.
        skipped: inputs that already had a row.
        seconds: wall time of the run.
        notes: repairs made to the results file (a torn last line cut, ...).
    """

    results: str
    parquet: str | None
    total: int
    computed: int
    failed: int
    skipped: int
    seconds: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Plan:
    spec: TaskSpec
    job: Job
    sources: list[Source]
    questions: tuple[str | None, ...]
    journal: Path
    parquet: Path | None
    subtitles: Path | None
    engine: str
    ray_address: str | None
    workers: int | None
    retry_failed: bool


def run(
    task: str,
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str],
    model: str | None = None,
    options: dict[str, Any] | None = None,
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    retry_failed: bool = False,
    questions: str | os.PathLike[str] | None = None,
    subtitles: Sequence[str] = (),
    progress: bool = True,
) -> BatchSummary:
    """Runs a task of the task table over a corpus, resumably.

    Args:
        task: a task of ``sensekit.core.tasks.TASKS`` ("classify", "transcribe", ...).
        inputs: files, folders (walked recursively) and .txt/.csv lists of paths.
        out: results file: JSON Lines, appended as items finish; a ``.parquet`` name also
            gets a Parquet copy at the end (the JSON Lines go beside it, ``.jsonl``).
        model: zoo name or ``.skmodel`` path (default: the task's default model).
        options: the task's options ({"top_k": 3}).
        workers: worker processes (local) or actors (Ray); default: one per core.
        engine: "local" (worker processes) or "ray" (Ray Data).
        ray_address: a Ray cluster's address (engine "ray"); None starts a local Ray.
        include: globs a file found in a folder must match (one of them).
        exclude: globs that leave a file found in a folder out.
        retry_failed: run inputs whose earlier row is an error again.
        questions: for "answer": a file of questions, one per line; each document is
            asked each question.
        subtitles: for transcripts: "srt" and/or "vtt" side files, written into
            ``<out stem>-subtitles/`` under each input's name.
        progress: show a progress bar (items/s, ETA) when stderr is a terminal.

    Returns:
        What the run did; the rows are in ``summary.results``.

    Raises:
        SensekitError: a bad task, option, model, output path or questions file, before
            any input is read; or a worker that cannot load the model.
    """
    started = time.perf_counter()
    plan = _plan(
        task,
        _listed(inputs),
        out=out,
        model=model,
        options=options or {},
        workers=workers,
        engine=engine,
        ray_address=ray_address,
        include=_listed(include),
        exclude=_listed(exclude),
        retry_failed=retry_failed,
        questions=questions,
        subtitles=_listed(subtitles),
    )
    with Journal.open(plan.journal) as journal:
        plan = dataclasses.replace(
            plan,
            job=dataclasses.replace(plan.job, model=_resolve_model(plan.job.model, plan.engine)),
        )
        counts = _execute(plan, journal, progress)
        notes = tuple(journal.notes)
    if plan.parquet is not None:
        write_parquet(plan.journal, plan.parquet)
    return BatchSummary(
        str(plan.journal),
        str(plan.parquet) if plan.parquet else None,
        len(plan.sources) * len(plan.questions),
        counts["computed"],
        counts["failed"],
        counts["skipped"],
        time.perf_counter() - started,
        notes,
    )


def _plan(
    task_name: str,
    inputs: Any,
    *,
    out: Any,
    model: str | None,
    options: dict[str, Any],
    workers: int | None,
    engine: str,
    ray_address: str | None,
    include: Sequence[str],
    exclude: Sequence[str],
    retry_failed: bool,
    questions: Any,
    subtitles: Sequence[str],
) -> _Plan:
    """Checks the arguments (no input is read) and lists the inputs."""
    spec = task_table.task(task_name)
    validated = spec.make_options(**options)
    settings = {name: to_jsonable(getattr(validated, name)) for name in spec.option_fields()}
    _check_engine(engine, ray_address, workers)
    subtitles = _check_subtitles(spec, subtitles)
    asked = _questions(spec, questions)
    journal, parquet = _outputs(Path(out))
    sources = list_sources(
        inputs,
        include=include,
        exclude=exclude,
        text_task=any(kind in TEXT_INPUTS for kind in spec.inputs),
    )
    job = Job(spec.name, model or spec.default_model, dict(options), settings, subtitles=subtitles)
    side_folder = journal.with_name(journal.stem + "-subtitles") if subtitles else None
    return _Plan(
        spec,
        job,
        sources,
        asked,
        journal,
        parquet,
        side_folder,
        engine,
        ray_address,
        workers,
        retry_failed,
    )


def _listed(value: Any) -> list[Any]:
    """One string or path as a list of one; any other sequence as a list."""
    return [value] if isinstance(value, (str, os.PathLike)) else list(value)


def _check_engine(engine: str, ray_address: str | None, workers: int | None) -> None:
    if engine not in ENGINES:
        raise InvalidInput(f"Unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    if ray_address is not None and engine != "ray":
        raise InvalidInput("ray_address needs engine='ray'")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise InvalidInput(f"workers must be a positive int, not {workers!r}")
    if engine == "ray":
        from sensekit.batch.ray_engine import require_ray

        require_ray()


def _check_subtitles(spec: TaskSpec, subtitles: Sequence[str]) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(subtitles))
    unknown = [f for f in formats if f not in SUBTITLES]
    if unknown:
        raise InvalidInput(f"Unknown subtitle format(s) {unknown}; choose from {SUBTITLES}")
    if formats and spec.domain != "speech":
        raise InvalidInput(f"Subtitles are written for transcripts, not for {spec.name}")
    return formats


def _questions(spec: TaskSpec, path: Any) -> tuple[str | None, ...]:
    if "question" not in spec.inputs:
        if path is not None:
            raise InvalidInput(f"{spec.name} takes no questions; --questions is for answer")
        return (None,)
    if path is None:
        raise InvalidInput(f"{spec.name} needs a questions file (one question per line)")
    return tuple(dict.fromkeys(read_questions(path)))


def _outputs(out: Path) -> tuple[Path, Path | None]:
    """(JSON Lines results, Parquet copy or None) for ``--out``."""
    if out.suffix.lower() != ".parquet":
        return out, None
    require_pyarrow()
    return out.with_suffix(".jsonl"), out


def _resolve_model(name: str, engine: str) -> str:
    """A package path made absolute, or a zoo name checked (and built once, for the local
    engine, before workers load it)."""
    from sensekit.core import registry

    if (Path(name) / "manifest.json").is_file():
        return os.path.abspath(name)
    if engine == "local":
        registry.ensure(name)  # ModelNotFound lists the available names
    else:
        for part in registry.members(name):
            if part not in registry.available():
                raise ModelNotFound(part, registry.available())
    return name


def _execute(plan: _Plan, journal: Journal, progress: bool) -> dict[str, int]:
    from tqdm import tqdm

    counts = {"computed": 0, "failed": 0, "skipped": 0}
    total = len(plan.sources) * len(plan.questions)
    names = {s.path: s.name for s in plan.sources} if plan.subtitles else {}
    with tqdm(
        total=total,
        unit="item",
        desc=plan.spec.name,
        smoothing=0.05,
        disable=None if progress else True,
    ) as bar:

        def on_row(row: dict[str, Any], side_files: dict[str, str]) -> None:
            if side_files and plan.subtitles is not None:  # before the row: a kill between
                write_side_files(plan.subtitles, names[row["path"]], side_files)  # reruns it
            journal.append(row)
            counts["computed"] += 1
            counts["failed"] += row["error"] is not None
            bar.update(1)

        def skip() -> None:
            counts["skipped"] += 1
            bar.total -= 1

        _run_engine(plan, _pending(plan, journal, on_row, skip), on_row)
    return counts


def _pending(
    plan: _Plan, journal: Journal, on_row: Callable[..., None], skip: Callable[[], None]
) -> Iterator[Item]:
    """The items still to run, read lazily; inputs that cannot be read are written as
    error rows here, inputs already done are skipped."""
    for source in plan.sources:
        sha256, error = _hash(source.path)
        for question in plan.questions:
            item = Item(source.path, sha256, source.name, question)
            status = journal.status(identity(make_row(plan.job, item)), sha256)
            if status == "ok" or (status == "error" and not plan.retry_failed):
                skip()
            elif error is not None:
                on_row(make_row(plan.job, item, error=error), {})
            else:
                yield item


def _hash(path: str) -> tuple[str | None, str | None]:
    """(sha256, None), or (None, why the file cannot be read)."""
    try:
        return sha256_of(path), None
    except FileNotFoundError:
        return None, f"Input file not found: {path}"
    except OSError as e:
        return None, f"Cannot read {path}: {e.strerror or e}"


def _run_engine(
    plan: _Plan, pending: Iterator[Item], on_row: Callable[[dict[str, Any], dict[str, str]], None]
) -> None:
    if plan.engine == "ray":
        _run_on_ray(plan, pending, on_row)
        return
    window = cores() * PREFETCH  # look this far ahead to start no more workers than items
    head = list(itertools.islice(pending, window))
    if not head:
        return  # nothing left to run: no worker started
    known = len(head) if len(head) < window else len(plan.sources) * len(plan.questions)
    workers, threads = plan_workers(plan.workers, known)
    job = dataclasses.replace(plan.job, threads=threads)
    LocalEngine(job, workers, on_row).run(itertools.chain(head, pending))


def _run_on_ray(
    plan: _Plan, pending: Iterator[Item], on_row: Callable[[dict[str, Any], dict[str, str]], None]
) -> None:
    """A cluster is joined before any input is read (an unreachable address fails fast);
    a local Ray is started only when something is left to run."""
    from sensekit.batch import ray_engine

    started = ray_engine.connect(plan.ray_address) if plan.ray_address else False
    try:
        items = list(pending)
        if not items:
            return
        started = started or ray_engine.connect(None)
        concurrency = min(len(items), plan.workers or ray_engine.cluster_cpus())
        job = dataclasses.replace(plan.job, threads=1)  # one CPU per actor
        ray_engine.run_ray(job, items, concurrency, on_row)
    finally:
        if started:
            import ray

            ray.shutdown()
