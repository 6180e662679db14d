"""The default detector and pose pipeline on the hand-labelled dev set (tests/vision/detect_dev):
the figures that chose them, as floors a broken model (a channel swap, a wrong decoder, a
lost ensemble member) falls through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sensekit.accelerate import nn
from sensekit.core import registry
from sensekit.core.errors import InvalidInput
from sensekit.vision import ObjectDetector, PoseDetector, detect, metrics, pose
from sensekit.vision.detect import DEFAULT_MODEL
from sensekit.zoo import data_file

DEV = Path(__file__).with_name("detect_dev")
NAMES = [n for n in data_file("coco_labels.txt").read_text().splitlines() if n]


@pytest.fixture(scope="module")
def dev_set():
    return metrics.read_box_labels(DEV / "labels.json", NAMES)


def _table(detector: ObjectDetector, dev_set, **options) -> dict:
    predictions = []
    for item in dev_set:
        found = detector.detect(str(item.path), score_threshold=0.05, **options)
        predictions.append(metrics.scored_detections(found, item))
    threshold = detector.options.score_threshold
    return metrics.detection_table(predictions, [i.truth for i in dev_set], NAMES, threshold)


def test_the_dev_set_is_what_its_labels_say(dev_set):
    assert len(dev_set) == 22 and sum(len(i.truth.labels) for i in dev_set) == 55
    for item in dev_set:
        assert item.path.is_file()
        h, w = np.asarray(Image.open(item.path)).shape[:2]
        assert np.all(item.truth.boxes[:, 2:] <= [w, h]) and np.all(item.truth.boxes >= 0)


def test_default_detector_on_the_dev_set(dev_set):
    """Measured (AMD EPYC, AVX2): recall 0.709, precision 0.830, mAP@0.5 0.72; NanoDet-m
    alone 0.709 / 0.629 / 0.675, CenterNet alone 0.691 / 0.679 / 0.753."""
    assert DEFAULT_MODEL == "nanodet-m+centernet"
    table = _table(ObjectDetector.from_model(DEFAULT_MODEL, compute_units="cpu"), dev_set)
    assert table["recall"] >= 0.68 and table["precision"] >= 0.78, table
    assert table["map50"] >= 0.68
    assert table["per_class"]["person"]["recall"] >= 0.9


def test_centernet_alone_on_the_dev_set(dev_set):
    table = _table(ObjectDetector.from_model("centernet", compute_units="cpu"), dev_set)
    assert table["map50"] >= 0.72 and table["recall"] >= 0.65, table


def test_basketball_both_people_and_no_refrigerator():
    """The photo of issue 18: NanoDet-m alone boxed the doorway as a refrigerator and the
    ball as a person, and missed the man on the left."""
    found = detect(DEV / "basketball1.png")
    people = [d for d in found if d.label == "person"]
    assert len(people) == 2 and "refrigerator" not in {d.label for d in found}
    left, right = sorted(people, key=lambda d: d.box.x_min)
    assert left.box.x_max < 0.35 and right.box.x_min > 0.55  # one each side of the room
    assert left.box.height > 0.6 and right.box.height > 0.6  # whole people, not the ball


def test_flip_mirrors_consistently():
    """Test-time flip: the mirrored image's boxes are the image's boxes mirrored."""
    detector = ObjectDetector.from_model("centernet", compute_units="cpu")
    image = np.asarray(Image.open(DEV / "basketball2.png").convert("RGB"))
    plain = detector.detect(image, flip=True)
    mirrored = detector.detect(np.ascontiguousarray(image[:, ::-1]), flip=True)
    assert len(plain) == len(mirrored) >= 2
    for a in plain:
        b = min(
            mirrored, key=lambda d: abs(d.box.x_min - (1 - a.box.x_max)) + abs(d.score - a.score)
        )
        assert a.label == b.label and a.score == pytest.approx(b.score, abs=0.02)
        assert 1 - a.box.x_max == pytest.approx(b.box.x_min, abs=0.01)
    with pytest.raises(InvalidInput, match="flip"):
        detector.detect(image, flip="yes")


def test_box_fusion_agreement_and_halving():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    fused, scores, classes = nn.box_fusion(
        boxes, np.array([0.8, 0.4, 0.6]), np.array([3, 3, 3]), np.array([0, 1, 0]), 2
    )
    assert scores.tolist() == pytest.approx([0.6, 0.3])  # both sources agree; one alone: half
    assert fused[0] == pytest.approx([1 / 3, 0, 10 + 1 / 3, 10])  # score-weighted mean
    assert classes.tolist() == [3, 3]
    other = nn.box_fusion(boxes[:2], np.array([0.8, 0.4]), np.array([1, 2]), np.array([0, 1]), 2)
    assert len(other[0]) == 2  # different classes never fuse


def test_ensemble_names_and_their_errors():
    assert registry.members("nanodet-m+centernet") == ["nanodet-m", "centernet"]
    assert registry.members("centernet") == ["centernet"]
    assert registry.is_built("nanodet-m+centernet")
    with pytest.raises(InvalidInput, match="empty name"):
        ObjectDetector.from_model("nanodet-m+")
    with pytest.raises(InvalidInput, match="different labels"):
        ObjectDetector.from_model("centernet+dice")


# -- pose ---------------------------------------------------------------------------------
def _pose_table(poser: PoseDetector, **options) -> dict:
    items = metrics.read_pose_labels(DEV / "pose_labels.json")
    predictions = [metrics.scored_poses(poser.detect(str(i.path), **options), i) for i in items]
    return metrics.pose_table(predictions, [i.people for i in items])


def test_default_pose_finds_the_labelled_people():
    """17 hand-labelled people in 7 photos. Measured: 15 found (OKS >= 0.5), mean OKS
    0.77; BlazePose's own person detector: 5 found, mean OKS 0.25."""
    table = _pose_table(PoseDetector.from_model(compute_units="cpu"))
    assert table["found"] >= 14 and table["mean_oks"] >= 0.7 and table["precision"] >= 0.9, table


def test_movenet_multipose_poses_both_basketball_players():
    people = pose(DEV / "basketball1.png", model="movenet-multipose")  # its own 0.25
    assert len(people) == 2
    assert len(pose(DEV / "basketball1.png", model="movenet-multipose", min_confidence=0.5)) == 1
    for person in people:
        assert len(person.keypoints) == 17
        assert person["left_wrist"].name == "left_wrist"  # COCO names, as BlazePose's
        assert person["nose"].y < person["left_hip"].y < person["left_ankle"].y
    with pytest.raises(InvalidInput, match="finds people itself"):
        PoseDetector.from_model("movenet-multipose", people="centernet")


def test_default_pose_on_basketball_has_both_people_with_33_keypoints():
    people = pose(DEV / "basketball1.png")
    assert len(people) == 2 and all(len(p.keypoints) == 33 for p in people)
    xs = sorted(p["nose"].x for p in people)
    assert xs[0] < 0.35 and xs[1] > 0.55
