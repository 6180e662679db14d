"""Turns whatever the caller has (path, bytes, PIL image, numpy array) into RGB uint8.

Everything goes through :func:`load_image`, which applies EXIF orientation, refuses
decompression bombs before decoding, and raises :class:`InvalidInput` with the reason
for anything it cannot use.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensekit.accelerate import image as kernels
from sensekit.core.blocks import ImagePreprocess
from sensekit.core.errors import InvalidInput

ImageInput = str | os.PathLike | bytes | bytearray | memoryview | np.ndarray | Any


def _check_header(data: bytes, what: str) -> None:
    """Reads only the header to refuse images above the pixel limit before decoding."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except Image.DecompressionBombError as e:
        raise InvalidInput(f"{what}: image is too large to decode safely ({e})") from e
    except Exception:
        return  # not a format PIL knows; OpenCV gets its chance
    if width * height > kernels.MAX_PIXELS:
        raise InvalidInput(
            f"{what}: image is {width}x{height} = {width * height / 1e6:.0f} Mpx, "
            f"above the {kernels.MAX_PIXELS / 1e6:.0f} Mpx limit "
            f"(sensekit.accelerate.image.MAX_PIXELS)"
        )


def _from_bytes(data: bytes, what: str) -> np.ndarray:
    if not data:
        raise InvalidInput(f"{what}: empty image data")
    _check_header(data, what)
    try:
        return kernels.decode(data)
    except ValueError as e:
        raise InvalidInput(f"{what}: {e}") from e


def _from_pil(picture: Any) -> np.ndarray:
    from PIL import ImageOps

    try:
        picture = ImageOps.exif_transpose(picture)
        if picture.mode not in ("RGB", "L", "RGBA", "I;16", "I", "F"):
            picture = picture.convert("RGB")
        return np.asarray(picture)
    except Exception as e:
        raise InvalidInput(f"PIL image could not be read: {e}") from e


def load_image(source: ImageInput, bgr: bool = False) -> np.ndarray:
    """Returns an RGB uint8 HxWx3 array for a path, bytes, PIL image or array.

    Args:
        source: the image. Arrays are HxW, HxWx1, HxWx3 or HxWx4; uint8, uint16 or float
            in [0, 1] / [0, 255].
        bgr: the array's channels are in OpenCV's BGR order.

    Raises:
        InvalidInput: missing file, undecodable or truncated data, bad shape/dtype, NaN,
            or an image above the pixel limit.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise InvalidInput(f"{path} is a directory, not an image file")
        if not path.is_file():
            raise InvalidInput(f"Image file not found: {path}")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InvalidInput(f"Cannot read image file {path}: {e}") from e
        array = _from_bytes(data, str(path))
    elif isinstance(source, (bytes, bytearray, memoryview)):
        array = _from_bytes(bytes(source), "image bytes")
    elif isinstance(source, np.ndarray):
        array = source
    elif type(source).__module__.startswith("PIL."):
        array = _from_pil(source)
    else:
        raise InvalidInput(
            f"Unsupported image type {type(source).__name__}; pass a path, "
            f"bytes, a PIL image or a numpy array"
        )
    try:
        rgb = kernels.to_rgb8(array, bgr=bgr and isinstance(source, np.ndarray))
    except ValueError as e:
        raise InvalidInput(str(e)) from e
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise InvalidInput(f"Image has no pixels (shape {rgb.shape})")
    return rgb


def region(image: np.ndarray, roi: tuple[float, float, float, float] | None) -> np.ndarray:
    """Crops a normalized (x, y, width, height) region of interest; None keeps all."""
    if roi is None:
        return image
    h, w = image.shape[:2]
    x, y, rw, rh = roi
    patch = kernels.crop(
        image, round(x * w), round(y * h), max(1, round(rw * w)), max(1, round(rh * h))
    )
    if patch.size == 0:
        raise InvalidInput(f"region_of_interest {roi} selects no pixels")
    return patch


def check_roi(roi: Any) -> None:
    """Validates a normalized (x, y, width, height) region; raises ValueError."""
    if roi is None:
        return
    if len(roi) != 4 or not all(isinstance(v, (int, float)) for v in roi):
        raise InvalidInput("region_of_interest must be (x, y, width, height) in [0, 1]")
    x, y, w, h = roi
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x + 1e-9 and 0 < h <= 1 - y + 1e-9):
        raise InvalidInput(f"region_of_interest {roi} must lie inside the unit square")


def preprocess(
    image: np.ndarray, spec: ImagePreprocess | dict[str, Any]
) -> tuple[np.ndarray, kernels.Transform]:
    """Resizes and normalizes as a package's image block says (``manifest.inputs``; a
    raw ``preprocess`` dict is parsed first)."""
    if not isinstance(spec, ImagePreprocess):
        spec = ImagePreprocess.parse(spec)
    width, height = spec.size
    fitted, transform = kernels.fit(
        image, width, height, spec.resize, spec.crop_fraction, spec.interpolation
    )
    return normalize(fitted, spec), transform


def normalize(pixels: np.ndarray, spec: ImagePreprocess) -> np.ndarray:
    """Already-fitted pixels -> the input tensor (scale, mean/std, layout, channel order)."""
    return kernels.normalize(
        pixels, spec.scale, spec.mean, spec.std, spec.layout, bgr=spec.color == "BGR"
    )


@dataclass(frozen=True)
class Prepared:
    """A model input tensor plus what is needed to map its pixels back to the image.

    Attributes:
        tensor: the normalized model input.
        transform: model-input pixels -> region pixels (see accelerate.image.Transform).
        offset: (x, y) of the region of interest's top-left corner in image pixels.
        image_size: (width, height) of the whole image.
        pixels: the region the tensor was made from (RGB uint8), for second-stage crops.
    """

    tensor: np.ndarray
    transform: kernels.Transform
    offset: tuple[int, int]
    image_size: tuple[int, int]
    pixels: np.ndarray

    def to_image(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model-input pixel coordinates -> normalized [0, 1] image coordinates (unclipped)."""
        px, py = self.transform.to_source(np.asarray(x, np.float64), np.asarray(y, np.float64))
        return self.region_to_image(px, py)

    def region_to_image(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Region pixel coordinates -> normalized [0, 1] image coordinates (unclipped)."""
        return (
            (np.asarray(x) + self.offset[0]) / self.image_size[0],
            (np.asarray(y) + self.offset[1]) / self.image_size[1],
        )


def prepare(
    source: ImageInput,
    spec: ImagePreprocess | dict[str, Any],
    roi: tuple[float, float, float, float] | None = None,
    bgr: bool = False,
) -> Prepared:
    """load_image + region of interest + manifest preprocessing, keeping the geometry."""
    image = load_image(source, bgr=bgr)
    h, w = image.shape[:2]
    offset = (0, 0) if roi is None else (max(0, round(roi[0] * w)), max(0, round(roi[1] * h)))
    pixels = region(image, roi)
    tensor, transform = preprocess(pixels, spec)
    return Prepared(tensor, transform, offset, (w, h), pixels)
