"""vision.train_detector: a small real run learns, resumes after a stop, and exports a
package that vision.detect reads unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sensekit import vision
from sensekit.vision import detector_training as trainer
from sensekit.vision.detection_data import load_detection_data

SIZE = 128


def _squares(count: int, seed: int) -> list:
    """Bright squares (label "square") and discs ("disc") on noise: an easy task that a
    working trainer learns in a few dozen steps and a broken one does not."""
    import cv2

    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        image = rng.integers(0, 90, (SIZE, SIZE, 3)).astype(np.uint8)
        objects = []
        for _ in range(rng.integers(1, 3)):
            side = int(rng.integers(24, 44))
            x, y = (int(v) for v in rng.integers(0, SIZE - side, 2))
            if rng.random() < 0.5:
                cv2.rectangle(image, (x, y), (x + side - 1, y + side - 1), (240, 240, 240), -1)
                objects.append(("square", (x, y, x + side, y + side)))
            else:
                cv2.circle(image, (x + side // 2, y + side // 2), side // 2, (60, 200, 250), -1)
                objects.append(("disc", (x, y, x + side, y + side)))
        pairs.append((image, objects))
    return pairs


SETTINGS = trainer.DetectorTraining(
    epochs=4, size=SIZE, batch_size=8, lr=3e-3, validation=0.2, seed=0, workers=0
)


@pytest.fixture(scope="module")
def data():
    return load_detection_data(_squares(80, seed=1), labels=["square", "disc"])


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    torch.set_num_threads(2)
    state = tmp_path_factory.mktemp("train") / "state.pt"
    return trainer.fit(data, SETTINGS, state, progress=False)


def test_a_short_run_learns(trained, data):
    _model, record = trained
    _, held = trainer.split(data, SETTINGS.validation, SETTINGS.seed)
    untrained = trainer.evaluate(trainer.centernet.build(2).eval(), held, 2, SETTINGS)["map"]
    final = record["history"][-1]["val_map50"]
    # measured: untrained 0.00-0.01, after 4 epochs (32 steps) 0.7-0.9 on this task
    assert final > 0.5 and final > untrained + 0.4, (untrained, record["history"])
    losses = [h["loss"] for h in record["history"]]
    assert losses[-1] < losses[0]


def test_a_stopped_run_resumes_where_it_stopped(trained, data, tmp_path, monkeypatch):
    state = tmp_path / "state.pt"
    real_save = trainer._save
    calls = []

    def save_then_stop(path, payload):
        real_save(path, payload)
        calls.append(payload["step"])
        raise KeyboardInterrupt  # as if the process were stopped after the first epoch

    monkeypatch.setattr(trainer, "_save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(data, SETTINGS, state, progress=False)
    monkeypatch.setattr(trainer, "_save", real_save)
    model, record = trainer.fit(data, SETTINGS, state, progress=False)
    reference, reference_record = trained
    assert calls == [8] and len(record["history"]) == SETTINGS.epochs
    assert [h["val_map50"] for h in record["history"]] == [
        h["val_map50"] for h in reference_record["history"]
    ]
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name


def test_other_settings_refuse_a_checkpoint(data, tmp_path, trained):
    state = tmp_path / "state.pt"
    trainer._save(state, {"record": {"settings": {"epochs": 99}}, "total": 1})
    with pytest.raises(trainer.InvalidInput, match="other settings"):
        trainer.fit(data, SETTINGS, state, progress=False)


def test_exported_package_detects_through_vision_detect(trained, tmp_path):
    model, _ = trained
    out = trainer.export(model, ["square", "disc"], SETTINGS, tmp_path / "shapes.skmodel", "shapes")
    image, objects = _squares(1, seed=99)[0]
    found = vision.detect(image, model=str(out), score_threshold=0.3)
    truth = {label for label, _ in objects}
    assert {d.label for d in found} & truth, (found, objects)
    best = max(found, key=lambda d: d.score)
    boxes = [np.array(box) / SIZE for label, box in objects if label == best.label]
    iou = max(
        vision.detect_module.nn.box_iou(
            np.array([[best.box.x_min, best.box.y_min, best.box.x_max, best.box.y_max]]),
            np.array([b]),
        ).item()
        for b in boxes
    )
    assert iou > 0.5, (best, objects)
    drawn = vision.draw(image, found)
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)


def test_bad_settings_and_paths(tmp_path):
    pairs = _squares(4, seed=2)
    with pytest.raises(trainer.InvalidInput, match=r"must end in \.skmodel"):
        trainer.train_detector(pairs, tmp_path / "x.onnx")
    with pytest.raises(trainer.InvalidInput, match="does not exist"):
        trainer.train_detector(pairs, tmp_path / "no" / "x.skmodel")
    with pytest.raises(trainer.InvalidInput, match="multiple of 16"):
        trainer.train_detector(pairs, tmp_path / "x.skmodel", size=100)
    with pytest.raises(trainer.InvalidInput, match="No labelled boxes"):
        trainer.train_detector([(pairs[0][0], [])], tmp_path / "x.skmodel")
