"""Uploads of any size, mode and common format are converted exactly as in training. The odd and
broken ones (1x1, 16-bit, CMYK, palette with alpha, EXIF rotation, animations, truncated files,
bombs) are in the hostile-input corpus, test_hostile_input.py."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service import imaging
from tests.service.helpers import VAE, assert_error, b64, saved, z_mean

pytestmark = pytest.mark.unit

URL = f"/v1/models/{VAE}/encode"


@pytest.fixture(scope="module")
def garment(trouser: bytes) -> Image.Image:
    return Image.open(io.BytesIO(trouser)).convert("L")


def test_opaque_rgba_equals_grayscale(client: TestClient, garment: Image.Image) -> None:
    rgba = garment.convert("RGBA")
    z = z_mean(client, saved(garment, "PNG"), saved(rgba, "PNG"))
    np.testing.assert_allclose(z[0], z[1], atol=1e-6)


def test_transparency_becomes_the_black_background(
    client: TestClient, garment: Image.Image
) -> None:
    white = Image.new("L", garment.size, 255)
    transparent = Image.merge("RGBA", [white, white, white, garment])  # alpha = the garment
    z = z_mean(client, saved(garment, "PNG"), saved(transparent, "PNG"))
    np.testing.assert_allclose(z[0], z[1], atol=1e-5)


@pytest.mark.parametrize(
    "convert",
    [
        lambda g: saved(g.convert("RGB"), "WEBP", lossless=True),
        lambda g: saved(g, "BMP"),
        lambda g: saved(g.resize((700, 300)), "PNG"),
    ],
    ids=["webp", "bmp", "wide"],
)
def test_other_formats_and_sizes_are_accepted(
    client: TestClient, garment: Image.Image, convert: object
) -> None:
    assert callable(convert)
    assert z_mean(client, convert(garment)).shape == (1, 2)


def test_a_real_image_in_a_format_we_do_not_accept_is_415(
    client: TestClient, garment: Image.Image
) -> None:
    response = client.post(URL, json={"images": [b64(saved(garment, "TIFF"))]})
    assert "accepted formats" in assert_error(response, 415, "unsupported_image")["message"]


def test_decoder_output_maps_to_pixels_with_clipping_and_no_nan() -> None:
    out = np.array([[[[np.nan, np.inf, -np.inf, 0.5, 1.2, -0.1, 0.0, 1.0]]]], np.float32)
    assert imaging.to_uint8(out).tolist() == [[[0, 255, 0, 128, 255, 0, 0, 255]]]
    rgb = np.zeros((1, 3, 2, 2), np.float32)
    rgb[0, 0] = 1.0  # red channel
    assert imaging.to_uint8(rgb)[0, 0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize("shape", [(3, 28, 28), (2, 64, 48, 3), (1, 1, 5)])
def test_the_png_writer_round_trips_every_pixel(shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    written = imaging.encode_pngs(pixels)
    assert len(written) == shape[0]
    for data, expected in zip(written, pixels, strict=True):
        image = Image.open(io.BytesIO(data))
        image.load()  # checks every chunk's CRC and the zlib stream
        assert image.mode == ("RGB" if len(shape) == 4 else "L")
        np.testing.assert_array_equal(np.asarray(image), expected)
    assert imaging.encode_pngs(pixels) == written  # the same pixels, the same bytes
