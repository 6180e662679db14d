"""A small anchor-free detector (CenterNet, Zhou et al. 2019) that trains on a CPU.

Backbone: the EfficientNet-Lite0 trunk (ImageNet weights from the same registry package as
``vision.classify``'s default) up to stride 16, with the stride-4 and stride-8 features fed
through a light top-down neck to one stride-4 map. Heads per cell, after one shared
separable 3x3 stage: a class heatmap, the box size (log of width and height in cells) and
the sub-cell offset of the centre.

The exported graph decodes itself: ``scores`` [N, cells, classes] are the heatmap's local
maxima (3x3, CenterNet's "NMS"), ``boxes`` [N, cells, 4] the decoded (x0, y0, x1, y1) in
input pixels, so ``vision.detect`` reads it with its generic ``dense`` decoder.

PyTorch is imported lazily: this module is only used to train and to export.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

STRIDE = 4
TRUNK_BLOCKS = 11  # EfficientNet-Lite0 blocks 0-10: stride 16, 112 channels
SKIPS = {2: 24, 4: 40}  # block index -> channels of the stride-4 and stride-8 features
# The stem and blocks 0-4 (strides 2-8) keep their ImageNet weights: their backward pass on
# large maps was most of a training step on the CPU (measured: a batch of 16 at 384 px took
# as long with them trainable as the whole forward and neck), and the higher blocks,
# neck and heads adapt to the new objects.
FROZEN_BLOCKS = 5
NECK = 64
HEAT_PRIOR = 0.01  # initial heatmap probability (focal-loss bias init)


def build(classes: int, pretrained: Path | None = None) -> Any:
    """The detector as a torch.nn.Module; ``pretrained`` is the EfficientNet-Lite0 .pth."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet
    from torch import nn

    if pretrained is not None:
        trunk = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(pretrained))
    else:
        trunk = EfficientNet.from_name("efficientnet-lite0")

    def separable(channels: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def head(out: int, bias: float = 0.0) -> nn.Module:
        last = nn.Conv2d(NECK, out, 1)
        nn.init.constant_(last.bias, bias)
        return last

    class CenterNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(trunk._conv_stem, trunk._bn0, trunk._swish)
            self.blocks = nn.ModuleList(trunk._blocks[:TRUNK_BLOCKS])
            self.lateral16 = nn.Conv2d(112, NECK, 1)
            self.lateral8 = nn.Conv2d(SKIPS[4], NECK, 1)
            self.lateral4 = nn.Conv2d(SKIPS[2], NECK, 1)
            self.smooth8, self.smooth4 = separable(NECK), separable(NECK)
            # one shared 3x3 stage feeds three 1x1 heads: three full 3x3 convolutions at
            # stride 4 cost 2 GFLOP per 384 px image, more than the whole trunk
            self.shared = separable(NECK)
            self.heat = head(classes, -math.log((1 - HEAT_PRIOR) / HEAT_PRIOR))
            self.size = head(2)
            self.offset = head(2)

        def features(self, image: torch.Tensor) -> torch.Tensor:
            x = self.stem(image)
            skips = {}
            for index, block in enumerate(self.blocks):
                x = block(x)
                if index in SKIPS:
                    skips[index] = x
            up = nn.functional.interpolate
            top = self.lateral16(x)
            x8 = self.smooth8(self.lateral8(skips[4]) + up(top, scale_factor=2.0))
            return self.smooth4(self.lateral4(skips[2]) + up(x8, scale_factor=2.0))

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
            x = self.shared(self.features(image))
            return self.heat(x), self.size(x), self.offset(x)

    model = CenterNet()
    freeze_early(model)
    return model


def freeze_early(model: Any) -> None:
    """Keeps the stem and the first blocks at their ImageNet weights (and statistics)."""
    for module in [model.stem, *model.blocks[:FROZEN_BLOCKS]]:
        for param in module.parameters():
            param.requires_grad_(False)
        module.eval()


class Decoded:
    """Wraps a trained CenterNet so its outputs are ``boxes`` and ``scores`` (exported)."""

    def __new__(cls, model: Any) -> Any:
        import torch
        from torch import nn

        class Module(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = model

            def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                heat, size, offset = self.net(image)
                heat = torch.sigmoid(heat)
                peaks = heat * (nn.functional.max_pool2d(heat, 3, 1, 1) == heat).float()
                n, classes, height, width = heat.shape
                ys = (
                    torch.arange(height, dtype=heat.dtype)
                    .view(1, height, 1)
                    .expand(1, height, width)
                )
                xs = (
                    torch.arange(width, dtype=heat.dtype).view(1, 1, width).expand(1, height, width)
                )
                cx = (xs + torch.sigmoid(offset[:, 0])) * STRIDE
                cy = (ys + torch.sigmoid(offset[:, 1])) * STRIDE
                w = torch.exp(size[:, 0].clamp(max=6.0)) * STRIDE
                h = torch.exp(size[:, 1].clamp(max=6.0)) * STRIDE
                boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
                return (
                    boxes.reshape(n, height * width, 4),
                    peaks.permute(0, 2, 3, 1).reshape(n, height * width, classes),
                )

        return Module()


def gaussian_sigma(width: float, height: float) -> float:
    """Heatmap spread in cells for a box of ``width`` x ``height`` cells (grows with size,
    as CenterNet's radius does, at least half a cell)."""
    return max(0.5, 0.15 * math.sqrt(max(width, 1e-3) * max(height, 1e-3)))


def encode_targets(
    boxes: np.ndarray, labels: np.ndarray, classes: int, size: int, max_objects: int = 128
) -> dict[str, np.ndarray]:
    """Training targets at stride 4 for boxes [N, 4] in input pixels of a ``size`` square.

    Returns heat [classes, S, S], and per object (padded to ``max_objects``) the flat cell
    index, log size and centre offset targets with a validity mask.
    """
    cells = size // STRIDE
    heat = np.zeros((classes, cells, cells), np.float32)
    index = np.zeros(max_objects, np.int64)
    wh = np.zeros((max_objects, 2), np.float32)
    offset = np.zeros((max_objects, 2), np.float32)
    mask = np.zeros(max_objects, np.float32)
    ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float32)
    for k, (box, label) in enumerate(zip(boxes[:max_objects], labels[:max_objects])):
        x0, y0, x1, y1 = box / STRIDE
        w, h = x1 - x0, y1 - y0
        if w <= 0.25 or h <= 0.25:
            continue
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ix, iy = min(int(cx), cells - 1), min(int(cy), cells - 1)
        sigma = gaussian_sigma(w, h)
        blob = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma * sigma))
        np.maximum(heat[label], blob, out=heat[label])
        index[k], mask[k] = iy * cells + ix, 1.0
        wh[k] = np.log([w, h])
        offset[k] = np.clip([cx - ix, cy - iy], 1e-3, 1 - 1e-3)
    return {"heat": heat, "index": index, "wh": wh, "offset": offset, "mask": mask}


def loss(outputs: tuple, targets: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    """CenterNet's penalty-reduced focal loss on the heatmap + L1 on size and offset."""
    import torch

    heat, size, offset = outputs
    pred = torch.sigmoid(heat).clamp(1e-4, 1 - 1e-4)
    gt = targets["heat"]
    positive = gt.eq(1).float()
    negative_weight = torch.pow(1 - gt, 4)
    pos_loss = torch.log(pred) * torch.pow(1 - pred, 2) * positive
    neg_loss = torch.log(1 - pred) * torch.pow(pred, 2) * negative_weight * (1 - positive)
    count = positive.sum().clamp(min=1.0)
    focal = -(pos_loss.sum() + neg_loss.sum()) / count

    def gather(map_: torch.Tensor) -> torch.Tensor:  # [N, 2, H, W] -> [N, K, 2]
        flat = map_.flatten(2).transpose(1, 2)
        return flat.gather(1, targets["index"].unsqueeze(-1).expand(-1, -1, 2))

    mask = targets["mask"].unsqueeze(-1)
    objects = mask.sum().clamp(min=1.0)
    size_loss = (torch.abs(gather(size) - targets["wh"]) * mask).sum() / objects
    off_pred = torch.sigmoid(gather(offset))
    off_loss = (torch.abs(off_pred - targets["offset"]) * mask).sum() / objects
    total = focal + size_loss + off_loss
    return total, {"heat": focal.item(), "size": size_loss.item(), "offset": off_loss.item()}
