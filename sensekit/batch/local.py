"""The local engine: worker processes on this machine, each loading the model once.

The driver hands each worker at most ``PREFETCH`` items and reads inputs only as workers
free up, so memory stays flat on any corpus size. Only the driver writes results. A worker
that dies (a native crash on a hostile file, the OOM killer) costs one error row for the
item it was running; a new worker takes over the rest. Workers exit by themselves when the
driver goes away, even when it is killed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from sensekit.batch.runner import Item, Job, Runner, describe_error, make_row
from sensekit.core.errors import SensekitError

PREFETCH = 2  # items per worker: one running, one waiting, so no worker idles on the driver
# Workers that may die while loading the model (the OOM killer, say) while others run:
# beyond this, or when none has loaded it, the model cannot be run here and the run stops.
MAX_LOAD_DEATHS = 3
OnRow = Callable[[dict[str, Any], dict[str, str]], None]


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def plan_workers(workers: int | None, items: int) -> tuple[int, int]:
    """(worker processes, ONNX Runtime threads each) for ``items`` items to run.

    By default one single-threaded worker per core: on CPUs, whole items in parallel
    scale better than threads inside one graph. Never more workers than items; with
    fewer workers than cores, each gets a share of the cores as threads.
    """
    available = cores()
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise SensekitError(f"workers must be a positive int, not {workers!r}")
    workers = max(1, min(workers or available, items))
    return workers, max(1, available // workers)


def _worker_main(conn: Connection, job: Job) -> None:
    """A worker process: build the task, then run items until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    try:
        runner = Runner(job)
    except Exception as e:
        conn.send(("fatal", describe_error(e)))
        return
    conn.send(("ready",))
    while True:
        try:
            item = conn.recv()
            if item is None:
                return
            conn.send(("row", *runner(item)))
        except (EOFError, OSError):  # the driver is gone
            return


@contextlib.contextmanager
def _main_left_out() -> Iterator[None]:
    """Starts workers without re-running the caller's main module in them.

    A spawned process normally imports ``__main__`` again, so a plain script that calls
    ``sensekit.batch.run`` at top level (no ``if __name__ == "__main__":``) would start the
    whole run again in every worker, which multiprocessing refuses. Workers need only
    sensekit (their target and the job are sensekit objects), so the main module's file
    and spec are hidden while a worker starts.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
    for key in saved:
        delattr(main, key)
    main.__spec__ = None
    try:
        yield
    finally:
        if "__spec__" not in saved:
            del main.__spec__
        for key, value in saved.items():
            setattr(main, key, value)


@dataclass
class _Worker:
    process: Any
    conn: Connection
    inflight: deque[Item] = field(default_factory=deque)
    ready: bool = False


class LocalEngine:
    """Runs items on ``workers`` processes, calling ``on_row`` in the driver per result."""

    def __init__(self, job: Job, workers: int, on_row: OnRow) -> None:
        self.job, self.on_row = job, on_row
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded driver
        self._pool = [self._start() for _ in range(workers)]
        self._load_deaths = 0

    def run(self, items: Iterator[Item]) -> None:
        """Runs every item; returns when all rows are written.

        Raises:
            SensekitError: a worker could not load the model.
        """
        try:
            for worker in self._pool:
                self._feed(worker, items)
            while any(w.inflight for w in self._pool):
                busy = {
                    h: w for w in self._pool if w.inflight for h in (w.conn, w.process.sentinel)
                }
                for handle in wait(list(busy)):
                    self._service(busy[handle], items)
        except BaseException:  # Ctrl-C or a fatal error: what is written stays written
            self._stop(graceful=False)
            raise
        self._stop(graceful=True)

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self.job), daemon=True, name="sensekit-batch-worker"
        )
        with _main_left_out():
            process.start()
        child.close()  # so the driver sees EOF when the worker dies
        return _Worker(process, parent)

    def _feed(self, worker: _Worker, items: Iterator[Item]) -> None:
        while len(worker.inflight) < PREFETCH:
            item = next(items, None)
            if item is None:
                return
            worker.conn.send(item)
            worker.inflight.append(item)

    def _service(self, worker: _Worker, items: Iterator[Item]) -> None:
        """Reads what a worker sent; replaces it if it died."""
        if worker not in self._pool:
            return  # replaced earlier in this round
        try:
            while worker.conn.poll():
                self._receive(worker, worker.conn.recv())
        except (EOFError, OSError):
            pass
        if worker.process.is_alive():
            self._feed(worker, items)
        else:
            self._replace(worker, items)

    def _receive(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "fatal":
            raise SensekitError(
                f"A batch worker could not start {self.job.task} with "
                f"{self.job.model}: {message[1]}"
            )
        if kind == "ready":
            worker.ready = True
            return
        worker.inflight.popleft()
        self.on_row(message[1], message[2])

    def _replace(self, worker: _Worker, items: Iterator[Item]) -> None:
        worker.process.join()
        code = worker.process.exitcode
        if not worker.ready:  # its items never ran: all go to the successor
            self._load_deaths += 1
            if self._load_deaths > MAX_LOAD_DEATHS or not any(w.ready for w in self._pool):
                raise SensekitError(
                    f"A batch worker exited (code {code}) while loading {self.job.model}"
                )
        elif worker.inflight:  # the first item sent is the one it was running
            culprit = worker.inflight.popleft()
            self.on_row(
                make_row(
                    self.job,
                    culprit,
                    error=f"the worker process died (exit code {code}) while running this input",
                ),
                {},
            )
        successor = self._start()
        self._pool[self._pool.index(worker)] = successor
        for item in worker.inflight:
            successor.conn.send(item)
        successor.inflight = worker.inflight
        self._feed(successor, items)

    def _stop(self, graceful: bool) -> None:
        for worker in self._pool:
            if graceful:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                worker.process.terminate()
        for worker in self._pool:
            worker.process.join(timeout=30)  # idle workers leave at once; a stuck one is ended
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
