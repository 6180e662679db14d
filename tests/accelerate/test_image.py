"""accelerate.image against OpenCV and PIL on real photos, plus shape properties."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sensekit.accelerate import image

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def chelsea(media) -> np.ndarray:
    return image.decode(media("chelsea.png").read_bytes())


def test_decode_matches_pil(media, chelsea):
    for name in ("chelsea.png", "dog.jpg"):
        ours = image.decode(media(name).read_bytes())
        theirs = np.asarray(Image.open(media(name)).convert("RGB"))
        assert ours.shape == theirs.shape and ours.dtype == np.uint8
        # JPEG decoders (libjpeg-turbo builds) may differ by a few levels; PNG is exact.
        assert np.abs(ours.astype(int) - theirs).max() <= (0 if name.endswith("png") else 8)
    with pytest.raises(ValueError, match="decodable"):
        image.decode(b"not an image")


@pytest.mark.parametrize(
    "mode,pil", [("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC), ("area", Image.BOX)]
)
def test_resize_close_to_pil(chelsea, mode, pil):
    ours = image.resize(chelsea, 224, 160, mode).astype(np.float32)
    theirs = np.asarray(Image.fromarray(chelsea).resize((224, 160), pil), np.float32)
    assert ours.shape == (160, 224, 3)
    assert np.abs(ours - theirs).mean() < 3.0  # different kernels' support, same picture


def test_normalize_matches_numpy_reference(chelsea):
    rgb = image.resize(chelsea, 224, 224)
    expected = ((rgb / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None]
    ours = image.normalize(rgb, 1 / 255.0, MEAN, STD)
    assert ours.shape == (1, 3, 224, 224) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    np.testing.assert_allclose(
        image.normalize(rgb, 1 / 255.0, MEAN, STD, layout="NHWC")[0],
        expected[0].transpose(1, 2, 0),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        image.normalize(rgb, bgr=True)[0, 0], rgb[:, :, 2] / 255.0, atol=1e-6
    )


def test_letterbox_geometry_round_trips(chelsea):
    out, transform = image.letterbox(chelsea, 320, 320, fill=114)
    assert out.shape == (320, 320, 3)
    h, w = chelsea.shape[:2]
    x, y = transform.to_source(
        np.array([transform.pad_x, 320 - transform.pad_x]),
        np.array([transform.pad_y, 320 - transform.pad_y]),
    )
    np.testing.assert_allclose([x[0], x[1], y[0], y[1]], [0, w, 0, h], atol=1.5)
    assert transform.pad_y > 0 and np.all(out[0] == 114) and np.all(out[-1] == 114)


def test_center_crop_and_color(chelsea):
    out, _ = image.center_crop(chelsea, 224, 224, 0.875)
    assert out.shape == (224, 224, 3)
    gray = cv2.cvtColor(chelsea, cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(image.to_rgb8(gray)[:, :, 1], gray)
    np.testing.assert_array_equal(image.to_rgb8(chelsea[:, :, ::-1], bgr=True), chelsea)
    restored = image.to_rgb8(chelsea.astype(np.float32) / 255.0).astype(int)
    assert np.abs(restored - chelsea).max() <= 1  # float -> uint8 truncates


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 300),
    w=st.integers(1, 300),
    out_w=st.integers(1, 256),
    out_h=st.integers(1, 256),
    mode=st.sampled_from(["area", "bilinear", "bicubic", "nearest"]),
    fit=st.sampled_from(["center_crop", "scale_fit", "scale_fill"]),
)
def test_resize_and_fit_shapes(h, w, out_w, out_h, mode, fit):
    picture = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    assert image.resize(picture, out_w, out_h, mode).shape == (out_h, out_w, 3)
    fitted, _ = image.fit(picture, out_w, out_h, fit, interpolation=mode)
    assert fitted.shape == (out_h, out_w, 3)
    planes = image.normalize(fitted)
    assert planes.shape == (1, 3, out_h, out_w) and 0.0 <= planes.min() <= planes.max() <= 1.0
