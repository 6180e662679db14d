"""Batch fixtures: corpora of real media, and the task run one file at a time to compare."""

from __future__ import annotations

import shutil

import pytest
from batch_helpers import PHOTOS, SOUNDS

from sensekit.core.tasks import task, to_jsonable


@pytest.fixture(scope="session")
def photo_folder(media, tmp_path_factory):
    """A dozen real photos: ten in a folder, two of them again under more/ (same content,
    other paths: other inputs)."""
    root = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        shutil.copyfile(media(name), root / name)
    (root / "more").mkdir()
    for name in ("dog.jpg", "chelsea.png"):
        shutil.copyfile(media(name), root / "more" / name)
    return root


@pytest.fixture(scope="session")
def sound_folder(media, tmp_path_factory):
    """A dozen real clips: voices, desktop sounds (Ogg Vorbis) and a speech."""
    root = tmp_path_factory.mktemp("sounds")
    for name in SOUNDS:
        shutil.copyfile(media(name), root / name)
    return root


@pytest.fixture(scope="session")
def one_at_a_time():
    """Callable: one_at_a_time(task, *inputs, **options) -> the task's result as JSON,
    from a task object made in this process (one per task and options; results kept)."""
    made, results = {}, {}

    def call(name, *inputs, **options):
        key = (name, tuple(sorted(options.items())))
        if key not in made:
            made[key] = task(name).create(**options)
        if (key, inputs) not in results:
            results[key, inputs] = to_jsonable(task(name).run(made[key], *inputs))
        return results[key, inputs]

    return call
