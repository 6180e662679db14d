"""What a batch run writes besides its JSON Lines: a Parquet copy and subtitle side files.

Parquet has one schema for every task: the ``options`` and ``result`` columns hold JSON
text (results differ by task, and a results file may hold several tasks), read back with
``json.loads``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sensekit.batch.journal import read_rows
from sensekit.core.errors import SensekitError

PARQUET_ROWS = 10_000  # rows converted at a time: flat memory for any results size
COLUMNS = ("path", "sha256", "task", "model", "options", "question", "result", "error", "seconds")


def require_pyarrow() -> None:
    """Raises a clear error when Parquet output is asked for without pyarrow."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as e:
        raise SensekitError(
            "Parquet results need pyarrow: pip install 'sensekit[parquet]' (or write .jsonl)"
        ) from e


def _schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([(name, text) for name in COLUMNS[:-1]] + [("seconds", pa.float64())])


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    def as_json(value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    return {
        "path": [r["path"] for r in rows],
        "sha256": [r["sha256"] for r in rows],
        "task": [r["task"] for r in rows],
        "model": [r["model"] for r in rows],
        "options": [as_json(r["options"]) for r in rows],
        "question": [r.get("question") for r in rows],
        "result": [as_json(r.get("result")) for r in rows],
        "error": [r["error"] for r in rows],
        "seconds": [float(r.get("seconds") or 0.0) for r in rows],
    }


def write_parquet(journal: str | os.PathLike[str], out: str | os.PathLike[str]) -> int:
    """Writes every row of a results file to Parquet (via a temporary file); returns the
    number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    temporary = out.with_name(out.name + ".tmp")
    schema, count, chunk = _schema(), 0, []
    with pq.ParquetWriter(temporary, schema) as writer:
        for row in read_rows(journal):
            chunk.append(row)
            if len(chunk) == PARQUET_ROWS:
                writer.write_table(pa.Table.from_pydict(_columns(chunk), schema=schema))
                count, chunk = count + len(chunk), []
        if chunk or not count:
            writer.write_table(pa.Table.from_pydict(_columns(chunk), schema=schema))
            count += len(chunk)
    os.replace(temporary, out)
    return count


def side_file(folder: Path, name: str, fmt: str) -> Path:
    """Where the ``fmt`` side file of an input found under ``name`` goes."""
    return folder / Path(name).with_suffix(f".{fmt}")


def write_side_files(folder: Path, name: str, files: dict[str, str]) -> None:
    """Writes an item's side files (atomically: a killed run leaves none half-written)."""
    for fmt, text in files.items():
        target = side_file(folder, name, fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
