"""The served tasks, loaded once, and the bounded pool of threads that runs them.

The event loop only parses requests and writes answers; every task call runs on one of
``workers`` threads. At most ``workers + queue`` requests are admitted at once (running,
waiting for a thread, or still uploading); the next one is answered 503 with a
Retry-After estimated from recent durations. A slot is given back when the task's thread
finishes, not when the client is answered, so requests that timed out (504) still count
until their work is done: Python threads cannot be interrupted, and the bound must hold
for real work.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sensekit.core.tasks import TaskSpec, task, to_jsonable
from sensekit.serve.config import ServeConfig
from sensekit.serve.errors import ApiError, from_exception, server_error
from sensekit.serve.inputs import Call

# Tasks that can answer incrementally (?stream=true): task -> method yielding results
# with ``to_dict()`` as they are ready (Transcriber.segments yields each window's
# final segments as soon as it is decoded).
STREAMING = {"transcribe": "segments"}
_RECENT = 32  # durations kept for the Retry-After estimate


class Slot:
    """One admitted request; given back once, by the request or by its task's thread."""

    def __init__(self, pool: TaskPool) -> None:
        self._pool = pool
        self._held = True
        self.deferred = False  # the task's completion gives it back, not the request

    def release(self) -> None:
        if self._held:
            self._held = False
            self._pool.admitted -= 1

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.deferred:
            self.release()


class TaskPool:
    """Shared task objects and the worker threads; use from the event loop only."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.specs: dict[str, TaskSpec] = {name: task(name) for name in config.models}
        self.tasks: dict[str, Any] = {}
        self.admitted = 0
        self._durations: deque[float] = deque(maxlen=_RECENT)
        self._durations_lock = threading.Lock()  # worker threads append, the loop reads
        self._executor = ThreadPoolExecutor(config.workers, thread_name_prefix="sensekit-task")

    def load(self, log: Callable[[str], None] = print) -> None:
        """Creates every served task once; tasks of one class and model share an object
        (identify and classify-sound are one SoundClassifier)."""
        shared: dict[tuple[str, str, str], Any] = {}
        for name, spec in self.specs.items():
            model = self.config.models[name]
            key = (spec.runner, spec.options, model)
            if key not in shared:
                start = time.perf_counter()
                shared[key] = spec.create(model)
                log(f"loaded {name}: {model} ({time.perf_counter() - start:.1f} s)")
            self.tasks[name] = shared[key]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- admission --------------------------------------------------------------------
    def admit(self) -> Slot:
        """A slot for one request, or 503 with Retry-After when all are taken."""
        if self.admitted >= self.config.capacity:
            raise ApiError(
                503,
                f"the server is busy ({self.admitted} requests in progress, "
                f"--workers {self.config.workers} --queue "
                f"{self.config.queue}); retry later",
                headers={"Retry-After": str(self.retry_after())},
            )
        self.admitted += 1
        return Slot(self)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the waiting work spread over the workers."""
        with self._durations_lock:
            recent = sorted(self._durations)
        typical = recent[len(recent) // 2] if recent else 1.0
        waiting = max(1, self.admitted - self.config.workers + 1)
        return max(1, min(120, math.ceil(typical * waiting / self.config.workers)))

    def _hand_over(self, slot: Slot, future: asyncio.Future) -> None:
        slot.deferred = True
        future.add_done_callback(lambda done: (slot.release(), _retrieve(done)))

    # -- running ----------------------------------------------------------------------
    async def run(self, name: str, call: Call, slot: Slot) -> Any:
        """The task's JSON-ready result; 504 past the timeout (the work goes on, holding
        its slot, until it finishes)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._work, name, call)
        self._hand_over(slot, future)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.config.timeout)
        except TimeoutError:
            raise server_error(
                504,
                f"/v1/{name} took longer than {self.config.timeout:g} s (sensekit serve --timeout)",
                name,
            ) from None

    def _work(self, name: str, call: Call) -> Any:
        start = time.perf_counter()
        try:
            spec = self.specs[name]
            return to_jsonable(spec.run(self.tasks[name], *call.inputs, **call.options))
        finally:
            self._record(time.perf_counter() - start)

    def _record(self, seconds: float) -> None:
        with self._durations_lock:
            self._durations.append(seconds)

    async def stream(self, name: str, call: Call, slot: Slot) -> AsyncIterator[dict[str, Any]]:
        """NDJSON records of a streaming task: ``{"type": "segment", "segment": ...}`` as
        each is decoded, then ``{"type": "done", "text": ...}``.

        The first record is ready when this returns, so that a bad input still answers
        4xx before any 200 is sent. A client that goes away stops the work after the
        current window; so does the timeout (an ``{"type": "error"}`` record).
        """
        loop = asyncio.get_running_loop()
        records: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def emit(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(records.put_nowait, (kind, value))

        future = loop.run_in_executor(self._executor, self._produce, name, call, stop, emit)
        self._hand_over(slot, future)
        deadline = loop.time() + self.config.timeout
        first = await self._next(records, deadline, name, stop)
        if first[0] == "error":
            stop.set()
            raise from_exception(first[1], name)
        return self._records(first, records, deadline, name, stop)

    def _produce(
        self, name: str, call: Call, stop: threading.Event, emit: Callable[[str, Any], None]
    ) -> None:
        start = time.perf_counter()
        try:
            method = getattr(self.tasks[name], STREAMING[name])
            texts = []
            for item in method(*call.inputs, **call.options):
                if stop.is_set():
                    return
                texts.append(item.text)
                emit("segment", item.to_dict())
            emit("done", "".join(texts).strip())
        except BaseException as e:  # reported to the client as a record or a 4xx/5xx
            emit("error", e)
        finally:
            self._record(time.perf_counter() - start)

    async def _next(
        self, records: asyncio.Queue, deadline: float, name: str, stop: threading.Event
    ) -> tuple[str, Any]:
        try:
            return await asyncio.wait_for(
                records.get(), max(0.0, deadline - asyncio.get_running_loop().time())
            )
        except TimeoutError:
            stop.set()
            return "error", server_error(
                504, f"/v1/{name} took longer than {self.config.timeout:g} s", name
            )

    async def _records(
        self,
        first: tuple[str, Any],
        records: asyncio.Queue,
        deadline: float,
        name: str,
        stop: threading.Event,
    ) -> AsyncIterator[dict[str, Any]]:
        kind, value = first
        try:
            while True:
                if kind == "segment":
                    yield {"type": "segment", "segment": value}
                elif kind == "done":
                    yield {"type": "done", "text": value}
                    return
                else:
                    yield {"type": "error", **from_exception(value, name).body()}
                    return
                kind, value = await self._next(records, deadline, name, stop)
        finally:
            stop.set()  # done, failed, timed out or the client left: stop decoding


def _retrieve(future: asyncio.Future) -> None:
    """Marks a finished future's exception as seen (it was answered or logged already)."""
    if not future.cancelled():
        future.exception()
