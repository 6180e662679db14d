"""Labelled boxes for training a detector: YOLO, COCO, Pascal VOC or Python pairs.

Every format becomes a list of :class:`Sample` (an image path or array, boxes in pixels,
label indices) plus the label names, checked once: a label file whose image is missing,
a box outside its image, a class index or name that is not in the label list, and an
empty set are each an :class:`InvalidInput` that names the file and what to fix.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.core.errors import InvalidInput

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
EDGE_TOLERANCE = 0.02  # boxes may overshoot the image by 2 % (labelling tools round)


@dataclass(frozen=True)
class Sample:
    """One training image and its boxes.

    Attributes:
        image: a path or an RGB uint8 array.
        boxes: [N, 4] float32 (x0, y0, x1, y1) in pixels.
        labels: [N] int64 indices into the label list.
    """

    image: Any
    boxes: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class DetectionData:
    samples: list[Sample]
    labels: list[str]


def _image_size(image: Any) -> tuple[int, int]:
    """(width, height) without decoding the whole image where possible."""
    if isinstance(image, np.ndarray):
        return image.shape[1], image.shape[0]
    from PIL import Image

    try:
        with Image.open(image) as probe:
            return probe.size
    except Exception as e:
        raise InvalidInput(f"{image}: not a readable image ({e})") from e


def _checked(
    image: Any,
    boxes: list[list[float]],
    labels: list[int],
    where: str,
    size: tuple[int, int] | None = None,
) -> Sample:
    width, height = size or _image_size(image)
    array = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(array) and not np.isfinite(array).all():
        raise InvalidInput(f"{where}: a box has a non-finite coordinate")
    slack = EDGE_TOLERANCE * np.array([width, height, width, height])
    limit = np.array([width, height, width, height], np.float32)
    outside = (array < -slack) | (array > limit + slack)
    if outside.any():
        row = int(np.nonzero(outside.any(1))[0][0])
        raise InvalidInput(
            f"{where}: box {array[row].round(1).tolist()} lies outside the "
            f"{width}x{height} image; boxes are (x0, y0, x1, y1) in pixels"
        )
    array = np.clip(array, 0, limit)
    if len(array) and ((array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1])).any():
        raise InvalidInput(f"{where}: a box has no area (x1 <= x0 or y1 <= y0)")
    return Sample(image, array, np.asarray(labels, np.int64))


def _label_index(label: Any, names: list[str], where: str) -> int:
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        if 0 <= int(label) < len(names):
            return int(label)
        raise InvalidInput(f"{where}: class index {label} is not in the {len(names)} labels")
    if str(label) in names:
        return names.index(str(label))
    raise InvalidInput(f"{where}: unknown label {label!r}; known labels: {names}")


def _yolo_names(root: Path) -> list[str]:
    for candidate in ("classes.txt", "obj.names", "labels.txt"):
        if (root / candidate).is_file():
            return [
                line.strip() for line in (root / candidate).read_text().splitlines() if line.strip()
            ]
    if (root / "data.yaml").is_file():
        import yaml

        names = yaml.safe_load((root / "data.yaml").read_text()).get("names")
        return list(names.values()) if isinstance(names, dict) else list(names or [])
    raise InvalidInput(
        f"{root}: a YOLO folder needs classes.txt (one label per line) or data.yaml with names"
    )


def load_yolo(root: Path) -> DetectionData:
    """``images/*.jpg`` + ``labels/*.txt`` ("class cx cy w h", normalized) + classes.txt."""
    names = _yolo_names(root)
    images = {
        p.stem: p
        for p in sorted((root / "images").rglob("*"))
        if p.suffix.lower() in IMAGE_SUFFIXES
    }
    samples = []
    for label_file in sorted((root / "labels").rglob("*.txt")):
        if label_file.stem not in images:
            raise InvalidInput(
                f"{label_file} names image {label_file.stem!r}, which is not in {root / 'images'}"
            )
        image = images[label_file.stem]
        width, height = _image_size(image)
        boxes, labels = [], []
        for number, line in enumerate(label_file.read_text().splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            where = f"{label_file}:{number}"
            try:
                cls, cx, cy, w, h = int(fields[0]), *map(float, fields[1:5])
            except (ValueError, TypeError) as e:
                raise InvalidInput(f"{where}: expected 'class cx cy w h', got {line!r}") from e
            labels.append(_label_index(cls, names, where))
            boxes.append(
                [
                    (cx - w / 2) * width,
                    (cy - h / 2) * height,
                    (cx + w / 2) * width,
                    (cy + h / 2) * height,
                ]
            )
        samples.append(_checked(image, boxes, labels, str(label_file), (width, height)))
    return DetectionData(samples, names)


def load_coco(file: Path) -> DetectionData:
    """A COCO JSON file (images, annotations with [x, y, w, h] boxes, categories)."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        categories = sorted(data["categories"], key=lambda c: c["id"])
        names = [str(c["name"]) for c in categories]
        by_id = {c["id"]: i for i, c in enumerate(categories)}
        images = {img["id"]: img for img in data["images"]}
        annotations = data.get("annotations", [])
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidInput(f"{file}: not a COCO detection file ({e})") from e
    grouped: dict[Any, list[dict]] = {key: [] for key in images}
    for ann in annotations:
        if ann.get("image_id") not in grouped:
            raise InvalidInput(
                f"{file}: annotation {ann.get('id')} names image "
                f"{ann.get('image_id')!r}, which is not in 'images'"
            )
        grouped[ann["image_id"]].append(ann)
    samples = []
    for key, info in images.items():
        path = file.parent / str(info.get("file_name", ""))
        if not path.is_file():
            path = file.parent / "images" / str(info.get("file_name", ""))
        if not path.is_file():
            raise InvalidInput(f"{file}: image {info.get('file_name')!r} not found next to it")
        boxes, labels = [], []
        for ann in grouped[key]:
            if ann.get("category_id") not in by_id:
                raise InvalidInput(f"{file}: unknown category {ann.get('category_id')!r}")
            x, y, w, h = ann["bbox"]
            boxes.append([x, y, x + w, y + h])
            labels.append(by_id[ann["category_id"]])
        size = (info["width"], info["height"]) if "width" in info and "height" in info else None
        samples.append(_checked(path, boxes, labels, f"{file} ({info.get('file_name')})", size))
    return DetectionData(samples, names)


def load_voc(root: Path, labels: Sequence[str] | None = None) -> DetectionData:
    """Pascal VOC: ``Annotations/*.xml`` and ``JPEGImages/``; labels in order of appearance
    unless given."""
    names = list(labels or [])
    parsed = []
    for xml in sorted((root / "Annotations").glob("*.xml")):
        try:
            tree = ElementTree.parse(xml).getroot()
        except ElementTree.ParseError as e:
            raise InvalidInput(f"{xml}: not valid XML ({e})") from e
        image = root / "JPEGImages" / (tree.findtext("filename") or f"{xml.stem}.jpg")
        if not image.is_file():
            raise InvalidInput(
                f"{xml} names image {image.name!r}, which is not in {root / 'JPEGImages'}"
            )
        objects = []
        for obj in tree.iter("object"):
            name = (obj.findtext("name") or "").strip()
            if labels is None and name not in names:
                names.append(name)
            box = obj.find("bndbox")
            try:
                objects.append(
                    (name, [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
                )
            except (AttributeError, TypeError, ValueError) as e:
                raise InvalidInput(f"{xml}: object {name!r} has no numeric bndbox") from e
        parsed.append((xml, image, objects))
    samples = [
        _checked(
            image,
            [b for _, b in objects],
            [_label_index(n, names, str(xml)) for n, _ in objects],
            str(xml),
        )
        for xml, image, objects in parsed
    ]
    return DetectionData(samples, names)


def load_pairs(pairs: Sequence[Any], labels: Sequence[str] | None = None) -> DetectionData:
    """``[(image, [(label, (x0, y0, x1, y1)), ...]), ...]`` with boxes in pixels."""
    names = list(labels or [])
    samples = []
    for index, item in enumerate(pairs):
        try:
            image, objects = item
            objects = [(label, list(map(float, box))) for label, box in objects]
        except (TypeError, ValueError) as e:
            raise InvalidInput(
                f"data[{index}] must be (image, [(label, (x0, y0, x1, y1)), ...])"
            ) from e
        if labels is None:
            names.extend(str(n) for n, _ in objects if str(n) not in names)
        if isinstance(image, (str, os.PathLike)) and not Path(image).is_file():
            raise InvalidInput(f"data[{index}]: image file not found: {image}")
        samples.append(
            _checked(
                image,
                [b for _, b in objects],
                [_label_index(str(n), names, f"data[{index}]") for n, _ in objects],
                f"data[{index}]",
            )
        )
    return DetectionData(samples, names)


def load_detection_data(data: Any, labels: Sequence[str] | None = None) -> DetectionData:
    """Reads any supported format (see the module docstring) and checks it.

    Raises:
        InvalidInput: unknown layout, missing image, bad box or label, or no boxes at all.
    """
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_file() and path.suffix.lower() == ".json":
            result = load_coco(path)
        elif (path / "labels").is_dir() and (path / "images").is_dir():
            result = load_yolo(path)
        elif (path / "Annotations").is_dir():
            result = load_voc(path, labels)
        elif not path.exists():
            raise InvalidInput(f"Training data not found: {path}")
        else:
            raise InvalidInput(
                f"{path}: expected a YOLO folder (images/, labels/, "
                f"classes.txt), a COCO .json file or a VOC folder (Annotations/, "
                f"JPEGImages/)"
            )
    elif isinstance(data, Sequence) and not isinstance(data, (bytes, str)):
        result = load_pairs(data, labels)
    else:
        raise InvalidInput(
            f"Unsupported training data {type(data).__name__}; pass a folder, "
            f"a COCO .json path or a list of (image, [(label, box), ...])"
        )
    if not result.samples or not sum(len(s.labels) for s in result.samples):
        raise InvalidInput(
            f"No labelled boxes in {data if isinstance(data, (str, os.PathLike)) else 'the data'}"
        )
    if not result.labels:
        raise InvalidInput("The data names no labels")
    return result


def split(
    data: DetectionData, validation: float, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """(train, validation) samples; at least one of each when there are two or more."""
    if not 0.0 <= validation < 1.0:
        raise InvalidInput(f"validation must be in [0, 1), not {validation!r}")
    order = np.random.default_rng(seed).permutation(len(data.samples))
    count = int(round(len(order) * validation))
    if validation > 0 and len(order) >= 2:
        count = min(max(count, 1), len(order) - 1)
    held = set(order[:count].tolist())
    return (
        [s for i, s in enumerate(data.samples) if i not in held],
        [s for i, s in enumerate(data.samples) if i in held],
    )
