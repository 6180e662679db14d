"""BlazePose (33 body landmarks) from the PyPI wheel mediapipe==0.10.21.

Two TFLite graphs become one two-graph package: ``detector`` (pose_detection.tflite, whose
sparse weights are densified before tf2onnx) and ``landmarks`` (pose_landmark_full.tflite).
Both are verified against the TFLite interpreter. The wheel is only downloaded, never
installed (it needs numpy < 2).

Constants follow MediaPipe's graphs ``pose_detection_cpu.pbtxt`` (SSD anchors, box
decoding, weighted NMS), ``pose_detection_to_roi.pbtxt`` (rotated ROI from the hip-centre
and scale keypoints) and ``pose_landmark_by_roi_cpu.pbtxt`` (ROI warp, landmark decoding).
"""

from __future__ import annotations

import numpy as np

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.core.sources import PackageSource, UrlSource

NAME = "blazepose"
_PACKAGE, _VERSION = "mediapipe", "0.10.21"
DETECTOR = PackageSource(
    "pypi",
    _PACKAGE,
    _VERSION,
    "mediapipe/modules/pose_detection/pose_detection.tflite",
    "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
)
LANDMARKS = PackageSource(
    "pypi",
    _PACKAGE,
    _VERSION,
    "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
)

KEYPOINTS = [
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
]

PREPROCESS = {
    "kind": "image",
    # detector: letterbox (scale_fit, zero border) to 224x224, RGB in [-1, 1]
    "detector": {
        "input": "input_1",
        "size": [224, 224],
        "resize": "scale_fit",
        "interpolation": "bilinear",
        "color": "RGB",
        "layout": "NHWC",
        "scale": 1 / 255.0,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
    },
    # landmarks: rotated ROI warped to 256x256, RGB in [0, 1]
    "landmarks": {
        "input": "input_1",
        "size": [256, 256],
        "resize": "rotated_roi",
        "interpolation": "bilinear",
        "color": "RGB",
        "layout": "NHWC",
        "scale": 1 / 255.0,
        "mean": [0.0] * 3,
        "std": [1.0] * 3,
    },
}
POSTPROCESS = {
    "kind": "pose",
    "detector": {
        "outputs": {"boxes": "Identity", "scores": "Identity_1"},
        "anchors": {
            "input_size": [224, 224],
            "strides": [8, 16, 32, 32, 32],
            "anchor_offset": [0.5, 0.5],
            "anchors_per_layer": 2,
            "fixed_anchor_size": True,
            "count": 2254,
        },
        # raw [N, 12] = (cx, cy, w, h, 4 x (kx, ky)) in input pixels, relative to anchors
        "num_keypoints": 4,
        "coordinate_scale": [224.0, 224.0],
        "score_activation": "sigmoid",
        "score_clipping": 100.0,
        "min_score": 0.5,
        "nms": "weighted",
        "iou_threshold": 0.3,
        "roi": {
            "center_keypoint": 0,
            "scale_keypoint": 1,
            "target_angle_deg": 90.0,
            "scale": [1.25, 1.25],
        },
    },
    "landmarks": {
        "outputs": {"landmarks": "Identity", "presence": "Identity_1"},
        # [1, 195] = 39 x (x, y, z, visibility logit, presence logit) in 256-px units;
        # the first 33 are the body landmarks, the last 6 auxiliary (ROI tracking)
        "values_per_landmark": 5,
        "num_landmarks": 33,
        "confidence_activation": "sigmoid",
        "presence_activation": "none",
        "presence_threshold": 0.5,
        "names": KEYPOINTS,
    },
}


def _convert(
    tflite: object, out: object, feeds: dict, random_feeds: dict, used: list[str]
) -> dict[str, float]:
    """Converts one graph; returns its max abs diffs vs TFLite's built-in kernels on a real
    image (the outputs sensekit reads, and all) and on a random input, plus the spread of
    TFLite's own XNNPACK delegate against its built-in kernels on that image."""
    from sensekit.tools.convert.tflite import convert_tflite, run_tflite
    from sensekit.tools.convert.verify import run_onnx

    convert_tflite(tflite, out, verify_inputs=[feeds, random_feeds])  # relative tolerance

    def diffs(expected: list, actual: list) -> list[float]:
        return [float(np.max(np.abs(e.astype(np.float64) - a))) for e, a in zip(expected, actual)]

    reference = run_tflite(tflite, feeds)
    real = diffs(reference, run_onnx(out, feeds))
    noise = diffs(run_tflite(tflite, random_feeds), run_onnx(out, random_feeds))
    spread = diffs(reference, run_tflite(tflite, feeds, xnnpack=True))
    # tf2onnx keeps TFLite's output order and names (Identity, Identity_1, ...)
    names = ["Identity"] + [f"Identity_{i}" for i in range(1, len(real))]
    read = [i for i, n in enumerate(names) if n in used]
    return {
        "max_abs_diff": max(real[i] for i in read),
        "max_abs_diff_all_outputs": max(real),
        "max_abs_diff_random_input": max(noise[i] for i in read),
        "tflite_xnnpack_vs_builtin": max(spread[i] for i in read),
    }


def _image_feeds() -> tuple[dict, dict]:
    """A real person image (astronaut.png, 512x512, square) as each graph's input, decoded
    and resized by the kernels sensekit's own preprocessing uses."""
    from sensekit.accelerate import image
    from sensekit.samples import media_path

    rgb = image.decode(media_path("astronaut.png").read_bytes())
    detector = image.resize(rgb, 224, 224).astype(np.float32) / 127.5 - 1
    landmarks = image.resize(rgb, 256, 256).astype(np.float32) / 255.0
    return {"input_1": detector[None]}, {"input_1": landmarks[None]}


def _build(ctx: BuildContext) -> None:
    from sensekit.core.package import write_package

    detector, landmarks = ctx.fetch("detector"), ctx.fetch("landmarks")
    manifest = ctx.manifest(
        graphs={"detector": "detector.onnx", "landmarks": "landmarks.onnx"},
        preprocess=PREPROCESS,
        postprocess=POSTPROCESS,
    )
    rng = np.random.default_rng(0)
    detector_random = {"input_1": rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)}
    landmark_random = {"input_1": rng.random((1, 256, 256, 3), dtype=np.float32)}
    detector_image, landmark_image = _image_feeds()
    with write_package(ctx.destination, manifest) as writer:
        ctx.progress("converting the detector (densify + tf2onnx)")
        d1 = _convert(
            detector,
            writer.dir / "detector.onnx",
            detector_image,
            detector_random,
            list(POSTPROCESS["detector"]["outputs"].values()),
        )
        ctx.progress("converting the landmark model")
        d2 = _convert(
            landmarks,
            writer.dir / "landmarks.onnx",
            landmark_image,
            landmark_random,
            list(POSTPROCESS["landmarks"]["outputs"].values()),
        )
        # max_abs_diff covers the outputs sensekit reads, on a real image. The landmark
        # outputs are pixel coordinates up to ~350, where float32 summation order alone
        # moves them by ~1e-3: on random noise (activations far outside what a person crop
        # gives) ORT is 1.7e-3 from TFLite's built-in kernels, and TFLite's own XNNPACK
        # 5.3e-3. The unused segmentation logits reach ~1500 (relative diff 3e-4).
        manifest["conversion"] = {
            "from": "tflite",
            "tool": "tf2onnx",
            "max_abs_diff": max(d1["max_abs_diff"], d2["max_abs_diff"]),
            "graphs": {"detector": d1, "landmarks": d2},
            "reference": "TFLite built-in kernels (XNNPACK off)",
            "verified_on": "astronaut.png (a person) and uniform noise in the graphs' input ranges",
        }
        writer.add_text("labels.txt", "\n".join(KEYPOINTS) + "\n")
        manifest["labels"] = "labels.txt"


RECIPE = register(
    Recipe(
        name=NAME,
        task="pose-estimation",
        summary="BlazePose detector + full landmark model, 33 body keypoints",
        license="Apache-2.0",
        sources={
            "detector": (DETECTOR, UrlSource.pypi(DETECTOR)),
            "landmarks": (LANDMARKS, UrlSource.pypi(LANDMARKS)),
        },
        build=_build,
        requires=("tensorflow", "tf2onnx", "flatbuffers"),
        revision=2,
    )
)
