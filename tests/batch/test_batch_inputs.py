"""Inputs: folders with globs, lists of paths, text files for text tasks."""

from __future__ import annotations

import hashlib
import os

import pytest

from sensekit.batch.inputs import list_sources, read_questions, selected, sha256_of
from sensekit.core.errors import InvalidInput


@pytest.fixture
def tree(tmp_path):
    for name in (
        "a.jpg",
        "b.PNG",
        "notes.txt",
        ".hidden.jpg",
        "raw/c.jpg",
        "raw/deep/d.jpg",
        ".cache/e.jpg",
        "keep/f.wav",
    ):
        path = tmp_path / "corpus" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    return tmp_path / "corpus"


def names(sources):
    return [s.name for s in sources]


def test_folders_are_walked_in_order_without_hidden_files(tree):
    assert names(list_sources([tree])) == [
        "a.jpg",
        "b.PNG",
        "notes.txt",
        "keep/f.wav",
        "raw/c.jpg",
        "raw/deep/d.jpg",
    ]
    assert all(os.path.isabs(s.path) for s in list_sources([tree]))


def test_include_and_exclude_globs(tree):
    assert names(list_sources([tree], include=["*.jpg", "*.png"])) == [
        "a.jpg",
        "b.PNG",
        "raw/c.jpg",
        "raw/deep/d.jpg",
    ]
    assert names(list_sources([tree], include=["*.jpg"], exclude=["raw/*"])) == ["a.jpg"]
    assert names(list_sources([tree], exclude=["deep/*", "*.txt", "f.wav"])) == [
        "a.jpg",
        "b.PNG",
        "raw/c.jpg",
        "raw/deep/d.jpg",
    ]
    assert selected("raw/deep/d.jpg", ["d.jpg"], [])  # a bare name matches in any folder
    assert not selected("raw/c.jpg", ["*.png"], [])


def test_lists_of_paths(tree, tmp_path):
    text_list = tmp_path / "inputs.txt"
    text_list.write_text("# photos\ncorpus/a.jpg\n\ncorpus/raw\n/nowhere/x.jpg\n")
    csv_list = tmp_path / "inputs.csv"
    csv_list.write_text("id,path\n1,corpus/b.PNG\n2,corpus/a.jpg\n")
    sources = list_sources([text_list, csv_list])
    assert [s.path for s in sources] == [
        str(tree / "a.jpg"),
        str(tree / "raw/c.jpg"),
        str(tree / "raw/deep/d.jpg"),
        "/nowhere/x.jpg",
        str(tree / "b.PNG"),
    ]  # each input once
    headless = tmp_path / "plain.csv"
    headless.write_text("corpus/keep/f.wav,ignored\n")
    assert names(list_sources([headless])) == ["f.wav"]


def test_text_tasks_read_txt_files_as_documents(tree, tmp_path):
    notes = tree / "notes.txt"
    assert [s.path for s in list_sources([notes], text_task=True)] == [str(notes)]
    listing = tmp_path / "docs.list"
    listing.write_text(f"{notes}\n")
    assert [s.path for s in list_sources([f"@{listing}"], text_task=True)] == [str(notes)]


def test_missing_inputs_are_kept_for_error_rows_but_nothing_at_all_is_an_error(tmp_path):
    assert [s.path for s in list_sources([tmp_path / "gone.jpg"])] == [str(tmp_path / "gone.jpg")]
    with pytest.raises(InvalidInput, match="No input files"):
        list_sources([tmp_path])
    with pytest.raises(InvalidInput, match="Cannot read the list of inputs"):
        list_sources([f"@{tmp_path / 'gone.txt'}"])


def test_questions_and_hashes(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("\ufeffWho?\n\n  When?  \n")
    assert read_questions(questions) == ["Who?", "When?"]
    questions.write_text("\n \n")
    with pytest.raises(InvalidInput, match="holds no question"):
        read_questions(questions)
    blob = os.urandom(3 << 20)  # several hashing blocks
    (tmp_path / "blob").write_bytes(blob)
    assert sha256_of(str(tmp_path / "blob")) == hashlib.sha256(blob).hexdigest()
