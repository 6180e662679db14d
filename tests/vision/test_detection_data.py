"""Training data for vision.train_detector: every format, and each bad input's error."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.vision.detection_data import load_detection_data, split


def _image(path, width=64, height=48):
    cv2.imwrite(str(path), np.full((height, width, 3), 127, np.uint8))
    return path


def _yolo(root, lines="0 0.5 0.5 0.25 0.5\n"):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    _image(root / "images" / "a.jpg")
    (root / "labels" / "a.txt").write_text(lines)
    (root / "classes.txt").write_text("die\ncup\n")
    return root


def test_yolo_boxes_become_pixels(tmp_path):
    data = load_detection_data(_yolo(tmp_path / "y", "1 0.5 0.5 0.25 0.5\n"))
    assert data.labels == ["die", "cup"]
    (sample,) = data.samples
    assert sample.labels.tolist() == [1]
    assert np.allclose(sample.boxes, [[24, 12, 40, 36]])


def test_coco_and_voc_and_pairs_agree(tmp_path):
    image = _image(tmp_path / "a.jpg")
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [24, 12, 16, 24]}],
        "categories": [{"id": 3, "name": "die"}],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    voc = tmp_path / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    _image(voc / "JPEGImages" / "a.jpg")
    (voc / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><object><name>die</name><bndbox>"
        "<xmin>24</xmin><ymin>12</ymin><xmax>40</xmax><ymax>36</ymax></bndbox></object>"
        "</annotation>"
    )
    results = [
        load_detection_data(tmp_path / "coco.json"),
        load_detection_data(voc),
        load_detection_data([(image, [("die", (24, 12, 40, 36))])]),
    ]
    for data in results:
        assert data.labels == ["die"]
        assert np.allclose(data.samples[0].boxes, [[24, 12, 40, 36]])


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty folder", "expected a YOLO folder"),
        ("missing image", "not in"),
        ("box outside", "outside"),
        ("unknown class", "not in the 2 labels"),
        ("no boxes", "No labelled boxes"),
        ("bad line", "expected 'class cx cy w h'"),
    ],
)
def test_bad_data_is_a_clear_error(tmp_path, case, message):
    root = tmp_path / "d"
    if case == "empty folder":
        root.mkdir()
    else:
        lines = {
            "box outside": "0 0.9 0.5 0.5 0.5\n",
            "unknown class": "5 0.5 0.5 0.2 0.2\n",
            "no boxes": "",
            "bad line": "0 0.5 half 0.2 0.2\n",
        }.get(case, "0 .5 .5 .2 .2\n")
        _yolo(root, lines)
        if case == "missing image":
            (root / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(InvalidInput, match=message):
        load_detection_data(root)


def test_pairs_errors_name_the_item(tmp_path):
    with pytest.raises(InvalidInput, match=r"data\[0\]: image file not found"):
        load_detection_data([(tmp_path / "nope.jpg", [("die", (0, 0, 1, 1))])])
    with pytest.raises(InvalidInput, match="unknown label 'cat'"):
        load_detection_data(
            [(np.zeros((8, 8, 3), np.uint8), [("cat", (0, 0, 4, 4))])], labels=["die"]
        )
    with pytest.raises(InvalidInput, match="Training data not found"):
        load_detection_data(tmp_path / "missing")


def test_split_holds_out_at_least_one(tmp_path):
    pairs = [(np.zeros((8, 8, 3), np.uint8), [("die", (0, 0, 4, 4))]) for _ in range(5)]
    train, held = split(load_detection_data(pairs), 0.1)
    assert len(train) == 4 and len(held) == 1
    with pytest.raises(InvalidInput):
        split(load_detection_data(pairs), 1.0)
