"""Vision benchmark: sensekit vs raw ONNX Runtime (same ONNX files), PyTorch eager and OpenCV.

Run: ``python bench/vision.py [--repeats N]``. Every comparison is interleaved (A, B, A,
B, ...) on the same decoded RGB arrays and reports medians. The raw-ONNX-Runtime peers are
minimal hand-written pipelines (OpenCV resize, numpy normalize, session.run, numpy
decode), i.e. what a user would write without sensekit; overhead = sensekit / raw.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import onnxruntime as ort

from sensekit.accelerate import cpu
from sensekit.core.model import ORT_SPIN_WAIT
from sensekit.core.registry import home
from sensekit.samples import media_path
from sensekit.vision import (
    DetectorOptions,
    ImageClassifier,
    ObjectDetector,
    PoseDetector,
    load_image,
)
from sensekit.vision.image_input import preprocess

IMAGES = ["dog.jpg", "person.jpg", "chelsea.png", "coffee.png", "astronaut.png", "giraffe.jpg"]


def interleaved(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, timed in turn after one warm-up."""
    for f in functions.values():
        f()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Same spin-wait setting as sensekit's sessions: in interleaved runs an idle pool that
    # spins steals the cores of the other side, which would skew the ratio either way.
    if not ORT_SPIN_WAIT:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


# -- raw ONNX Runtime pipelines ----------------------------------------------------------
def raw_classifier(model_dir: str) -> Callable[[np.ndarray], int]:
    sess = session(f"{model_dir}/model.onnx")

    def run(image: np.ndarray) -> int:
        h, w = image.shape[:2]
        side = round(0.875 * min(h, w))
        y0, x0 = (h - side) // 2, (w - side) // 2
        crop = cv2.resize(
            image[y0 : y0 + side, x0 : x0 + side],
            (224, 224),
            interpolation=cv2.INTER_AREA if side > 448 else cv2.INTER_LINEAR,
        )
        x = ((crop.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
        logits = sess.run(["logits"], {"image": x})[0][0]
        return int(np.argmax(logits))

    return run


def raw_detector(model_dir: str) -> Callable[[np.ndarray], list[int]]:
    sess = session(f"{model_dir}/model.onnx")
    mean, std = np.float32([103.53, 116.28, 123.675]), np.float32([57.375, 57.12, 58.395])
    heads = [
        (8, "Identity:0", "Identity_3:0"),
        (16, "Identity_1:0", "Identity_4:0"),
        (32, "Identity_2:0", "Identity_5:0"),
    ]
    centers = []
    for stride, _, _ in heads:
        ys, xs = np.meshgrid(np.arange(416 // stride), np.arange(416 // stride), indexing="ij")
        centers.append((np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) * stride)
    centers = np.concatenate(centers).astype(np.float32)
    strides = np.concatenate([np.full((416 // s) ** 2, s, np.float32) for s, _, _ in heads])

    def run(image: np.ndarray) -> list[int]:
        x = (cv2.resize(image[:, :, ::-1], (416, 416)).astype(np.float32) - mean) / std
        out = dict(
            zip(
                [o.name for o in sess.get_outputs()],
                sess.run(None, {"input_1:0": x.transpose(2, 0, 1)[None]}),
            )
        )
        scores = np.concatenate([out[s][0] for _, s, _ in heads])
        dist = np.concatenate([out[b][0] for _, _, b in heads]).reshape(-1, 4, 11)
        prob = np.exp(dist - dist.max(2, keepdims=True))
        side = (prob / prob.sum(2, keepdims=True)) @ np.arange(11, dtype=np.float32)
        side *= strides[:, None]
        cells, classes = np.nonzero(scores > 0.35)
        boxes = np.concatenate(
            [centers[cells] - side[cells, :2], side[cells, :2] + side[cells, 2:]], 1
        )
        keep = cv2.dnn.NMSBoxesBatched(
            boxes.tolist(), scores[cells, classes].tolist(), classes.tolist(), 0.35, 0.5
        )
        return sorted({int(classes[i]) for i in np.ravel(keep)})

    return run


def raw_pose(model_dir: str, anchors: np.ndarray) -> Callable[[np.ndarray], float]:
    detector, landmarks = (
        session(f"{model_dir}/detector.onnx"),
        session(f"{model_dir}/landmarks.onnx"),
    )

    def run(image: np.ndarray) -> float:
        h, w = image.shape[:2]
        scale = 224 / max(h, w)
        nw, nh = round(w * scale), round(h * scale)
        boxed = np.zeros((224, 224, 3), np.uint8)
        x0, y0 = (224 - nw) // 2, (224 - nh) // 2
        boxed[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(image, (nw, nh))
        raw, logits = detector.run(None, {"input_1": (boxed.astype(np.float32) / 127.5 - 1)[None]})
        best = int(np.argmax(logits[0, :, 0]))  # the single best anchor, no NMS
        kp = (raw[0, best, 4:8].reshape(2, 2) + anchors[best] * 224 - [x0, y0]) / scale
        delta = kp[1] - kp[0]
        size = 2.5 * float(np.hypot(*delta))
        angle = np.pi / 2 - np.arctan2(-delta[1], delta[0])
        c, s = np.cos(angle), np.sin(angle)
        lin = np.array([[c, -s], [s, c]]) * size / 256
        matrix = np.hstack([lin, (kp[0] - lin @ [128, 128])[:, None]])
        crop = cv2.warpAffine(
            image, matrix, (256, 256), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        out = landmarks.run(
            ["Identity", "Identity_1"], {"input_1": (crop.astype(np.float32) / 255)[None]}
        )
        return float(out[1][0, 0])

    return run


# -- sections ------------------------------------------------------------------------------
def bench_tasks(images: list[np.ndarray], repeats: int) -> None:
    classifier = ImageClassifier.from_model("efficientnet-lite0", compute_units="cpu")
    detector = ObjectDetector.from_model("nanodet-m", compute_units="cpu")
    poser = PoseDetector.from_model("blazepose", compute_units="cpu", people="own")
    pairs = {
        "classify": (classifier, raw_classifier(str(classifier.model.package.root))),
        "detect": (detector, raw_detector(str(detector.model.package.root))),
        "pose": (poser, raw_pose(str(poser.model.package.root), poser._anchors)),
    }
    print(
        f"{'task':<9} {'sensekit ms':>12} {'raw ORT ms':>11} {'overhead':>9}  (per image, "
        f"median over {repeats} x {len(images)} images)"
    )
    for name, (task, raw) in pairs.items():
        medians = interleaved(
            {
                "sensekit": lambda t=task: [t(i) for i in images],
                "raw": lambda r=raw: [r(i) for i in images],
            },
            repeats,
        )
        a, b = (medians[k] * 1000 / len(images) for k in ("sensekit", "raw"))
        print(f"{name:<9} {a:12.2f} {b:11.2f} {a / b:9.3f}")
    agree = sum(classifier(i, top_k=1)[0].index == pairs["classify"][1](i) for i in images)
    det_agree = sum(sorted({d.index for d in detector(i)}) == pairs["detect"][1](i) for i in images)
    print(
        f"accuracy: classify top-1 agrees with raw ORT on {agree}/{len(images)} images; "
        f"detect label sets agree on {det_agree}/{len(images)}"
    )
    batch = images * 2
    medians = interleaved(
        {name: (lambda t=task: t.predict_batch(batch)) for name, (task, _) in pairs.items()},
        max(3, repeats // 3),
    )
    print(
        "batch throughput (images/s, predict_batch of "
        f"{len(batch)}): " + ", ".join(f"{k} {len(batch) / v:.1f}" for k, v in medians.items())
    )


def bench_pytorch(images: list[np.ndarray], repeats: int) -> None:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from sensekit.core.sources import fetch
    from sensekit.zoo.efficientnet_lite0 import WEIGHTS

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(fetch(WEIGHTS, home() / "downloads"))
    ).eval()
    classifier = ImageClassifier.from_model("efficientnet-lite0", compute_units="cpu")
    spec = classifier.model.manifest.preprocess

    def torch_classify(image: np.ndarray) -> int:
        with torch.inference_mode():
            return int(net(torch.from_numpy(preprocess(image, spec)[0])).argmax())

    medians = interleaved(
        {
            "sensekit": lambda: [classifier(i) for i in images],
            "torch": lambda: [torch_classify(i) for i in images],
        },
        repeats,
    )
    ratio = medians["torch"] / medians["sensekit"]
    agree = sum(classifier(i, top_k=1)[0].index == torch_classify(i) for i in images)
    batch = np.concatenate([preprocess(i, spec)[0] for i in images * 2])
    with torch.inference_mode():
        tb = interleaved(
            {
                "sensekit": lambda: classifier.model.predict({"image": batch}),
                "torch": lambda: net(torch.from_numpy(batch)),
            },
            max(3, repeats // 3),
        )
    print(
        f"EfficientNet-Lite0 vs PyTorch eager ({torch.get_num_threads()} threads): per image "
        f"sensekit {medians['sensekit'] * 1000 / len(images):.2f} ms, torch "
        f"{medians['torch'] * 1000 / len(images):.2f} ms -> {ratio:.2f}x faster; batch "
        f"{len(batch)}: {tb['torch'] / tb['sensekit']:.2f}x; top-1 agrees {agree}/{len(images)}"
    )


def bench_preprocess(images: list[np.ndarray], repeats: int) -> None:
    spec = {
        "size": [416, 416],
        "resize": "scale_fill",
        "color": "BGR",
        "layout": "NCHW",
        "scale": 1.0,
        "mean": [103.53, 116.28, 123.675],
        "std": [57.375, 57.12, 58.395],
    }
    mean, std = np.float32(spec["mean"]), np.float32(spec["std"])

    def opencv(image: np.ndarray) -> np.ndarray:
        return (
            cv2.dnn.blobFromImage(image, 1.0, (416, 416), tuple(mean.tolist()), swapRB=True)
            / std[None, :, None, None]
        )

    medians = interleaved(
        {
            "sensekit": lambda: [preprocess(i, spec) for i in images],
            "opencv": lambda: [opencv(i) for i in images],
        },
        repeats,
    )
    diff = max(float(np.abs(preprocess(i, spec)[0] - opencv(i)).max()) for i in images)
    print(
        f"preprocess (416x416 BGR mean/std NCHW): sensekit "
        f"{medians['sensekit'] * 1000 / len(images):.3f} ms, cv2.dnn.blobFromImage "
        f"{medians['opencv'] * 1000 / len(images):.3f} ms -> ratio "
        f"{medians['sensekit'] / medians['opencv']:.2f}; max abs diff {diff:.3g}"
    )


def raw_centernet(model_dir: str) -> Callable[[np.ndarray], list[int]]:
    """What a user would write for the COCO CenterNet: letterbox, run, threshold."""
    sess = session(f"{model_dir}/model.onnx")

    def run(image: np.ndarray) -> list[int]:
        h, w = image.shape[:2]
        scale = 512 / max(h, w)
        nw, nh = round(w * scale), round(h * scale)
        boxed = np.zeros((512, 512, 3), np.float32)
        x0, y0 = (512 - nw) // 2, (512 - nh) // 2
        boxed[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(image, (nw, nh))
        rows = sess.run(["tower_0/detections"], {"tower_0/images": boxed[None]})[0][0]
        return sorted({int(c) for c in rows[rows[:, 4] >= 0.35, 5]})

    return run


def _dev_detections(detector: ObjectDetector, dev: list, repeats: int) -> tuple[list, float]:
    """Predictions on the dev set (score >= 0.05, ignore regions applied) and the median
    milliseconds per image of the whole ``detect`` call at its default threshold."""
    from sensekit.vision import metrics

    images = [load_image(str(item.path)) for item in dev]
    seconds = interleaved({"d": lambda: [detector.detect(i) for i in images]}, repeats)["d"]
    predictions = []
    for image, item in zip(images, dev):
        found = detector.detect(image, score_threshold=0.05)
        predictions.append(metrics.scored_detections(found, item))
    return predictions, seconds * 1000 / len(images)


def bench_devset(repeats: int) -> None:
    """The table that chose the defaults: every detector and combination on the
    hand-labelled dev set (tests/vision/detect_dev: 22 photos, 55 objects), and every pose
    pipeline on its 17 labelled people; latency beside raw ONNX Runtime."""
    from pathlib import Path

    from sensekit.vision import metrics
    from sensekit.zoo import data_file

    folder = Path(__file__).resolve().parents[1] / "tests" / "vision" / "detect_dev"
    names = [n for n in data_file("coco_labels.txt").read_text().splitlines() if n]
    dev = metrics.read_box_labels(folder / "labels.json", names)
    truths = [item.truth for item in dev]
    print(
        f"detection dev set: {len(dev)} photos, {sum(len(t.labels) for t in truths)} objects; "
        "recall/precision at each model's default threshold, IoU 0.5"
    )
    print(
        f"{'detector':<28} {'recall':>6} {'prec.':>6} {'mAP50':>6} {'ms/img':>7} {'x nanodet':>9}"
    )
    base = None
    for model, flip in [
        ("nanodet-m", False),
        ("centernet", False),
        ("nanodet-m", True),
        ("centernet", True),
        ("nanodet-m+centernet", False),
        ("nanodet-m+centernet", True),
    ]:
        detector = ObjectDetector.from_model(model, DetectorOptions(flip=flip), compute_units="cpu")
        predictions, ms = _dev_detections(detector, dev, repeats)
        table = metrics.detection_table(
            predictions, truths, names, detector.options.score_threshold
        )
        base = ms if base is None else base
        label = model + (" + flip" if flip else "")
        print(
            f"{label:<28} {table['recall']:6.3f} {table['precision']:6.3f} "
            f"{table['map50']:6.3f} {ms:7.1f} {ms / base:9.2f}"
        )
    images = [load_image(str(item.path)) for item in dev]
    for name, raw in (
        ("nanodet-m", raw_detector(str(home() / "models" / "nanodet-m.skmodel"))),
        ("centernet", raw_centernet(str(home() / "models" / "centernet.skmodel"))),
    ):
        task = ObjectDetector.from_model(name, compute_units="cpu")
        medians = interleaved(
            {
                "sk": lambda t=task: [t(i) for i in images],
                "raw": lambda r=raw: [r(i) for i in images],
            },
            repeats,
        )
        print(
            f"  {name}: sensekit {medians['sk'] * 1000 / len(images):.1f} ms/img, raw ORT "
            f"{medians['raw'] * 1000 / len(images):.1f} -> overhead {medians['sk'] / medians['raw']:.3f}"
        )

    items = metrics.read_pose_labels(folder / "pose_labels.json")
    images = [load_image(str(item.path)) for item in items]
    print(
        f"pose dev set: {len(items)} photos, {sum(len(i.people) for i in items)} labelled people; "
        "found = OKS >= 0.5"
    )
    print(f"{'pose pipeline':<40} {'found':>6} {'prec.':>6} {'OKS':>6} {'ms/img':>7}")
    for model, people in [
        ("blazepose", "own"),
        ("movenet-multipose", None),
        ("blazepose", "nanodet-m"),
        ("blazepose", "centernet"),
        ("blazepose", "nanodet-m+centernet"),
    ]:
        poser = PoseDetector.from_model(model, compute_units="cpu", people=people)
        seconds = interleaved({"p": lambda p=poser: [p(i) for i in images]}, repeats)["p"]
        predictions = [metrics.scored_poses(poser(i), item) for i, item in zip(images, items)]
        table = metrics.pose_table(predictions, [i.people for i in items])
        label = f"{model} (people: {people or 'itself'})"
        print(
            f"{label:<40} {table['found']:>3}/{table['people']:<2} {table['precision']:6.3f} "
            f"{table['mean_oks']:6.3f} {seconds * 1000 / len(items):7.1f}"
        )


def bench_dice(repeats: int) -> None:
    """The dice detector on rendered 640x480 frames: sensekit's whole ``vision.dice`` call
    and its graph alone, against the same CenterNet in PyTorch eager (what it was trained
    in) on the same input tensor; frames per second; training seconds per epoch."""
    import torch

    from sensekit.vision import centernet
    from sensekit.vision.dice import dice
    from sensekit.vision.synthetic.dice import LABELS, render_scene
    from sensekit.zoo import data_file
    from sensekit.zoo.dice import TRAINED, load_weights, trained_info

    frames = [render_scene(np.random.default_rng([9, i]), (640, 480))[0] for i in range(6)]
    detector = ObjectDetector.from_model("dice", compute_units="cpu")
    net = load_weights(centernet.build(len(LABELS)), data_file(TRAINED))
    tensors = [detector._preprocess(f, detector.options).tensor for f in frames]
    name = detector._spec.input
    with torch.inference_mode():
        medians = interleaved(
            {
                "dice()": lambda: [dice(f) for f in frames],
                "graph": lambda: [detector.model.predict({name: t}) for t in tensors],
                "torch": lambda: [net(torch.from_numpy(t)) for t in tensors],
            },
            repeats,
        )
    fps = {k: len(frames) / v for k, v in medians.items()}
    side = detector._spec.size
    print(
        f"dice detector ({side[0]}x{side[1]} input, 640x480 frames, {torch.get_num_threads()} "
        f"threads): sensekit dice() {fps['dice()']:.1f} fps, its graph {fps['graph']:.1f} fps, "
        f"PyTorch eager {fps['torch']:.1f} fps -> graph {fps['graph'] / fps['torch']:.2f}x torch"
    )
    info = trained_info()
    epochs = info["settings"]["epochs"]
    print(
        f"dice training: {info['seconds'] / 60:.0f} min for {epochs} epochs of "
        f"{info['train_images']} rendered {info['settings']['size']} px images = "
        f"{info['seconds'] / 60 / epochs:.0f} min per epoch (wall time, from the record; "
        f"{info.get('train_cpu', 'CPU not recorded')})"
    )
    for epoch in info.get("history", []):
        print(f"  epoch {epoch['epoch']}: loss {epoch['loss']}, val mAP@0.5 {epoch['val_map50']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", choices=("dice", "devset"), help="run one section")
    args = parser.parse_args()
    print(cpu.describe())  # every figure says which CPU it came from
    if args.only is None:
        images = [load_image(media_path(name)) for name in IMAGES]
        bench_preprocess(images, args.repeats)
        bench_tasks(images, args.repeats)
        bench_pytorch(images, args.repeats)
    if args.only in (None, "devset"):
        bench_devset(max(3, args.repeats // 5))
    if args.only in (None, "dice"):
        bench_dice(args.repeats)


if __name__ == "__main__":
    main()
