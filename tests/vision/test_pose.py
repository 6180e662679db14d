"""vision.pose: ROI geometry on synthetic data and BlazePose on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from sensekit.accelerate import nn
from sensekit.core.errors import InvalidInput
from sensekit.vision import PoseOptions, pose
from sensekit.vision.pose import roi_from_keypoints


def test_anchor_count_matches_the_detector(poser):
    cfg = poser._det["anchors"]
    assert len(poser._anchors) == cfg["count"] == 2254
    assert np.all((poser._anchors > 0) & (poser._anchors < 1))


def test_upright_roi_is_unrotated_and_maps_the_crop_centre():
    config = {"target_angle_deg": 90.0, "scale": [1.25, 1.25]}
    roi = roi_from_keypoints(np.array([100.0, 200.0]), np.array([100.0, 150.0]), config)
    assert roi.angle == pytest.approx(0.0, abs=1e-9)  # scale point straight above: upright
    assert roi.size.tolist() == [125.0, 125.0]
    matrix = roi.crop_to_region(256)
    assert np.allclose(matrix @ [128, 128, 1], [100, 200])
    assert np.allclose(matrix @ [0, 0, 1], [100 - 62.5, 200 - 62.5])


def test_lying_person_roi_is_rotated():
    config = {"target_angle_deg": 90.0, "scale": [1.0, 1.0]}
    roi = roi_from_keypoints(np.array([100.0, 100.0]), np.array([150.0, 100.0]), config)
    assert abs(roi.angle) == pytest.approx(np.pi / 2)


def test_weighted_nms_averages_a_cluster():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    clusters = nn.weighted_nms(boxes, np.array([0.9, 0.3, 0.8]), 0.3)
    assert [c[0].tolist() for c in clusters] == [[0, 1], [2]]
    assert np.allclose(clusters[0][1], [0.75, 0.25])


def test_astronaut_pose_has_plausible_keypoints(poser, media):
    (person,) = poser(media("astronaut.png"))
    assert len(person.keypoints) == 33 and person.score > 0.9
    nose, ls, rs = person["nose"], person["left_shoulder"], person["right_shoulder"]
    lh, rh = person["left_hip"], person["right_hip"]
    assert 0.3 < nose.x < 0.55 and 0.15 < nose.y < 0.35 and nose.confidence > 0.9
    # facing the camera: her left shoulder is on the image's right
    assert rs.x < nose.x < ls.x and nose.y < min(ls.y, rs.y) < 0.6
    assert max(ls.y, rs.y) < min(lh.y, rh.y)  # hips below shoulders
    assert 0.1 < rh.x < lh.x < 0.7
    box = person.box
    assert box.x_min < nose.x < box.x_max and box.y_min < nose.y < box.y_max


def test_person_jpg_finds_the_standing_person(media):
    people = pose(media("person.jpg"))
    assert len(people) >= 1
    person = people[0]
    # the person stands left of centre (x ~ 0.3-0.45), head above hips above ankles
    assert 0.25 < person["nose"].x < 0.5
    assert person["nose"].y < person["left_hip"].y < person["left_ankle"].y


def test_no_people_in_a_blank_image(poser):
    assert poser(np.full((300, 200, 3), 127, np.uint8)) == []


def test_options_and_roi(poser, media):
    path = media("astronaut.png")
    assert len(poser(path, max_people=1)) == 1
    (cropped,) = poser(path, region_of_interest=(0.0, 0.0, 0.8, 1.0))
    (full,) = poser(path)
    assert cropped["nose"].x == pytest.approx(full["nose"].x, abs=0.02)
    assert cropped["nose"].y == pytest.approx(full["nose"].y, abs=0.02)
    with pytest.raises(ValueError):
        PoseOptions(max_people=0)
    with pytest.raises(InvalidInput):
        poser(path, min_confidence=2.0)


def test_batch_and_conversion(poser, media):
    paths = [media("astronaut.png"), media("person.jpg")]
    assert poser.predict_batch(paths) == [poser(p) for p in paths]
    conversion = poser.model.manifest.conversion
    assert conversion["from"] == "tflite" and conversion["max_abs_diff"] < 1e-3
    # on the real image ORT is no further from TFLite's built-in kernels than TFLite's own
    # XNNPACK delegate is
    for graph in conversion["graphs"].values():
        assert graph["max_abs_diff"] <= graph["tflite_xnnpack_vs_builtin"] * 1.5
    assert poser.model.graphs == ["detector", "landmarks"] or set(poser.model.graphs) == {
        "detector",
        "landmarks",
    }
