"""vision.draw and the classify/detect/pose CLI subcommands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.core.types import Category
from sensekit.vision import draw, load_image


def test_draw_marks_boxes_and_skeletons(detector, poser, media):
    path = media("person.jpg")
    original = load_image(path)
    detections, poses = detector(path), poser(path)
    canvas = draw(path, detections + poses)
    assert canvas.shape == original.shape and canvas.dtype == np.uint8
    changed = np.any(canvas != original, axis=2)
    person = next(d for d in detections if d.label == "person")
    x0, y0, x1, _ = person.pixels
    assert changed[y0, x0:x1].mean() > 0.5  # the box's top edge is drawn
    nose = poses[0]["nose"]
    ny, nx = round(nose.y * original.shape[0]), round(nose.x * original.shape[1])
    assert changed[ny - 2 : ny + 3, nx - 2 : nx + 3].any()
    assert np.any(draw(path, [Category("cat", 0.9, 0)]) != original)
    with pytest.raises(InvalidInput):
        draw(path, ["nonsense"])


def _cli(argv):
    from sensekit.cli import main

    return main(argv)


def test_cli_detect_json_and_draw(media, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert _cli(["detect", str(media("dog.jpg")), "--json", "--draw", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"dog", "bicycle"} <= {d["label"] for d in data}
    assert load_image(out).shape == load_image(media("dog.jpg")).shape


def test_cli_pose_and_classify_several_images(media, tmp_path, capsys):
    paths = [str(media("astronaut.png")), str(media("person.jpg"))]
    assert _cli(["pose", *paths, "--json", "--draw", str(tmp_path / "p.png")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == set(paths) and all(len(v) >= 1 for v in data.values())
    assert (tmp_path / "p-astronaut.png").is_file() and (
        tmp_path / "p-person.jpg"
    ).exists() is False
    assert _cli(["classify", str(media("coffee.png")), "--top-k", "3"]) == 0
    assert "espresso" in capsys.readouterr().out


def test_cli_bad_input_exits_with_an_error(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    assert _cli(["detect", str(bad)]) == 2
    assert "error" in capsys.readouterr().err
