"""Video mode: the IoU tracker on synthetic results and on a real video file."""

from __future__ import annotations

import numpy as np
import pytest

from sensekit.core.errors import InvalidInput
from sensekit.core.types import Box, Detection
from sensekit.vision import IouTracker, track


def _det(label: str, x: float, score: float = 0.9) -> Detection:
    box = Box(x, 0.1, x + 0.2, 0.5)
    return Detection(label, score, 0, box, box.to_pixels(100, 100))


def test_tracker_keeps_ids_of_moving_objects_and_retires_lost_ones():
    tracker = IouTracker(iou_threshold=0.3, max_missed=1)
    first = tracker.update([_det("dog", 0.1), _det("car", 0.6)])
    assert [d.track_id for d in first] == [1, 2]
    moved = tracker.update([_det("car", 0.62), _det("dog", 0.13)])
    assert [d.track_id for d in moved] == [2, 1]
    # same place, different label: a new object, not the dog
    assert tracker.update([_det("cat", 0.13)])[0].track_id == 3
    tracker.update([])
    tracker.update([])  # the dog and car are now unseen for 2 frames > max_missed
    assert tracker.update([_det("dog", 0.13)])[0].track_id == 4


def test_tracker_rejects_bad_arguments():
    with pytest.raises(InvalidInput):
        IouTracker(iou_threshold=0)
    with pytest.raises(InvalidInput):
        IouTracker().update(["not a result"])


def _write_video(path, frames, fps=10.0):
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(frame[:, :, ::-1])
    writer.release()


def test_track_a_video_file_keeps_identities(detector, media, tmp_path):
    from sensekit.vision import load_image

    photo = load_image(media("dog.jpg"))
    frames = [np.roll(photo, 8 * i, axis=1) for i in range(4)]  # a slow pan
    video = tmp_path / "pan.avi"
    _write_video(video, frames)
    processed = list(track(video, detector))
    assert [f.index for f in processed] == [0, 1, 2, 3]
    assert processed[1].timestamp == pytest.approx(0.1)
    assert processed[0].image.shape == photo.shape
    dog_ids = {d.track_id for f in processed for d in f.results if d.label == "dog"}
    assert len(dog_ids) == 1, dog_ids
    first = {d.label: d.track_id for d in processed[0].results}
    last = {d.label: d.track_id for d in processed[-1].results}
    assert first["bicycle"] == last["bicycle"]


def test_track_poses_from_frames_and_capture(poser, media):
    import cv2

    from sensekit.vision import load_image

    frame = load_image(media("astronaut.png"))
    results = list(track([frame, frame], poser))
    assert [len(f.results) for f in results] == [1, 1]
    assert results[0].results[0].track_id == results[1].results[0].track_id == 1
    capture = cv2.VideoCapture(str(media("astronaut.png")))  # a one-frame "video"
    assert len(list(track(capture, poser))) == 1


def test_track_rejects_bad_sources(detector, tmp_path):
    with pytest.raises(InvalidInput):
        list(track(tmp_path / "missing.mp4", detector))
    bogus = tmp_path / "bogus.mp4"
    bogus.write_text("not a video")
    with pytest.raises(InvalidInput):
        list(track(bogus, detector))
    with pytest.raises(InvalidInput):
        list(track(42, detector))
