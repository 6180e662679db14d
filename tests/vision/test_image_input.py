"""Image input: every accepted form, EXIF, crop-and-scale modes, and bad input."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from sensekit.core.errors import InvalidInput
from sensekit.vision import image_input
from sensekit.vision.image_input import load_image, prepare


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _huge_png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (no real pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_every_input_form_gives_the_same_pixels(media, tmp_path):
    path = media("chelsea.png")
    reference = load_image(path)
    assert reference.shape[2] == 3 and reference.dtype == np.uint8
    assert np.array_equal(load_image(str(path)), reference)
    assert np.array_equal(load_image(path.read_bytes()), reference)
    assert np.array_equal(load_image(Image.open(path)), reference)
    assert np.array_equal(load_image(reference), reference)
    assert np.array_equal(load_image(reference[:, :, ::-1].copy(), bgr=True), reference)


def test_exif_orientation_is_applied():
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", exif=exif.tobytes())
    data = buffer.getvalue()
    assert load_image(data).shape[:2] == (40, 20)
    assert load_image(Image.open(io.BytesIO(data))).shape[:2] == (40, 20)


@pytest.mark.parametrize(
    "mode,expected", [("center_crop", (0, 0)), ("scale_fit", (0, 50)), ("scale_fill", (0, 0))]
)
def test_crop_and_scale_modes_map_back_to_the_image(mode, expected):
    image = np.zeros((100, 200, 3), np.uint8)
    spec = {"size": [200, 200], "resize": mode, "crop_fraction": 1.0, "scale": 1 / 255.0}
    frame = prepare(image, spec)
    assert frame.tensor.shape == (1, 3, 200, 200)
    # the model-input centre maps to the image centre in every mode
    x, y = frame.to_image(np.array([100.0]), np.array([100.0]))
    assert x[0] == pytest.approx(0.5, abs=0.01) and y[0] == pytest.approx(0.5, abs=0.01)
    assert (frame.transform.pad_x, frame.transform.pad_y) == expected


def test_region_of_interest_offsets_coordinates():
    image = np.zeros((100, 200, 3), np.uint8)
    frame = prepare(image, {"size": [50, 50], "resize": "scale_fill"}, roi=(0.5, 0.5, 0.5, 0.5))
    assert frame.pixels.shape[:2] == (50, 100)
    x, y = frame.to_image(np.array([0.0, 50.0]), np.array([0.0, 50.0]))
    assert np.allclose(x, [0.5, 1.0]) and np.allclose(y, [0.5, 1.0])


@pytest.mark.parametrize("kind", ["gray", "rgba", "uint16", "float"])
def test_unusual_pixel_formats_become_rgb8(kind):
    base = np.random.default_rng(0).integers(0, 255, (8, 9, 3), dtype=np.uint8)
    sources = {
        "gray": _png_bytes(base[:, :, 0]),
        "rgba": _png_bytes(np.dstack([base, np.full((8, 9), 128, np.uint8)])),
        "uint16": _png_bytes(base[:, :, 0].astype(np.uint16) * 257),
        "float": base.astype(np.float32) / 255.0,
    }
    image = load_image(sources[kind])
    assert image.shape == (8, 9, 3) and image.dtype == np.uint8


def _bad_inputs(tmp_path):
    jpeg = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(jpeg, format="JPEG")
    text = tmp_path / "notes.txt"
    text.write_text("this is not an image\n")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    nan = np.full((32, 32, 3), np.nan, np.float32)
    return {
        "truncated jpeg": jpeg.getvalue()[: len(jpeg.getvalue()) // 3],
        "text file": text,
        "empty file": empty,
        "huge header": _huge_png_header(20000, 20000),
        "nan array": nan,
        "missing file": tmp_path / "missing.png",
        "wrong type": 42,
        "bad shape": np.zeros((4, 4, 7), np.uint8),
    }


def test_bad_inputs_raise_invalid_input(tmp_path):
    for name, value in _bad_inputs(tmp_path).items():
        with pytest.raises(InvalidInput):
            load_image(value)
        if name == "huge header":
            with pytest.raises(InvalidInput, match=r"Mpx|too large"):
                load_image(value)


@pytest.mark.parametrize("task", ["detector", "poser", "classifier"])
def test_every_task_refuses_bad_input_and_handles_tiny_images(task, request, tmp_path):
    run = request.getfixturevalue(task)
    for value in _bad_inputs(tmp_path).values():
        with pytest.raises(InvalidInput):
            run(value)
    assert isinstance(run(np.zeros((1, 1, 3), np.uint8)), list)  # 1x1: a (likely empty) result
    assert isinstance(run(_png_bytes(np.zeros((5, 7), np.uint8))), list)


def test_max_pixels_is_the_documented_limit():
    assert image_input.kernels.MAX_PIXELS < 20000 * 20000
