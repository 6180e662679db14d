"""Nothing lost: a run killed with SIGKILL resumes; torn lines, retries and changed files."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from batch_helpers import assert_same, rows_by_path

from sensekit import batch
from sensekit.batch.journal import Journal, identity, state
from sensekit.core.errors import SensekitError

KILLABLE = Path(__file__).with_name("killable_batch.py")
_WATCHDOG_S = 600  # only if the driver hangs: the test waits for rows, not for time


def _kill_after_rows(args: list[str], rows: int) -> tuple[int, list[psutil.Process]]:
    """Runs killable_batch.py, SIGKILLs it once ``rows`` rows are written; returns its exit
    code and its worker processes."""
    child = subprocess.Popen(
        [sys.executable, str(KILLABLE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(_WATCHDOG_S, child.kill)
    watchdog.start()
    written, workers = 0, []
    try:
        for line in child.stdout:
            written += line.strip() == "row"
            if written == rows:
                workers = psutil.Process(child.pid).children(recursive=True)
                child.send_signal(signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        child.kill()
        child.wait(timeout=60)
        stderr = child.stderr.read()
        child.stdout.close()
        child.stderr.close()
    assert written == rows, stderr[-3000:]
    return child.returncode, workers


def test_sigkilled_run_resumes_with_every_input_exactly_once(photo_folder, one_at_a_time, tmp_path):
    corpus = tmp_path / "corpus"
    for copy in range(2):  # 24 inputs: the kill lands with most of them still to run
        shutil.copytree(photo_folder, corpus / f"copy{copy}")
    out = tmp_path / "labels.jsonl"
    code, workers = _kill_after_rows(
        ["classify", str(corpus), "--out", str(out), "--workers", "2", "--top-k", "3", "--quiet"],
        rows=5,
    )
    assert code == -signal.SIGKILL
    _, alive = psutil.wait_procs(workers, timeout=60)  # orphaned workers leave by themselves
    assert not alive, alive
    before = out.read_bytes()
    kept = before.count(b"\n")
    assert 5 <= kept < 24, kept
    with open(out, "ab") as f:  # as if the kill had landed in the middle of a write
        f.write(before.splitlines(keepends=True)[-1][:40])

    summary = batch.run(
        "classify", corpus, out=out, options={"top_k": 3}, workers=2, progress=False
    )
    assert summary.notes and "torn last line" in summary.notes[0]
    assert (summary.skipped, summary.computed, summary.failed) == (kept, 24 - kept, 0)
    rows = rows_by_path(batch.read_rows(out))
    assert sorted(rows) == sorted(str(p) for p in corpus.rglob("*") if p.is_file())
    assert out.read_bytes().startswith(before)  # rows written before the kill are kept
    for path, row in rows.items():  # copyN/NAME holds the photo of photo_folder/NAME
        original = photo_folder.joinpath(*Path(path).relative_to(corpus).parts[1:])
        assert row["error"] is None
        assert_same(row["result"], one_at_a_time("classify", str(original), top_k=3))


def _row(path, sha, error=None, top_k=3):
    return {
        "path": path,
        "sha256": sha,
        "task": "classify",
        "model": "m",
        "options": {"top_k": top_k},
        "result": None if error else [1],
        "error": error,
        "seconds": 0.1,
    }


def test_journal_cuts_torn_lines_and_keeps_the_last_row_of_each_input(tmp_path):
    out = tmp_path / "r.jsonl"
    lines = [
        _row("/a", "1", error="bad"),
        _row("/b", "2"),
        _row("/a", "1"),
        _row("/c", "3", top_k=5),
    ]
    out.write_text("".join(json.dumps(r) + "\n" for r in lines) + "not json\n" + '{"path": "/')
    with Journal.open(out) as journal:
        assert journal.status(identity(_row("/a", "1")), "1") == "ok"
        assert journal.status(identity(_row("/a", "1")), "changed") is None
        assert journal.status(identity(_row("/c", "3")), "3") is None  # other options
        assert journal.status(identity(_row("/c", "3", top_k=5)), "3") == "ok"
        assert len(journal.notes) == 2
        journal.append(_row("/b", "2b"))  # the file changed: the new row supersedes
        assert journal.status(identity(_row("/b", "2")), "2b") == "ok"
        assert (tmp_path / "r.jsonl.lock").exists()
    assert not (tmp_path / "r.jsonl.lock").exists()
    rows = list(batch.read_rows(out))
    assert rows == [_row("/a", "1"), _row("/c", "3", top_k=5), _row("/b", "2b")]
    assert out.read_text().endswith("\n")


def test_one_writer_at_a_time(tmp_path):
    out = tmp_path / "r.jsonl"
    with Journal.open(out) as journal:
        with pytest.raises(SensekitError, match=r"Another sensekit batch run is writing r\.jsonl"):
            Journal.open(out)
        journal.append(_row("/a", "1"))
    with Journal.open(out) as journal:  # released on closing
        assert journal.status(identity(_row("/a", "1")), "1") == "ok"


def test_state_tells_content_and_outcome_apart():
    assert len({state("a", True), state("a", False), state("b", True), state(None, False)}) == 4


def test_retry_failed_and_changed_files(media, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copyfile(media("coffee.png"), photos / "coffee.png")
    (photos / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    out = tmp_path / "r.jsonl"

    def run(**kwargs):
        summary = batch.run("classify", photos, out=out, workers=1, progress=False, **kwargs)
        return summary.computed, summary.failed, summary.skipped

    assert run() == (2, 1, 0)
    assert run() == (0, 0, 2)  # failures wait for retry_failed
    assert run(retry_failed=True) == (1, 1, 1)  # still broken: its row is replaced
    assert len(out.read_text().splitlines()) == 2
    shutil.copyfile(media("chelsea.png"), photos / "cat.png")  # new content: run again
    shutil.copyfile(media("astronaut.png"), photos / "coffee.png")
    assert run() == (2, 0, 0)
    rows = rows_by_path(batch.read_rows(out))  # one row per input: superseded rows dropped
    assert len(rows) == 2 and all(r["error"] is None for r in rows.values())
    assert rows[str(photos / "coffee.png")]["result"][0]["label"] != "espresso"
    assert rows[str(photos / "cat.png")]["result"][0]["label"] in (
        "tiger cat",
        "tabby, tabby cat",
        "Egyptian cat",
    )
