"""The Ray engine on a local Ray (2 CPUs, loopback): the rows of the local engine."""

from __future__ import annotations

import shutil

import pytest
import ray  # scripts/install.sh installs sensekit[ray]: its absence fails, never skips
from batch_helpers import assert_same, rows_by_path

from sensekit import batch

# Ray Data's own context reads its deprecated settings; nothing of sensekit's
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A Ray of this machine with 2 CPUs on 127.0.0.1, shut down after the module."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=128 << 20,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


def _without_seconds(rows):
    return {path: {k: v for k, v in row.items() if k != "seconds"} for path, row in rows.items()}


def test_ray_gives_the_rows_of_the_local_engine(local_ray, photo_folder, one_at_a_time, tmp_path):
    inputs = [photo_folder, tmp_path / "gone.jpg"]
    on_ray = batch.run(
        "classify",
        inputs,
        out=tmp_path / "ray.jsonl",
        engine="ray",
        options={"top_k": 3},
        progress=False,
    )
    assert (on_ray.total, on_ray.computed, on_ray.failed) == (13, 13, 1)
    rows = rows_by_path(batch.read_rows(tmp_path / "ray.jsonl"))
    for path in (str(p) for p in photo_folder.rglob("*") if p.is_file()):
        assert rows[path]["error"] is None
        assert_same(rows[path]["result"], one_at_a_time("classify", path, top_k=3))
    local = batch.run(
        "classify",
        inputs,
        out=tmp_path / "local.jsonl",
        workers=2,
        options={"top_k": 3},
        progress=False,
    )
    assert (local.computed, local.failed) == (13, 1)
    local_rows = _without_seconds(rows_by_path(batch.read_rows(tmp_path / "local.jsonl")))
    ray_rows = _without_seconds(rows)
    assert local_rows.keys() == ray_rows.keys()
    for path, row in ray_rows.items():
        assert_same(row, local_rows[path], path)
    again = batch.run(
        "classify",
        inputs,
        out=tmp_path / "ray.jsonl",
        engine="ray",
        options={"top_k": 3},
        progress=False,
    )
    assert (again.computed, again.skipped) == (0, 13)


def test_ray_on_real_sounds(local_ray, sound_folder, one_at_a_time, tmp_path):
    clips = tmp_path / "clips"
    shutil.copytree(sound_folder, clips)
    (clips / "broken.oga").write_bytes(b"OggS not really vorbis")
    out = tmp_path / "sounds.parquet"
    summary = batch.run(
        "classify-sound",
        clips,
        out=out,
        engine="ray",
        workers=2,
        options={"top_k": 2},
        progress=False,
    )
    assert (summary.total, summary.computed, summary.failed) == (13, 13, 1)
    rows = rows_by_path(batch.read_rows(tmp_path / "sounds.jsonl"))
    assert rows[str(clips / "broken.oga")]["error"]
    assert rows[str(clips / "jfk.wav")]["result"][0]["label"] == "Speech"
    for path, row in rows.items():
        if not path.endswith("broken.oga"):
            assert row["error"] is None, row["error"]
            assert_same(row["result"], one_at_a_time("classify-sound", path, top_k=2))
    assert out.is_file()
