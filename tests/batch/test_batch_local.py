"""The local engine on real media: the same results as the task one file at a time."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
from batch_helpers import assert_same, rows_by_path

from sensekit import batch
from sensekit.speech import formats


def test_local_engine_gives_the_one_file_results_and_parquet(photo_folder, one_at_a_time, tmp_path):
    out = tmp_path / "labels.parquet"
    summary = batch.run(
        "classify", photo_folder, out=out, options={"top_k": 3}, workers=2, progress=False
    )
    assert (summary.total, summary.computed, summary.failed, summary.skipped) == (12, 12, 0, 0)
    rows = rows_by_path(batch.read_rows(tmp_path / "labels.jsonl"))
    assert sorted(rows) == sorted(str(p) for p in photo_folder.rglob("*") if p.is_file())
    for path, row in rows.items():
        assert row["error"] is None and row["task"] == "classify"
        assert row["model"] == "efficientnet-lite0" and row["options"]["top_k"] == 3
        assert_same(row["result"], one_at_a_time("classify", path, top_k=3))
    assert rows[str(photo_folder / "chelsea.png")]["result"][0]["label"] in (
        "tiger cat",
        "tabby, tabby cat",
        "Egyptian cat",
    )
    assert (
        rows[str(photo_folder / "more" / "dog.jpg")]["sha256"]
        == rows[str(photo_folder / "dog.jpg")]["sha256"]
    )
    table = pq.read_table(out).to_pylist()
    assert len(table) == 12
    for record in table:
        row = rows[record["path"]]
        assert json.loads(record["result"]) == row["result"]
        assert json.loads(record["options"]) == row["options"]
        assert (record["sha256"], record["error"], record["question"]) == (
            row["sha256"],
            None,
            None,
        )


def test_transcripts_with_subtitle_side_files(sound_folder, one_at_a_time, tmp_path):
    speech = tmp_path / "speech"
    speech.mkdir()
    for name in ("jfk.wav", "Front_Center.wav"):
        shutil.copyfile(sound_folder / name, speech / name)
    out = tmp_path / "talks.jsonl"
    summary = batch.run(
        "transcribe",
        speech,
        out=out,
        subtitles=("srt", "vtt"),
        workers=2,
        options={"beam_size": 1},
        progress=False,
    )
    assert (summary.computed, summary.failed) == (2, 0)
    rows = rows_by_path(batch.read_rows(out))
    assert "ask not what your country" in rows[str(speech / "jfk.wav")]["result"]["text"]
    from sensekit.core.tasks import task

    transcriber = task("transcribe").create(beam_size=1)
    for name in ("jfk.wav", "Front_Center.wav"):
        transcript = transcriber.transcribe(str(speech / name))
        assert_same(rows[str(speech / name)]["result"], transcript.to_dict())
        stem = name.rsplit(".", 1)[0]
        assert (tmp_path / "talks-subtitles" / f"{stem}.srt").read_text() == formats.to_srt(
            transcript
        )
        assert (tmp_path / "talks-subtitles" / f"{stem}.vtt").read_text() == formats.to_vtt(
            transcript
        )


DOCUMENTS = {
    "skimage.txt": "scikit-image is a collection of algorithms for image processing in "
    "Python. It is available free of charge and free of restriction. The "
    "project was started in 2009 by Stefan van der Walt.",
    "whisper.txt": "Whisper is a speech recognition model released by OpenAI in September "
    "2022. It was trained on 680,000 hours of multilingual audio collected "
    "from the web.",
}


def test_answer_asks_every_question_of_every_document(one_at_a_time, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCUMENTS.items():
        (docs / name).write_text(text)
    questions = tmp_path / "questions.txt"
    questions.write_text("When was the project started?\n\nWho released it?\n")
    out = tmp_path / "answers.jsonl"
    summary = batch.run("answer", docs, out=out, questions=questions, workers=1, progress=False)
    assert (summary.total, summary.computed, summary.failed) == (4, 4, 0)
    rows = list(batch.read_rows(out))
    assert sorted((r["path"], r["question"]) for r in rows) == sorted(
        (str(docs / d), q)
        for d in DOCUMENTS
        for q in ("When was the project started?", "Who released it?")
    )
    for row in rows:
        text = DOCUMENTS[row["path"].rsplit("/", 1)[-1]]
        assert_same(row["result"], one_at_a_time("answer", row["question"], text))
    started = next(
        r for r in rows if r["path"].endswith("skimage.txt") and r["question"].startswith("When")
    )
    assert started["result"]["text"] == "2009"  # top_k 1: one answer (None: no answer)


def test_embed_reads_text_files(one_at_a_time, tmp_path):
    for name, text in DOCUMENTS.items():
        (tmp_path / name).write_text(text)
    listing = tmp_path / "texts.csv"
    listing.write_text("path,source\nskimage.txt,docs\nwhisper.txt,docs\n")
    out = tmp_path / "vectors.jsonl"
    summary = batch.run("embed", listing, out=out, workers=1, progress=False)
    assert (summary.computed, summary.failed) == (2, 0)
    for row in batch.read_rows(out):
        assert_same(
            row["result"], one_at_a_time("embed", DOCUMENTS[row["path"].rsplit("/", 1)[-1]])
        )
        (vector,) = row["result"]  # one text: a [1, 384] matrix
        assert len(vector) == 384 and abs(sum(v * v for v in vector) - 1.0) < 1e-3


def test_default_workers_and_threads_follow_the_cores(monkeypatch):
    from sensekit.batch import local

    monkeypatch.setattr(local, "cores", lambda: 4)
    assert local.plan_workers(None, 100) == (4, 1)
    assert local.plan_workers(None, 3) == (3, 1)
    assert local.plan_workers(2, 100) == (2, 2)
    assert local.plan_workers(1, 100) == (1, 4)
    assert local.plan_workers(8, 1) == (1, 4)  # no idle worker loading a model


def test_a_plain_script_without_a_main_guard_runs(photo_folder, tmp_path):
    """A user's script calling batch.run at top level: spawned workers must not run the
    script again (multiprocessing refused to start them before)."""
    import subprocess
    import sys

    script = tmp_path / "label_photos.py"
    script.write_text(
        "from sensekit import batch\n"
        f"summary = batch.run('classify', [{str(photo_folder / 'dog.jpg')!r}, "
        f"{str(photo_folder / 'chelsea.png')!r}], out={str(tmp_path / 'out.jsonl')!r}, "
        "workers=2, progress=False)\n"
        "print('RAN', summary.computed)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("RAN") == 1 and "RAN 2" in done.stdout  # the script ran once
    assert len(list(batch.read_rows(tmp_path / "out.jsonl"))) == 2
