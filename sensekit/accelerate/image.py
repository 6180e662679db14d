"""Image kernels: decode, resize, letterbox, crop, color, normalize to NCHW float32.

Backed by OpenCV where it is fastest (decode, resize, warp); normalization fuses
scale, mean and std into one multiply-add per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_PIXELS = 100_000_000  # decompression-bomb guard: 100 Mpx (~10000x10000)

_INTERPOLATION = {
    "area": cv2.INTER_AREA,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
}


@dataclass(frozen=True)
class Transform:
    """How model-input pixels map back to source pixels: src = (dst - pad) / scale + offset."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0

    def to_source(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            (x - self.pad_x) / self.scale_x + self.offset_x,
            (y - self.pad_y) / self.scale_y + self.offset_y,
        )


def decode(data: bytes) -> np.ndarray:
    """Decodes encoded image bytes to an RGB uint8 array (EXIF orientation applied).

    Grayscale becomes 3 channels, alpha is dropped, 16-bit is scaled to 8-bit.

    Raises:
        ValueError: the bytes are not a decodable image.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR_RGB) if buffer.size else None
    if image is None:
        raise ValueError("not a decodable image (corrupt, truncated or not an image format)")
    return image


def to_rgb8(array: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Brings an HxW, HxWx1, HxWx3 or HxWx4 array of any numeric dtype to RGB uint8."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"image array must be HxW or HxWxC with C in 1, 3, 4; got {array.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            if not np.all(np.isfinite(array)):
                raise ValueError("image array contains NaN or infinite values")
            peak = 1.0 if array.size == 0 or float(array.max()) <= 1.0 else 255.0
            array = np.clip(array * (255.0 / peak), 0, 255).astype(np.uint8)
        elif array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        elif np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
            array = np.clip(array, 0, 255).astype(np.uint8)
        else:
            raise ValueError(f"unsupported image dtype {array.dtype}")
    channels = array.shape[2]
    if channels == 1:
        return np.ascontiguousarray(np.repeat(array, 3, axis=2))
    array = array[:, :, :3]
    return np.ascontiguousarray(array[:, :, ::-1] if bgr else array)


def resize(
    image: np.ndarray, width: int, height: int, interpolation: str = "bilinear"
) -> np.ndarray:
    """Resizes to exactly width x height; 'area' is used automatically when shrinking >2x."""
    h, w = image.shape[:2]
    mode = _INTERPOLATION[interpolation]
    if interpolation == "bilinear" and (w > 2 * width or h > 2 * height):
        mode = cv2.INTER_AREA  # avoids aliasing on strong downscale
    return cv2.resize(image, (int(width), int(height)), interpolation=mode)


def crop(image: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """A view of a rectangle, clipped to the image."""
    h, w = image.shape[:2]
    x0, y0 = max(0, int(x)), max(0, int(y))
    return image[y0 : min(h, y0 + int(height)), x0 : min(w, x0 + int(width))]


def center_crop(
    image: np.ndarray,
    width: int,
    height: int,
    fraction: float = 0.875,
    interpolation: str = "bilinear",
) -> tuple[np.ndarray, Transform]:
    """Resizes so the crop of ``fraction`` of the shorter side fills width x height."""
    h, w = image.shape[:2]
    scale = max(width, height) / (fraction * min(h, w))
    crop_w, crop_h = width / scale, height / scale
    # Tiny images give crops under a pixel: keep at least one (and at most the image).
    crop_w, crop_h = min(max(crop_w, 1.0), w), min(max(crop_h, 1.0), h)
    x0, y0 = (w - crop_w) / 2.0, (h - crop_h) / 2.0
    patch = crop(image, round(x0), round(y0), round(crop_w), round(crop_h))
    out = resize(patch, width, height, interpolation)
    return out, Transform(
        width / max(patch.shape[1], 1), height / max(patch.shape[0], 1), 0, 0, round(x0), round(y0)
    )


def letterbox(
    image: np.ndarray, width: int, height: int, fill: int = 0, interpolation: str = "bilinear"
) -> tuple[np.ndarray, Transform]:
    """Scales to fit inside width x height keeping aspect, padding the rest (scale_fit)."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = resize(image, new_w, new_h, interpolation)
    pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
    out = cv2.copyMakeBorder(
        resized,
        pad_y,
        height - new_h - pad_y,
        pad_x,
        width - new_w - pad_x,
        cv2.BORDER_CONSTANT,
        value=(fill, fill, fill),
    )
    return out, Transform(new_w / w, new_h / h, pad_x, pad_y)


def scale_fill(
    image: np.ndarray, width: int, height: int, interpolation: str = "bilinear"
) -> tuple[np.ndarray, Transform]:
    """Stretches to width x height, ignoring aspect."""
    h, w = image.shape[:2]
    return resize(image, width, height, interpolation), Transform(width / w, height / h, 0, 0)


def fit(
    image: np.ndarray,
    width: int,
    height: int,
    mode: str,
    crop_fraction: float = 0.875,
    interpolation: str = "bilinear",
) -> tuple[np.ndarray, Transform]:
    """Dispatches on Apple Vision's crop-and-scale modes."""
    if mode == "center_crop":
        return center_crop(image, width, height, crop_fraction, interpolation)
    if mode == "scale_fit":
        return letterbox(image, width, height, interpolation=interpolation)
    if mode == "scale_fill":
        return scale_fill(image, width, height, interpolation)
    raise ValueError(f"resize mode must be center_crop, scale_fit or scale_fill, not {mode!r}")


def normalize(
    image: np.ndarray,
    scale: float = 1 / 255.0,
    mean: tuple[float, ...] = (0, 0, 0),
    std: tuple[float, ...] = (1, 1, 1),
    layout: str = "NCHW",
    bgr: bool = False,
) -> np.ndarray:
    """uint8 HxWx3 RGB -> float32 [1,3,H,W] (or NHWC) of ((x*scale) - mean) / std.

    The three constants fold into one multiply and one add per value.
    """
    pixels = image[:, :, ::-1] if bgr else image
    gain = np.float32(scale) / np.asarray(std, np.float32)
    offset = -np.asarray(mean, np.float32) / np.asarray(std, np.float32)
    if layout == "NCHW":
        planes = np.empty((1, 3, pixels.shape[0], pixels.shape[1]), np.float32)
        for c in range(3):
            np.multiply(pixels[:, :, c], gain[c], out=planes[0, c], casting="unsafe")
            planes[0, c] += offset[c]
        return planes
    if layout == "NHWC":
        return (pixels.astype(np.float32) * gain + offset)[None]
    raise ValueError(f"layout must be NCHW or NHWC, not {layout!r}")


def warp_affine(
    image: np.ndarray, matrix: np.ndarray, width: int, height: int, border: str = "replicate"
) -> np.ndarray:
    """Applies a 2x3 affine map (source -> destination) with bilinear sampling.

    ``border`` is "replicate" (edge pixels extended: what MediaPipe's ImageToTensor does
    when no border mode is set, and BlazePose's landmark model expects) or "zero".
    """
    modes = {"replicate": cv2.BORDER_REPLICATE, "zero": cv2.BORDER_CONSTANT}
    if border not in modes:
        raise ValueError(f"border must be one of {sorted(modes)}, not {border!r}")
    return cv2.warpAffine(
        image,
        np.asarray(matrix, np.float64),
        (int(width), int(height)),
        flags=cv2.INTER_LINEAR,
        borderMode=modes[border],
        borderValue=0,
    )
