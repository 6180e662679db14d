"""Train an object detector from labelled boxes on a CPU (Create ML's object detector).

``train_detector(data, out="my.skmodel")`` reads YOLO / COCO / VOC / Python pairs
(:mod:`sensekit.vision.detection_data`), trains a small CenterNet on the EfficientNet-Lite0
trunk (:mod:`sensekit.vision.centernet`) with augmentation, shows a progress bar with the
loss and the validation mAP@0.5, checkpoints so a stopped run resumes where it stopped,
exports ONNX verified against PyTorch, and writes a model package that ``vision.detect``,
``vision.draw``, ``vision.track`` and the CLI use unchanged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sensekit.core.errors import InvalidInput
from sensekit.vision import centernet
from sensekit.vision.detection_data import DetectionData, Sample, load_detection_data, split
from sensekit.vision.metrics import Prediction, Truth, average_precision

log = logging.getLogger("sensekit.vision.detector_training")
MEAN, STD = 127.0, 128.0  # EfficientNet-Lite's input normalization: (x - 127) / 128


@dataclass(frozen=True)
class DetectorTraining:
    """Settings of :func:`train_detector`.

    Attributes:
        epochs: passes over the training images.
        size: square input side in pixels (a multiple of 16); images are scale-filled.
        batch_size: images per step.
        lr: peak AdamW rate of the new layers (the trunk trains at a quarter of it).
        validation: share of the images held out for the validation mAP.
        seed: seed of the split, the order and the augmentation.
        vertical_flip: also flip and rotate by 90 degrees (objects without an "up",
            such as dice seen from above).
        class_agnostic_nms: one box per object whatever its label (dice: a die is one
            value), instead of per-class suppression.
        workers: data-loading processes (0: in the training process).
    """

    epochs: int = 30
    size: int = 384
    batch_size: int = 16
    lr: float = 2e-3
    validation: float = 0.1
    seed: int = 0
    vertical_flip: bool = False
    class_agnostic_nms: bool = False
    workers: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise InvalidInput(f"epochs must be a positive int, not {self.epochs!r}")
        if not isinstance(self.size, int) or self.size < 64 or self.size % 16:
            raise InvalidInput(f"size must be a multiple of 16 and >= 64, not {self.size!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive int, not {self.batch_size!r}")
        if not 0.0 < float(self.lr) < 1.0:
            raise InvalidInput(f"lr must be in (0, 1), not {self.lr!r}")


def _read(sample: Sample) -> np.ndarray:
    if isinstance(sample.image, np.ndarray):
        return sample.image
    from sensekit.vision.image_input import load_image

    return load_image(sample.image)


def _crop(
    image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random zoom-in window (or a zoom-out onto a grey canvas); keeps boxes that stay
    at least 60 % visible, clipped to the window."""
    height, width = image.shape[:2]
    if rng.random() < 0.25:  # zoom out: the image on a larger canvas
        scale = rng.uniform(1.0, 1.6)
        canvas = np.full((int(height * scale), int(width * scale), 3), int(MEAN), np.uint8)
        y, x = rng.integers(canvas.shape[0] - height + 1), rng.integers(canvas.shape[1] - width + 1)
        canvas[y : y + height, x : x + width] = image
        return canvas, boxes + np.float32([x, y, x, y]), labels
    if rng.random() < 0.3:
        return image, boxes, labels
    side = rng.uniform(0.55, 1.0)
    cw = int(width * side * rng.uniform(0.85, 1.15))
    ch = int(height * side * rng.uniform(0.85, 1.15))
    cw, ch = min(max(cw, 16), width), min(max(ch, 16), height)
    x, y = rng.integers(width - cw + 1), rng.integers(height - ch + 1)
    clipped = np.clip(boxes - np.float32([x, y, x, y]), 0, np.float32([cw, ch, cw, ch]))
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    keep = area(clipped) >= 0.6 * np.maximum(area(boxes), 1e-6)
    return image[y : y + ch, x : x + cw], clipped[keep], labels[keep]


def _colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter, then optional blur and noise."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] *= rng.uniform(0.6, 1.35)
    hsv[..., 2] *= rng.uniform(0.65, 1.3)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    out = (out - out.mean()) * rng.uniform(0.75, 1.25) + out.mean()
    if rng.random() < 0.15:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.2:
        out += rng.normal(0, rng.uniform(2, 8), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _flip(
    image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, all_ways: bool
) -> tuple[np.ndarray, np.ndarray]:
    size = image.shape[1]
    if rng.random() < 0.5:
        image, boxes = (
            image[:, ::-1],
            np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1),
        )
    if all_ways:
        if rng.random() < 0.5:
            image, boxes = (
                image[::-1],
                np.stack([boxes[:, 0], size - boxes[:, 3], boxes[:, 2], size - boxes[:, 1]], 1),
            )
        if rng.random() < 0.5:  # transpose = rotation by 90 degrees and a flip
            image, boxes = image.transpose(1, 0, 2), boxes[:, [1, 0, 3, 2]]
    return np.ascontiguousarray(image), boxes.reshape(-1, 4)


def to_input(image: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 -> [3, size, size] float32, scale-filled and normalized like the package."""
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return ((resized.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)


class _Examples:
    """A torch-style dataset: augmented inputs and CenterNet targets (``train``) or plain
    inputs (validation)."""

    def __init__(
        self, samples: list[Sample], classes: int, settings: DetectorTraining, train: bool
    ) -> None:
        self.samples, self.classes, self.settings, self.train = samples, classes, settings, train
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        sample = self.samples[index]
        image, boxes, labels = _read(sample), sample.boxes.copy(), sample.labels.copy()
        size = self.settings.size
        if self.train:
            rng = np.random.default_rng([self.settings.seed, self.epoch, index])
            image, boxes, labels = _crop(image, boxes, labels, rng)
        height, width = image.shape[:2]
        boxes = boxes * np.float32([size / width, size / height] * 2)
        tensor = to_input(image, size)
        if self.train:
            pixels = np.clip(tensor.transpose(1, 2, 0) * STD + MEAN, 0, 255).astype(np.uint8)
            pixels, boxes = _flip(_colour(pixels, rng), boxes, rng, self.settings.vertical_flip)
            tensor = ((pixels.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)
        targets = centernet.encode_targets(boxes, labels, self.classes, size)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(tensor)),
            **{k: torch.from_numpy(v) for k, v in targets.items()},
        }


def _decode(
    boxes: np.ndarray, scores: np.ndarray, agnostic: bool, threshold: float = 0.05, top: int = 100
) -> Prediction:
    """Dense graph outputs of one image -> its detections (as ``vision.detect`` does)."""
    from sensekit.accelerate import nn

    cells, classes = np.nonzero(scores >= threshold)
    values = scores[cells, classes]
    keep = nn.nms(boxes[cells], values, 0.5, classes=None if agnostic else classes, max_output=top)
    return Prediction(boxes[cells[keep]], values[keep], classes[keep])


def evaluate(
    model: Any, samples: list[Sample], classes: int, settings: DetectorTraining
) -> dict[str, Any]:
    """mAP@0.5 of a PyTorch detector on ``samples`` (boxes in input pixels)."""
    import torch

    decoded = centernet.Decoded(model).eval()
    predictions, truths = [], []
    with torch.no_grad():
        for sample in samples:
            image = _read(sample)
            height, width = image.shape[:2]
            scale = np.float32([settings.size / width, settings.size / height] * 2)
            boxes, scores = decoded(torch.from_numpy(to_input(image, settings.size))[None])
            predictions.append(
                _decode(boxes[0].numpy(), scores[0].numpy(), settings.class_agnostic_nms)
            )
            truths.append(Truth(sample.boxes * scale, sample.labels))
    return average_precision(predictions, truths, classes)


def _optimizer(model: Any, settings: DetectorTraining, total: int) -> tuple[Any, Any]:
    import torch

    trunk = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and n.startswith(("stem.", "blocks."))
    ]
    head = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and not n.startswith(("stem.", "blocks."))
    ]
    optimizer = torch.optim.AdamW(
        [{"params": trunk, "lr": settings.lr / 4}, {"params": head, "lr": settings.lr}],
        weight_decay=1e-4,
    )
    warmup = min(300, max(1, total // 10))

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, rate)


def _save(path: Path, payload: dict[str, Any]) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def fit(
    data: DetectionData, settings: DetectorTraining, state: Path, progress: bool = True
) -> tuple[Any, dict[str, Any]]:
    """Trains (or resumes training of) a CenterNet; returns the model and its record."""
    import torch
    from tqdm import tqdm

    from sensekit.core.registry import home
    from sensekit.core.sources import fetch
    from sensekit.zoo.efficientnet_lite0 import WEIGHTS

    torch.manual_seed(settings.seed)
    train, held = split(data, settings.validation, settings.seed)
    classes = len(data.labels)
    model = centernet.build(classes, fetch(WEIGHTS, home() / "downloads"))
    examples = _Examples(train, classes, settings, train=True)
    per_epoch = max(1, len(train) // settings.batch_size)
    total = per_epoch * settings.epochs
    optimizer, schedule = _optimizer(model, settings, total)
    record: dict[str, Any] = {
        "history": [],
        "settings": asdict(settings),
        "train_images": len(train),
        "validation_images": len(held),
        "labels": data.labels,
    }
    step = 0
    if state.is_file():
        saved = torch.load(state, weights_only=False)
        if saved["record"]["settings"] != record["settings"] or saved["total"] != total:
            raise InvalidInput(
                f"{state} holds a run with other settings or data; remove it to start again"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        step, record = saved["step"], saved["record"]
        log.info("resuming %s at step %d/%d", state, step, total)
    bar = tqdm(
        total=total, initial=step, disable=not progress, unit="step", desc="training detector"
    )
    started, seconds_before = time.time(), record.get("seconds", 0.0)
    while step < total:
        epoch, offset = divmod(step, per_epoch)
        examples.epoch = epoch
        order = np.random.default_rng([settings.seed, epoch]).permutation(len(train))
        batches = order[: per_epoch * settings.batch_size].reshape(per_epoch, -1)[offset:]
        loader = torch.utils.data.DataLoader(
            examples,
            batch_sampler=batches.tolist(),
            num_workers=settings.workers,
            persistent_workers=False,
        )
        model.train()
        centernet.freeze_early(model)
        for batch in loader:
            loss, parts = centernet.loss(model(batch["image"]), batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            schedule.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", heat=f"{parts['heat']:.3f}", epoch=epoch + 1)
            if step % 200 == 0 and step % per_epoch:
                record["seconds"] = seconds_before + time.time() - started
                _save(state, _payload(model, optimizer, schedule, step, total, record))
        model.eval()
        scores = evaluate(model, held, classes, settings) if held else {"map": float("nan")}
        record["history"].append(
            {
                "epoch": epoch + 1,
                "loss": round(loss.item(), 4),
                "val_map50": round(scores["map"], 4),
                "seconds": round(seconds_before + time.time() - started, 1),  # since step 0
            }
        )
        bar.set_postfix(
            loss=f"{loss.item():.3f}", val_map50=f"{scores['map']:.3f}", epoch=epoch + 1
        )
        log.info("epoch %d: %s", epoch + 1, record["history"][-1])
        record["seconds"] = seconds_before + time.time() - started
        _save(state, _payload(model, optimizer, schedule, step, total, record))
    bar.close()
    model.eval()
    return model, record


def _payload(
    model: Any, optimizer: Any, schedule: Any, step: int, total: int, record: dict[str, Any]
) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "step": step,
        "total": total,
        "record": record,
    }


def manifest_blocks(labels: list[str], settings: DetectorTraining) -> dict[str, Any]:
    """The preprocess/postprocess blocks of a trained detector's package."""
    return {
        "preprocess": {
            "kind": "image",
            "size": [settings.size, settings.size],
            "resize": "scale_fill",
            "interpolation": "bilinear",
            "color": "RGB",
            "layout": "NCHW",
            "scale": 1 / 255.0,
            "mean": [MEAN / 255.0] * 3,
            "std": [STD / 255.0] * 3,
            "input": "image",
        },
        "postprocess": {
            "kind": "detection",
            "decoder": "dense",
            "boxes": "boxes",
            "scores": "scores",
            "class_agnostic_nms": settings.class_agnostic_nms,
        },
    }


def export(
    model: Any,
    labels: list[str],
    settings: DetectorTraining,
    out: str | Path,
    name: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Writes the trained detector as a package (ONNX verified against PyTorch)."""
    from sensekit.core.package import write_package
    from sensekit.tools.convert.pytorch import convert_pytorch

    sample = (
        np.random.default_rng(0)
        .standard_normal((1, 3, settings.size, settings.size))
        .astype(np.float32)
    )
    manifest = {
        "name": name,
        "task": "object-detection",
        "graphs": {"main": "model.onnx"},
        "labels": "labels.txt",
        "license": "user data",
        **manifest_blocks(labels, settings),
        **(extra or {}),
    }
    with write_package(Path(out), manifest) as writer:
        diff = convert_pytorch(
            centernet.Decoded(model),
            [sample],
            writer.dir / "model.onnx",
            ["image"],
            ["boxes", "scores"],
            {"image": {0: "batch"}, "boxes": {0: "batch"}, "scores": {0: "batch"}},
            tolerance=1e-2,
        )
        manifest["conversion"] = {"from": "pytorch", "max_abs_diff": diff}
        writer.add_text("labels.txt", "\n".join(labels) + "\n")
    return Path(out)


def train_detector(
    data: Any,
    out: str | Path,
    *,
    labels: list[str] | None = None,
    epochs: int = 30,
    size: int = 384,
    batch_size: int = 16,
    validation: float = 0.1,
    lr: float = 2e-3,
    seed: int = 0,
    vertical_flip: bool = False,
    class_agnostic_nms: bool = False,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Trains a detector on ``data`` and writes it as the package ``out``.

    Args:
        data: a YOLO folder, a COCO .json, a VOC folder, or a list of
            ``(image, [(label, (x0, y0, x1, y1)), ...])`` with boxes in pixels.
        out: the package path to write (``NAME.skmodel``).
        labels: the label list (YOLO class names come from classes.txt).
        epochs, size, batch_size, validation, lr, seed, vertical_flip,
            class_agnostic_nms: see :class:`DetectorTraining`.
        checkpoint: the resumable training state (default: ``OUT.train/state.pt``); a run
            that finds it continues from it.
        progress: show a progress bar.

    Returns:
        The training record: images, per-epoch loss and validation mAP@0.5, seconds, and
        the package path.

    Raises:
        InvalidInput: unreadable data or bad settings (the message says which).
    """
    out = Path(out)
    if out.suffix != ".skmodel":
        raise InvalidInput(f"out must end in .skmodel, not {out.name!r}")
    if not out.parent.is_dir():
        raise InvalidInput(f"The folder of {out} does not exist")
    try:
        settings = DetectorTraining(
            epochs=epochs,
            size=size,
            batch_size=batch_size,
            validation=validation,
            lr=lr,
            seed=seed,
            vertical_flip=vertical_flip,
            class_agnostic_nms=class_agnostic_nms,
        )
    except ValueError as e:
        raise InvalidInput(str(e)) from e
    dataset = load_detection_data(data, labels)
    state = Path(checkpoint) if checkpoint else out.with_name(out.name[:-8] + ".train") / "state.pt"
    model, record = fit(dataset, settings, state, progress)
    export(
        model,
        dataset.labels,
        settings,
        out,
        out.name[:-8],
        {"training": {k: v for k, v in record.items() if k != "labels"}},
    )
    record["package"] = str(out)
    (state.parent / "record.json").write_text(json.dumps(record, indent=1))
    return record
