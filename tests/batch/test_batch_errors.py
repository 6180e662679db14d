"""Bad items become error rows; bad arguments are clear errors before any work."""

from __future__ import annotations

import shutil

import pytest
from batch_helpers import rows_by_path

from sensekit import batch
from sensekit.batch import driver
from sensekit.core.errors import InvalidInput, ModelNotFound, SensekitError


def test_corrupt_and_missing_inputs_become_error_rows(media, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copyfile(media("dog.jpg"), photos / "dog.jpg")
    (photos / "truncated.jpg").write_bytes(media("rocket.jpg").read_bytes()[:3000])
    (photos / "notes.png").write_text("a text file named like a photo")
    (photos / "empty.jpg").write_bytes(b"")
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"# a list of inputs\n{photos}\ngone.jpg\n")
    out = tmp_path / "r.jsonl"
    summary = batch.run("classify", listing, out=out, workers=2, progress=False)
    assert (summary.total, summary.computed, summary.failed) == (5, 5, 4)
    rows = rows_by_path(batch.read_rows(out))
    assert rows[str(photos / "dog.jpg")]["error"] is None
    assert rows[str(photos / "dog.jpg")]["result"][0]["label"]
    for name in ("truncated.jpg", "notes.png", "empty.jpg"):
        row = rows[str(photos / name)]
        assert row["result"] is None and "image" in row["error"], row["error"]
        assert len(row["sha256"]) == 64
    gone = rows[str(tmp_path / "gone.jpg")]
    assert gone["error"] == f"Input file not found: {tmp_path / 'gone.jpg'}"
    assert gone["sha256"] is None and gone["result"] is None


def test_corrupt_audio_becomes_an_error_row(media, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copyfile(media("bell.oga"), clips / "bell.oga")
    (clips / "noise.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    out = tmp_path / "r.jsonl"
    summary = batch.run("identify", clips, out=out, workers=1, progress=False)
    assert (summary.computed, summary.failed) == (2, 1)
    rows = rows_by_path(batch.read_rows(out))
    assert rows[str(clips / "bell.oga")]["error"] is None
    assert rows[str(clips / "noise.wav")]["error"]


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if an input is read or a worker started."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(driver, "sha256_of", forbidden)
    monkeypatch.setattr(driver, "LocalEngine", forbidden)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"task": "clasify"}, InvalidInput, "Unknown task 'clasify'; tasks: classify"),
        ({"options": {"topk": 3}}, InvalidInput, r"Unknown option\(s\) \['topk'\]"),
        ({"options": {"top_k": 0}}, InvalidInput, "top_k must be a positive int"),
        ({"model": "no-such-model"}, ModelNotFound, "No model named 'no-such-model'"),
        ({"engine": "spark"}, InvalidInput, "Unknown engine 'spark'"),
        ({"workers": 0}, InvalidInput, "workers must be a positive int"),
        ({"subtitles": ("srt",)}, InvalidInput, "Subtitles are written for transcripts"),
        ({"questions": "q.txt"}, InvalidInput, "classify takes no questions"),
        ({"task": "answer"}, InvalidInput, "answer needs a questions file"),
        ({"task": "answer", "questions": "missing.txt"}, InvalidInput, "Cannot read the questions"),
    ],
)
def test_bad_arguments_fail_before_work(kwargs, error, message, photo_folder, tmp_path, no_work):
    arguments = {"task": "classify", "out": tmp_path / "r.jsonl", **kwargs}
    with pytest.raises(error, match=message):
        batch.run(arguments.pop("task"), photo_folder, progress=False, **arguments)
    assert not (tmp_path / "r.jsonl").exists()


def test_unwritable_results_fail_before_work(photo_folder, tmp_path, no_work):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SensekitError, match=r"Cannot write results to .*a-file/r\.jsonl"):
        batch.run("classify", photo_folder, out=blocker / "r.jsonl", progress=False)
    with pytest.raises(SensekitError, match="it is a folder"):
        batch.run("classify", photo_folder, out=tmp_path, progress=False)


def test_unreachable_ray_cluster_fails_before_work(photo_folder, tmp_path, no_work):
    import socket

    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(
        SensekitError,
        match=f"Cannot reach Ray at {address}: Connection refused; start the head with `ray start",
    ):
        batch.run(
            "classify",
            photo_folder,
            out=tmp_path / "r.jsonl",
            engine="ray",
            ray_address=address,
            progress=False,
        )
    assert not (tmp_path / "r.jsonl").exists()


def test_cli_reports_errors_without_a_traceback(photo_folder, tmp_path, capsys, monkeypatch):
    from sensekit.cli import main

    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["batch", "classify", str(photo_folder), "--out", str(blocker / "r.jsonl")]) == 2
    assert capsys.readouterr().err == (
        f"sensekit: error: Cannot write results to "
        f"{blocker / 'r.jsonl'}: {blocker} is a file, not a "
        f"folder\n"
    )
    for args, expected in (
        (["clasify"], "invalid choice: 'clasify'"),
        (["answer"], "the following arguments are required: --questions"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["batch", *args, str(photo_folder), "--out", "r.jsonl"])
        assert exit_.value.code == 2 and expected in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_cli_maps_flags_to_the_run(monkeypatch):
    from sensekit.cli import build_parser

    seen = {}

    def fake_run(task, inputs, **kwargs):
        seen.update(task=task, inputs=inputs, **kwargs)
        return batch.BatchSummary("r.jsonl", None, 1, 1, 0, 0, 0.1)

    monkeypatch.setattr(batch, "run", fake_run)
    args = build_parser().parse_args(
        [
            "batch",
            "transcribe",
            "talks/",
            "more.csv",
            "--out",
            "r.jsonl",
            "--workers",
            "3",
            "--ray=auto",
            "--include",
            "*.wav",
            "--exclude",
            "raw/*",
            "--retry-failed",
            "--srt",
            "--beam-size",
            "2",
            "--temperature",
            "0.0",
            "0.4",
            "--no-vad",
            "--quiet",
        ]
    )
    assert args.func(args) == 0
    assert seen == {
        "task": "transcribe",
        "inputs": ["talks/", "more.csv"],
        "out": "r.jsonl",
        "model": None,
        "options": {"beam_size": 2, "temperature": (0.0, 0.4), "vad": False},
        "workers": 3,
        "engine": "ray",
        "ray_address": "auto",
        "include": ["*.wav"],
        "exclude": ["raw/*"],
        "retry_failed": True,
        "questions": None,
        "subtitles": ["srt"],
        "progress": False,
    }
    args = build_parser().parse_args(["batch", "classify", "p", "--out", "r.jsonl", "--ray"])
    args.func(args)
    assert (seen["engine"], seen["ray_address"], seen["options"]) == ("ray", None, {})


def test_a_worker_killed_mid_item_costs_one_error_row(photo_folder, tmp_path, monkeypatch):
    """A native crash (here SIGKILL) in a worker: its item becomes an error row, a new
    worker runs the rest, and --retry-failed runs the item again."""
    import signal

    import psutil

    from sensekit.batch.journal import Journal

    append, killed = Journal.append, []

    def append_then_kill_the_worker(self, row):
        append(self, row)
        if not killed:  # after its first row the worker holds the next item
            (worker,) = [
                p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())
            ]
            worker.send_signal(signal.SIGKILL)
            killed.append(worker.pid)

    monkeypatch.setattr(Journal, "append", append_then_kill_the_worker)
    out = tmp_path / "r.jsonl"
    summary = batch.run("classify", photo_folder, out=out, workers=1, progress=False)
    assert (summary.computed, summary.failed) == (12, 1)
    rows = rows_by_path(batch.read_rows(out))
    (failed,) = [r for r in rows.values() if r["error"]]
    assert failed["error"] == "the worker process died (exit code -9) while running this input"
    monkeypatch.undo()
    retried = batch.run(
        "classify", photo_folder, out=out, workers=2, retry_failed=True, progress=False
    )
    assert (retried.computed, retried.failed, retried.skipped) == (1, 0, 11)
    assert len(rows_by_path(batch.read_rows(out))) == 12


def test_every_task_of_the_table_is_a_batch_verb(monkeypatch):
    """A task added to the table (dice, when its model is trained) is a batch verb with
    its options as flags, with no change to batch."""
    import dataclasses

    from sensekit.cli import build_parser
    from sensekit.core.tasks import TASKS

    monkeypatch.setitem(TASKS, "dice", dataclasses.replace(TASKS["detect"], name="dice"))
    batch_parser = build_parser()._subparsers._group_actions[0].choices["batch"]
    verbs = batch_parser._subparsers._group_actions[0].choices
    assert set(verbs) == set(TASKS)
    args = build_parser().parse_args(
        ["batch", "dice", "rolls/", "--out", "r.jsonl", "--score-threshold", "0.5"]
    )
    assert (args.spec.name, args.option_score_threshold) == ("dice", 0.5)
