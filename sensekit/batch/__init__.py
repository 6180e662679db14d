"""Corpus runs of any task of the task table, resumable, on this machine or a Ray cluster.

``sensekit.batch.run("classify", "photos/", out="labels.parquet")`` or
``sensekit batch classify photos/ --out labels.parquet``: one row per input (path, content
hash, task, model, options, result, error, seconds), appended to JSON Lines as each item
finishes. Running the same command again skips what is done, so a killed run loses
nothing; ``retry_failed`` runs the failed inputs again. Engines: ``"local"`` (worker
processes, no extra dependency) and ``"ray"`` (Ray Data, ``pip install 'sensekit[ray]'``).
"""

from __future__ import annotations

from sensekit.batch.driver import BatchSummary, run
from sensekit.batch.journal import read_rows

__all__ = ["BatchSummary", "read_rows", "run"]
