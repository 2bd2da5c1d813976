"""Uploads of any size, mode and common format are converted exactly as in training; the odd ones
are accepted and converted (checked here), the broken ones refused with a 4xx, never a 500."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.service.helpers import b64

URL = "/v1/models/fashion-vae-2d/encode"


def saved(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def z_mean(client: TestClient, *images: bytes) -> np.ndarray:
    response = client.post(URL, json={"images": [b64(i) for i in images]})
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["z_mean"])


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


def test_exif_rotation_is_applied(client: TestClient, garment: Image.Image) -> None:
    upright = garment.resize((112, 112)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the stored pixels must be turned 90° clockwise to display
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    z = z_mean(
        client,
        saved(upright, "JPEG", quality=95),
        saved(stored, "JPEG", quality=95, exif=exif.tobytes()),
        saved(stored, "JPEG", quality=95),
    )
    assert np.linalg.norm(z[0] - z[1]) < 0.1 * np.linalg.norm(z[0] - z[2])


@pytest.mark.parametrize(
    "convert",
    [
        lambda g: saved(g.convert("CMYK"), "JPEG"),
        lambda g: saved(g.convert("P"), "PNG", transparency=0),
        lambda g: saved(g.convert("RGB"), "WEBP", lossless=True),
        lambda g: saved(g, "BMP"),
        lambda g: saved(g, "GIF", save_all=True, append_images=[g.rotate(90)], duration=50),
        lambda g: saved(g.resize((1, 1)), "PNG"),
        lambda g: saved(g.resize((700, 300)), "PNG"),
    ],
    ids=["cmyk-jpeg", "palette-alpha", "webp", "bmp", "animated-gif-first-frame", "1x1", "wide"],
)
def test_other_modes_and_formats_are_accepted(
    client: TestClient, garment: Image.Image, convert: object
) -> None:
    assert callable(convert)
    assert z_mean(client, convert(garment)).shape == (1, 2)


def test_16_bit_png_is_scaled_not_clipped(client: TestClient, garment: Image.Image) -> None:
    deep = np.asarray(garment).astype(np.uint16) * 257  # the same picture on 0..65535
    z = z_mean(client, saved(garment, "PNG"), saved(Image.fromarray(deep), "PNG"))
    np.testing.assert_allclose(z[0], z[1], atol=1e-6)


@pytest.mark.parametrize(
    "payload",
    [
        lambda g: saved(g, "PNG")[: len(saved(g, "PNG")) // 2],  # truncated
        lambda g: saved(g, "JPEG")[: len(saved(g, "JPEG")) // 2],
        lambda g: saved(g, "TIFF"),  # a real image, in a format we do not accept
        lambda g: b"GIF89a" + b"\0" * 10,
        lambda g: b"\x89PNG\r\n\x1a\n" + b"\xff" * 64,
    ],
    ids=["truncated-png", "truncated-jpeg", "tiff", "gif-header-only", "png-garbage"],
)
def test_broken_or_unsupported_images_are_415(
    client: TestClient, garment: Image.Image, payload: object
) -> None:
    assert callable(payload)
    response = client.post(URL, json={"images": [b64(payload(garment))]})
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_image"
