"""The hostile-input corpus: each item is refused with a 4xx and a message saying what was wrong,
in the one error body; never a 500, a hang or a crash; and the service is healthy after it. Some
odd images are valid: those are accepted, and their conversion is checked against a reference.

Images, base64 in JSON to /encode unless said otherwise:

| item                                     | st. | outcome                                         |
|------------------------------------------|-----|-------------------------------------------------|
| truncated PNG, JPEG, GIF                 | 415 | "truncated or corrupt" / "not a decodable image"|
| zero bytes; text, SVG, HTML; PNG magic   | 415 | "not a decodable image"                         |
| then garbage; SVG as a multipart file    |     |                                                 |
| PNG, JPEG, GIF headers saying 30000x30000| 413 | "... MAX_IMAGE_PIXELS", from the header alone   |
| a bomb after two good images             | 413 | refused before any image is decoded (fixed: the |
|                                          |     | good ones used to be decoded first)             |
| 1x1 PNG                                  | 200 | stretched: = a uniform image of its value       |
| 4984x4984 RGBA PNG (24.8M pixels, under  | 200 | box-reduced first: within a gray level on       |
| the limit, 0.4 MiB)                      |     | average of full-size preprocessing; the live    |
|                                          |     | server's peak memory stays low (fixed: this one |
|                                          |     | upload used to take ~580 MB)                    |
| animated GIF                             | 200 | its first frame: = that frame as a PNG          |
| 16-bit grayscale PNG; 16-bit RGB PNG     | 200 | high byte kept: = the 8-bit picture             |
| CMYK JPEG                                | 200 | via RGB: = the same JPEG saved as RGB           |
| palette PNG with a transparent index     | 200 | flattened on black: = those pixels made black   |
| EXIF orientation 6, PNG / JPEG           | 200 | turned upright: = / ~ the upright picture       |
| EXIF orientation 9 (no such); corrupt    | 200 | EXIF ignored: = the plain picture               |

JSON (bodies up to 16 MiB; the JSON budget is counted in the raw bytes, before parsing):

| item                                     | st. | outcome                                         |
|------------------------------------------|-----|-------------------------------------------------|
| base64 that isn't                        | 422 | "not valid base64"                              |
| a data: URL without a comma              | 422 | "needs a comma" (fixed: was a 500)              |
| malformed JSON                           | 422 | "Invalid JSON"                                  |
| a form sent url-encoded                  | 422 | "Invalid JSON ... send ... multipart/form-data" |
| nested 250 deep                          | 422 | the parser's "recursion limit"                  |
| nested 10^6 deep; 2.7M vectors; one      | 422 | JSON budget: "more than any valid request"      |
| vector of 8M numbers; an unknown field   |     | (fixed: up to 1.4 GB and 6 s of a blocked event |
| of 8M numbers; 1M attributes             |     | loop before validation could refuse them)       |
| one vector of 5000 numbers               | 422 | "at most 4096" (bundle.MAX_LATENT_DIM)         |
| 300 attributes in an edit                | 422 | "at most 256" (VAE_SERVE_MAX_ITEMS; was free)   |
| multipart field "[[NaN, 0]]"             | 422 | "not valid JSON" (fixed: "should be a list")    |
| multipart field nested 2000 deep         | 422 | JSON budget                                     |
| unknown fields, in JSON and multipart    | 422 | "Extra inputs are not permitted"                |

Numbers, for fashion-vae-2d (a 2-d latent):

| item                                     | st. | outcome                                         |
|------------------------------------------|-----|-------------------------------------------------|
| z holding NaN, Infinity, -Infinity (the  | 422 | "finite number"                                 |
| parser reads these words); 1e400         |     |                                                 |
| z holding 1e38                           | 422 | "less than or equal to 10000": see below        |
| z of the wrong dimension                 | 422 | "takes 2-d codes"                               |
| z = []; z = [[]]                         | 422 | "at least 1 item"                               |
| n = 10^9; steps = 10^6                   | 422 | "at most 256" (VAE_SERVE_MAX_ITEMS)             |
| project: neighbours = 10^9; z NaN; 257   | 422 | "less than or equal to 64"; "finite number";    |
| codes; 2.7M codes                        |     | "at most 256"; JSON budget                      |
| n = 10^5000                              | 422 | "Invalid JSON: number out of range"             |

1e38 is a finite float32, but decoding it overflows the decoder's arithmetic: NaN pixels, which
the PNG encoder would quietly turn black. So codes beyond |1e4| (latents.MAX_ABS_LATENT) are
refused, a bound at which every served decoder is checked below to give finite pixels.

Names:

| item                                     | st. | outcome                                         |
|------------------------------------------|-----|-------------------------------------------------|
| model "..", "café", RTL override, NUL,   | 404 | "no model named ...", listing the real models   |
| fullwidth look-alike: GET, POST, the     |     |                                                 |
| attribute GET, PUT and DELETE routes,    |     |                                                 |
| the map, its sprite and project          |     |                                                 |
| model "../../etc/passwd", %-encoded      | 404 | no route matches: "no such endpoint"            |
| attribute "Trousеr" (Cyrillic е), "..",  | 404 | "has no attribute", listing the real ones       |
| "../x" in an edit                        |     |                                                 |
| attribute of 201 characters in an edit   | 422 | "at most 200 characters"                        |
| custom attribute names for PUT/DELETE:   | 422 | in test_custom_attributes.py:                   |
| Unicode, look-alikes, control chars,     | 404 | test_invalid_names_are_422,                     |
| "../" (in-process: httpx resolves dots)  | 405 | test_path_tricks_never_reach_the_disk           |
| PUT/DELETE .../attributes/.. and /.,     | 422 | live server: the name pattern refuses them      |
| sent raw, the dots unresolved            |     |                                                 |
| raw non-ASCII bytes in the request line  | 400 | live server: uvicorn refuses it in plain text   |
|                                          |     | before the app sees it, and keeps serving       |

The nastiest items also go to a real server process over HTTP (`live_server`), which must answer
each, stay healthy, and keep its peak memory far below what they used to cost.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from liveserver.server import Server
from service import imaging
from service.bodies import check_json_size
from service.registry import Loaded
from service.schemas.latents import MAX_ABS_LATENT
from service.schemas.requests import CustomAttributeRequest, DecodeRequest, EditRequest
from tests.service.helpers import (
    VAE,
    assert_error,
    assert_healthy,
    b64,
    png_file,
    png_header_only,
    saved,
    z_mean,
)
from vae_core.bundle import MAX_LATENT_DIM, read_manifest
from vae_core.graphs import load_autoencoder
from vae_core.preprocess import Preprocessing

pytestmark = pytest.mark.unit

LATENT_DIM = 2  # of VAE
ORIENTATION = 0x0112  # the EXIF tag
OVER_BUDGET = "more than any valid request"
ENCODE, DECODE, EDIT = f"{VAE}/encode", f"{VAE}/decode", f"{VAE}/edit"
PROJECT = f"{VAE}/project"


# ---------------------------------------------------------------------------------- the corpus


def picture() -> Image.Image:
    """A 28x28 grayscale picture with structure (a diagonal gradient and a bright bar)."""
    ramp = np.add.outer(np.arange(28), np.arange(28)) * 4
    ramp[10:18, 6:22] = 250
    return Image.fromarray(ramp.astype(np.uint8))


def truncated(format: str) -> bytes:
    """The first half of a 112x112 `format` file: its header whole, its pixel data cut."""
    data = saved(picture().resize((112, 112)), format)
    return data[: len(data) // 2]


def bomb(format: str) -> bytes:
    """A `format` file whose header declares 30000x30000 pixels, with no pixel data to match."""
    if format == "PNG":
        return png_header_only(30000, 30000)
    data = bytearray(saved(picture(), format))
    if format == "GIF":  # the logical screen's width and height, after the signature
        data[6:10] = (30000).to_bytes(2, "little") * 2
    else:  # JPEG: height and width in the baseline frame header
        frame = data.index(b"\xff\xc0")
        data[frame + 5 : frame + 9] = (30000).to_bytes(2, "big") * 2
    return bytes(data)


def nested(depth: int) -> bytes:
    return b'{"z": ' + b"[" * depth + b"]" * depth + b"}"


def raw_code(number: str) -> Callable[[], bytes]:
    """A body with `number` written as is in a code (json.dumps would refuse or rewrite it)."""
    return lambda: b'{"z": [[%s, 0]]}' % number.encode()


def many_vectors(count: int) -> bytes:
    return b'{"z": [' + b"[0,0]," * count + b"[0,0]]}"


def long_vector(length: int) -> bytes:
    return b'{"z": [[' + b"0," * length + b"0]]}"


def long_unknown_field(length: int) -> bytes:
    return b'{"z": [[0, 0]], "x": [' + b"0," * length + b"0]}"


def many_attributes(count: int) -> bytes:
    names = b",".join(b'"a%d": 1' % i for i in range(count))
    return b'{"z": [[0, 0]], "attributes": {' + names + b"}}"


def form(**fields: str) -> Callable[[], list[tuple[str, tuple[None, str]]]]:
    """Multipart text fields (no file name)."""
    return lambda: [(name, (None, text)) for name, text in fields.items()]


@dataclass(frozen=True)
class Hostile:
    """One corpus item: a request and the refusal it must get."""

    id: str
    path: str  # after /v1/models/
    body: Callable[[], Any]  # JSON-able; bytes, sent as `content_type`; or multipart parts
    status: int
    code: str
    says: str  # part of the message: what the client did wrong
    method: str = "POST"
    multipart: bool = False
    content_type: str = "application/json"


def images(*data: bytes) -> Callable[[], dict[str, list[str]]]:
    return lambda: {"images": [b64(d) for d in data]}


def undecodable(id: str, data: bytes, says: str = "not a decodable image") -> Hostile:
    return Hostile(id, ENCODE, images(data), 415, "unsupported_image", says)


def too_big(id: str, data: bytes) -> Hostile:
    return Hostile(id, ENCODE, images(data), 413, "payload_too_large", "MAX_IMAGE_PIXELS")


def invalid(id: str, path: str, body: Callable[[], Any], says: str, **options: Any) -> Hostile:
    return Hostile(id, path, body, 422, "invalid_input", says, **options)


def unknown_model(id: str, model: str, method: str, route: str) -> Hostile:
    return Hostile(
        id,
        model + route,
        lambda: {"z": [[0, 0]]},
        404,
        "model_not_found",
        "no model named",
        method=method,
    )


def unknown_attribute(id: str, path: str, body: Callable[[], Any], method: str) -> Hostile:
    return Hostile(id, path, body, 404, "attribute_not_found", "has no attribute", method=method)


IMAGE_ITEMS = [
    undecodable("truncated-PNG", truncated("PNG"), says="truncated or corrupt"),
    undecodable("truncated-JPEG", truncated("JPEG"), says="truncated or corrupt"),
    undecodable("truncated-GIF-header-only", b"GIF89a" + b"\0" * 10),
    undecodable("zero-bytes", b""),
    undecodable("text", b"hello, I am not an image"),
    undecodable("svg", b"<svg xmlns='http://www.w3.org/2000/svg' width='28' height='28'/>"),
    undecodable("html", b"<html><body><img src='x.png'></body></html>"),
    undecodable("png-magic-then-garbage", b"\x89PNG\r\n\x1a\n" + b"\xff" * 64),
    Hostile(
        "svg-file-part",
        ENCODE,
        lambda: [("images", ("x.png", b"<svg/>", "image/png"))],
        415,
        "unsupported_image",
        "not a decodable image",
        multipart=True,
    ),
    *(too_big(f"bomb-30000x30000-{format}", bomb(format)) for format in ("PNG", "JPEG", "GIF")),
]
JSON_ITEMS = [
    invalid("not-base64", ENCODE, lambda: {"images": ["%%% no %%%"]}, "not valid base64"),
    invalid(
        "data-url-without-comma",
        ENCODE,
        lambda: {"images": ["data:image/png;base64"]},
        "needs a comma",
    ),
    invalid("malformed", DECODE, lambda: b"{", "Invalid JSON"),
    invalid(
        "url-encoded-form",
        DECODE,
        lambda: b"z=%5B%5B0%2C0%5D%5D",
        "multipart/form-data",
        content_type="application/x-www-form-urlencoded",
    ),
    invalid("nested-250-deep", DECODE, lambda: nested(250), "recursion limit"),
    invalid("nested-10^6-deep", DECODE, lambda: nested(10**6), OVER_BUDGET),
    invalid("2.7M-vectors", DECODE, lambda: many_vectors(2_700_000), OVER_BUDGET),
    invalid("vector-of-8M-numbers", DECODE, lambda: long_vector(8_000_000), OVER_BUDGET),
    invalid("unknown-8M-numbers", DECODE, lambda: long_unknown_field(8_000_000), OVER_BUDGET),
    invalid("1M-attributes", EDIT, lambda: many_attributes(10**6), OVER_BUDGET),
    invalid("vector-of-5000-numbers", DECODE, lambda: {"z": [[0.0] * 5000]}, "at most 4096"),
    invalid("300-attributes", EDIT, lambda: many_attributes(300), "at most 256"),
    invalid("multipart-NaN", DECODE, form(z="[[NaN, 0]]"), "not valid JSON", multipart=True),
    invalid(
        "multipart-nested-2000-deep",
        DECODE,
        form(z="[" * 2000 + "]" * 2000),
        OVER_BUDGET,
        multipart=True,
    ),
    invalid("unknown-field", DECODE, lambda: {"z": [[0, 0]], "debug": True}, "Extra inputs"),
    invalid(
        "multipart-unknown-field",
        DECODE,
        form(z="[[0, 0]]", debug="true"),
        "Extra inputs",
        multipart=True,
    ),
]
NUMBER_ITEMS = [
    *(
        invalid(f"z-{number}", DECODE, raw_code(number), "finite number")
        for number in ("NaN", "Infinity", "-Infinity", "1e400")
    ),
    invalid("z-1e38", DECODE, lambda: {"z": [[1e38, 0.0]]}, "less than or equal to 10000"),
    invalid("z-wrong-dimension", DECODE, lambda: {"z": [[0.1, 0.2, 0.3]]}, "takes 2-d codes"),
    invalid("z-empty", DECODE, lambda: {"z": []}, "at least 1 item"),
    invalid("z-empty-vector", DECODE, lambda: {"z": [[]]}, "at least 1 item"),
    invalid("n-10^9", f"{VAE}/sample", lambda: {"n": 10**9}, "at most 256"),
    invalid("n-10^5000", f"{VAE}/sample", lambda: b'{"n": 1%s}' % (b"0" * 5000), "Invalid JSON"),
    invalid(
        "steps-10^6",
        f"{VAE}/interpolate",
        lambda: {"z": [[0, 0], [1, 1]], "steps": 10**6},
        "at most 256",
    ),
    invalid(
        "project-neighbours-10^9",
        PROJECT,
        lambda: {"z": [[0, 0]], "neighbours": 10**9},
        "less than or equal to 64",
    ),
    invalid("project-z-NaN", PROJECT, lambda: b'{"z": [[NaN, 0]]}', "finite number"),
    invalid("project-257-codes", PROJECT, lambda: {"z": [[0, 0]] * 257}, "at most 256"),
    invalid("project-2.7M-codes", PROJECT, lambda: many_vectors(2_700_000), OVER_BUDGET),
]
ODD_MODELS = {  # percent-encoded, as a client sends them
    "dot-dot": "%2E%2E",
    "unicode": "caf%C3%A9",
    "rtl-override": "%E2%80%AEevil",
    "nul": "a%00b",
    "fullwidth-look-alike": "%EF%BD%86ashion-vae-2d",  # ｆashion-vae-2d
}
ROUTES = [
    ("GET", ""),
    ("POST", "/decode"),
    ("GET", "/attributes/Trouser"),
    ("PUT", "/attributes/handbag"),
    ("DELETE", "/attributes/handbag"),
    ("GET", "/map"),
    ("GET", "/map/sprite"),
    ("POST", "/project"),
]
NAME_ITEMS = [
    *(
        unknown_model(f"model-{name}-{method}{route}", model, method, route)
        for name, model in ODD_MODELS.items()
        for method, route in ROUTES
    ),
    Hostile(
        "model-path-escape",
        "..%2F..%2Fetc%2Fpasswd/decode",
        lambda: {"z": [[0, 0]]},
        404,
        "not_found",
        "no such endpoint",
    ),
    unknown_attribute(
        "attribute-cyrillic-look-alike", f"{VAE}/attributes/Trous%D0%B5r", lambda: None, "GET"
    ),
    unknown_attribute("attribute-dot-dot", f"{VAE}/attributes/%2E%2E", lambda: None, "GET"),
    unknown_attribute(
        "edit-attribute-path", EDIT, lambda: {"z": [[0, 0]], "attributes": {"../x": 1}}, "POST"
    ),
    invalid(
        "edit-attribute-201-characters",
        EDIT,
        lambda: {"z": [[0, 0]], "attributes": {"a" * 201: 1}},
        "at most 200 characters",
    ),
]
CORPUS = IMAGE_ITEMS + JSON_ITEMS + NUMBER_ITEMS + NAME_ITEMS
# Also sent to a real server: what used to cost the most, or what a process could die of.
NASTIEST = (
    "nested-10^6-deep",
    "2.7M-vectors",
    "vector-of-8M-numbers",
    "1M-attributes",
    "bomb-30000x30000-PNG",
    "bomb-30000x30000-JPEG",
    "data-url-without-comma",
)


def send(client: httpx.Client, item: Hostile) -> httpx.Response:
    url = f"/v1/models/{item.path}"
    body = item.body()
    if item.multipart:
        return client.request(item.method, url, files=body)
    if isinstance(body, bytes):
        headers = {"content-type": item.content_type}
        return client.request(item.method, url, content=body, headers=headers)
    return client.request(item.method, url, json=body)


def assert_refused(client: httpx.Client, item: Hostile) -> None:
    error = assert_error(send(client, item), item.status, item.code)
    assert item.says in error["message"], error["message"]


# ------------------------------------------------------------------------------------ refused


def test_corpus_ids_are_unique() -> None:
    ids = [item.id for item in CORPUS]
    assert len(ids) == len(set(ids))
    assert set(NASTIEST) <= set(ids)


@pytest.mark.parametrize("item", CORPUS, ids=lambda item: item.id)
def test_hostile_input_is_refused_clearly(
    client: TestClient, trouser: bytes, item: Hostile
) -> None:
    assert_refused(client, item)
    assert_healthy(client, trouser)


@pytest.mark.parametrize("max_items", [8, 256])
def test_the_largest_valid_bodies_fit_the_json_budget(max_items: int) -> None:
    urls = [f"data:image/png;base64,{b64(saved(picture(), 'PNG'))}"] * max_items
    names = {f"a{i}": 1.0 for i in range(max_items)}
    largest = [
        (DecodeRequest, {"z": [[MAX_ABS_LATENT] * MAX_LATENT_DIM] * max_items}),
        (EditRequest, {"images": urls, "attributes": names, "format": "strip"}),
        (EditRequest, {"z": [[0.5] * MAX_LATENT_DIM], "attributes": names,
                       "sweep": {"attribute": "a0", "strengths": [1.0] * max_items}}),
        (CustomAttributeRequest, {"positive": urls, "negative": urls}),
    ]  # fmt: skip
    for model, body in largest:
        text = orjson.dumps(body)
        model.model_validate_json(text, context={"max_items": max_items})  # valid, then:
        check_json_size([text], max_items)  # not refused


def test_a_bomb_after_good_images_is_refused_before_any_is_decoded(
    client: TestClient, trouser: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    converted: list[Image.Image] = []
    to_pixels = Preprocessing.to_pixels

    def counting(self: Preprocessing, image: Image.Image) -> np.ndarray:
        converted.append(image)
        return to_pixels(self, image)

    monkeypatch.setattr(Preprocessing, "to_pixels", counting)
    response = client.post(f"/v1/models/{ENCODE}", json=images(trouser, trouser, bomb("PNG"))())
    assert_error(response, 413, "payload_too_large")
    assert converted == []
    assert_healthy(client, trouser)
    assert len(converted) == 1  # the good request's image: the counter counts


# ------------------------------------------------------------------------ accepted, converted


@pytest.fixture(scope="module")
def garment(trouser: bytes) -> Image.Image:
    return Image.open(io.BytesIO(trouser)).convert("L")


def assert_same_code(client: TestClient, upload: bytes, reference: bytes) -> None:
    """The upload encodes to the reference's code: it was converted to the same pixels."""
    z = z_mean(client, upload, reference)
    np.testing.assert_allclose(z[0], z[1], atol=1e-6)


def test_1x1_is_stretched_to_a_uniform_image(client: TestClient) -> None:
    one = saved(Image.new("L", (1, 1), 77), "PNG")
    assert_same_code(client, one, saved(Image.new("L", (28, 28), 77), "PNG"))


def test_animated_gif_gives_its_first_frame(client: TestClient, garment: Image.Image) -> None:
    others = [garment.rotate(90), garment.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    animated = saved(garment, "GIF", save_all=True, append_images=others, duration=50, loop=0)
    assert Image.open(io.BytesIO(animated)).n_frames == 3
    assert_same_code(client, animated, saved(garment, "PNG"))


def test_16_bit_grayscale_png_keeps_the_high_byte(client: TestClient, garment: Image.Image) -> None:
    deep = np.asarray(garment).astype(np.uint16) * 257  # the same picture on 0..65535
    assert_same_code(client, saved(Image.fromarray(deep), "PNG"), saved(garment, "PNG"))


def test_16_bit_rgb_png_keeps_the_high_byte(client: TestClient, garment: Image.Image) -> None:
    gray = np.asarray(garment).astype(">u2") * 257
    rows = b"".join(b"\0" + row.tobytes() for row in np.repeat(gray[..., None], 3, axis=2))
    rgb48 = png_file(garment.width, garment.height, 16, 2, rows)  # filter 0, big-endian samples
    assert Image.open(io.BytesIO(rgb48)).mode == "RGB"
    assert_same_code(client, rgb48, saved(garment, "PNG"))


def test_cmyk_jpeg_converts_like_the_same_jpeg_in_rgb(
    client: TestClient, garment: Image.Image
) -> None:
    rgb = garment.convert("RGB")
    assert_same_code(client, saved(rgb.convert("CMYK"), "JPEG"), saved(rgb, "JPEG"))


def test_palette_transparency_is_flattened_on_black(
    client: TestClient, garment: Image.Image
) -> None:
    palette = garment.quantize(16)
    indices = np.asarray(palette)
    clear = int(np.bincount(indices.ravel()).argmax())  # the most used colour: the background
    flattened = np.where(indices == clear, 0, np.asarray(palette.convert("L"))).astype(np.uint8)
    with_alpha = saved(palette, "PNG", transparency=clear)
    assert_same_code(client, with_alpha, saved(Image.fromarray(flattened), "PNG"))


def exif(orientation: int) -> bytes:
    tags = Image.Exif()
    tags[ORIENTATION] = orientation
    return tags.tobytes()


def test_exif_rotated_png_encodes_like_the_upright_image(
    client: TestClient, garment: Image.Image
) -> None:
    # Orientation 6: the stored pixels must be turned 90° clockwise to display.
    stored = garment.transpose(Image.Transpose.ROTATE_90)
    assert_same_code(client, saved(stored, "PNG", exif=exif(6)), saved(garment, "PNG"))


def test_exif_rotated_jpeg_encodes_close_to_the_upright_image(
    client: TestClient, garment: Image.Image
) -> None:
    upright = garment.resize((112, 112)).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    z = z_mean(
        client,
        saved(upright, "JPEG", quality=95),
        saved(stored, "JPEG", quality=95, exif=exif(6)),
        saved(stored, "JPEG", quality=95),
    )
    # JPEG blocks fall differently once turned: close, not equal; far closer than unturned.
    assert np.linalg.norm(z[0] - z[1]) < 0.1 * np.linalg.norm(z[0] - z[2])


@pytest.mark.parametrize(
    "exif_block", [exif(9), b"Exif\0\0" + b"\xff" * 40], ids=["orientation-9", "corrupt"]
)
def test_meaningless_exif_is_ignored(
    client: TestClient, garment: Image.Image, exif_block: bytes
) -> None:
    rgb = garment.convert("RGB")
    assert_same_code(client, saved(rgb, "PNG", exif=exif_block), saved(rgb, "PNG"))


@pytest.fixture(scope="module")
def huge_garment(garment: Image.Image) -> bytes:
    """The garment as a 4984x4984 RGBA PNG: 24.8M pixels, just under the limit, ~100 MB decoded."""
    big = garment.resize((4984, 4984), Image.Resampling.NEAREST).convert("RGBA")
    return saved(big, "PNG", compress_level=1)


def test_huge_upload_is_reduced_first_and_converted_alike(
    client: TestClient, model_dir: Path, huge_garment: bytes
) -> None:
    assert z_mean(client, huge_garment).shape == (1, LATENT_DIM)
    preprocessing = read_manifest(model_dir / VAE).preprocessing
    limits = imaging.ImageLimits(max_pixels=4984**2, max_request_pixels=4984**2)
    reduced_first = imaging.to_model_input([huge_garment], preprocessing, limits)
    full_size = preprocessing.apply([Image.open(io.BytesIO(huge_garment))])
    gray_levels = np.abs(reduced_first - full_size) * 255
    assert gray_levels.mean() < 1 and gray_levels.max() < 16


def test_latent_bound_keeps_every_served_decoder_finite(client: TestClient) -> None:
    """Why 1e38 is refused: it overflows a decoder (NaN); codes within MAX_ABS_LATENT do not."""
    registry = client.app.state.context.registry
    for model in (entry.model for entry in registry.entries() if isinstance(entry, Loaded)):
        signs = np.stack([np.ones(model.latent_dim), (-1.0) ** np.arange(model.latent_dim)])
        extremes = np.vstack([signs, -signs]) * MAX_ABS_LATENT
        assert np.isfinite(model.decode(extremes)).all(), model.name
    overflowing = np.full((1, LATENT_DIM), 1e38, np.float32)
    fp32 = load_autoencoder(registry.get(VAE).decoder.path.parent)  # int8 saturates instead
    assert not np.isfinite(fp32.decode(overflowing)).all()


# ----------------------------------------------------------------------------- a real server


@pytest.fixture
def live(live_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        yield http


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
    return int(kilobytes) / 1024


@pytest.mark.e2e
def test_a_real_server_survives_the_nastiest_items(
    live: httpx.Client, live_server: Server, trouser: bytes, huge_garment: bytes
) -> None:
    before = peak_memory_mb(live_server.pid)
    for item in (item for item in CORPUS if item.id in NASTIEST):
        assert_refused(live, item)
        assert_healthy(live, trouser)
    assert z_mean(live, huge_garment).shape == (1, LATENT_DIM)
    assert_healthy(live, trouser)
    # Now ~220 MB, the huge image's decoded pixels and one copy. Before the JSON budget the 2.7M
    # vectors alone took ~1.4 GB; before the early reduction the huge image took ~570 MB.
    assert peak_memory_mb(live_server.pid) - before < 400


def raw_request(url: str, method: str, target: bytes, body: bytes = b"") -> httpx.Response:
    """Send the request line as is: no client library resolves its dots or encodes its bytes."""
    address = urlsplit(url)
    head = b"%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" % (method.encode(), target)
    head += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(head + body)
        reply = b"".join(iter(lambda: connection.recv(65536), b""))
    status_line, _, rest = reply.partition(b"\r\n")
    return httpx.Response(int(status_line.split()[1]), content=rest.partition(b"\r\n\r\n")[2])


@pytest.mark.e2e
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_dot_segments_sent_raw_never_name_a_custom_attribute(
    live: httpx.Client, live_server: Server, trouser: bytes, method: str
) -> None:
    examples = orjson.dumps({"positive": [b64(trouser)] * 3, "negative": [b64(trouser)] * 3})
    for name in (b"..", b"."):
        target = b"/v1/models/%s/attributes/%s" % (VAE.encode(), name)
        response = raw_request(live_server.url, method, target, examples)
        assert "should match pattern" in assert_error(response, 422, "invalid_input")["message"]
    response = raw_request(live_server.url, method, b"/v1/models/../attributes/x", examples)
    assert "no model named '..'" in assert_error(response, 404, "model_not_found")["message"]
    assert_healthy(live, trouser)


@pytest.mark.e2e
def test_raw_non_ascii_request_line_is_refused_before_the_app(
    live: httpx.Client, live_server: Server, trouser: bytes
) -> None:
    """uvicorn's HTTP parser answers a plain-text 400 (no JSON body: the app never sees it)."""
    response = raw_request(live_server.url, "GET", "/v1/models/café".encode())
    assert response.status_code == 400
    assert_healthy(live, trouser)
