"""The Ray engine: Ray Data actors on a local Ray or an existing cluster.

Each actor holds one :class:`~sensekit.batch.runner.Runner` (the model loaded once per
actor; a model missing from a node's cache is built there once, under the registry's
build lock), and ``map_batches`` streams the items through a fixed pool of
``concurrency`` single-CPU actors. The driver writes each row as it arrives, so results
are the same rows as the local engine's and a killed run resumes the same way. Input
paths must be readable at the same path on every node (a shared or synchronized folder).
The driver hashes every input (to skip those done) before the dataset is made: Ray Data
takes a list, not a lazy stream.

``pip install 'sensekit[ray]'``; start a cluster with ``ray start --head`` on one machine
and ``ray start --address=HEAD:6379`` on the others.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import socket
from collections.abc import Callable
from typing import Any

from sensekit.batch.runner import Item, Job, Runner
from sensekit.core.errors import SensekitError

ITEMS_PER_BLOCK = 4  # items per Ray Data block on big runs: rows stream back in small groups
PROBE_S = 10.0  # seconds to wait for a cluster's address to answer before giving up
OnRow = Callable[[dict[str, Any], dict[str, str]], None]


def require_ray() -> Any:
    """The ``ray`` module, or a clear error saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise SensekitError("The Ray engine needs Ray Data: pip install 'sensekit[ray]'") from e
    return ray


class RayRunner:
    """The callable class of ``map_batches``: one per actor, holding the model."""

    def __init__(self, job: Job) -> None:
        self._runner = Runner(job)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        payloads = []
        for encoded in batch["item"]:
            row, side_files = self._runner(Item(**json.loads(str(encoded))))
            payloads.append(json.dumps({"row": row, "side_files": side_files}, ensure_ascii=False))
        return {"payload": payloads}


def connect(address: str | None) -> bool:
    """Joins the Ray of ``address`` (None: a running local Ray, else a new one); True if
    this call started or joined it (and so should shut it down).

    Raises:
        SensekitError: nothing answers at ``address``.
    """
    ray = require_ray()
    if address:
        _probe(address)
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=True,
        )
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise SensekitError(f"Cannot reach Ray at {address or 'a local Ray'}: {e}") from e
    return True


def _probe(address: str) -> None:
    """Fails fast when nothing listens at a ``HOST:PORT`` address: ``ray.init`` would wait
    for it without end."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # "auto", "ray://...": Ray resolves those itself
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_S).close()
    except OSError as e:
        raise SensekitError(
            f"Cannot reach Ray at {address}: {e.strerror or e}; start the "
            f"head with `ray start --head --port={port}`"
        ) from e


def cluster_cpus() -> int:
    ray = require_ray()
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_ray(job: Job, items: list[Item], concurrency: int, on_row: OnRow) -> None:
    """Runs ``items`` on ``concurrency`` single-CPU actors; ``on_row`` per result."""
    ray = require_ray()
    blocks = min(len(items), max(4 * concurrency, math.ceil(len(items) / ITEMS_PER_BLOCK)))
    encoded = [{"item": json.dumps(dataclasses.asdict(item), ensure_ascii=False)} for item in items]
    dataset = ray.data.from_items(encoded, override_num_blocks=blocks)
    # A fixed pool of ``concurrency`` actors (map_batches' ``concurrency=N``, which Ray 2.51
    # deprecated for this ``compute=`` form).
    pool = ray.data.ActorPoolStrategy(size=concurrency)
    results = dataset.map_batches(
        RayRunner, fn_constructor_kwargs={"job": job}, batch_size=1, compute=pool, num_cpus=1
    )
    # The driver's bar says how far the run is; Ray Data's own bars and notes would print
    # beside it (its full logs stay in the Ray session folder).
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    data_logger = logging.getLogger("ray.data")
    level = data_logger.level
    data_logger.setLevel(logging.ERROR)
    try:
        for row in results.iter_rows():
            payload = json.loads(row["payload"])
            on_row(payload["row"], payload["side_files"])
    except ray.exceptions.RayError as e:
        raise SensekitError(f"The Ray run failed: {e}") from e
    finally:
        data_logger.setLevel(level)
