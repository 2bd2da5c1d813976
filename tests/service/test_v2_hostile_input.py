"""The hostile-input corpus of the Open Inference Protocol routes (/v2): each item is refused with
a 4xx in V2's error shape, `{"error": "message"}`, whose message says what was wrong; never a 500,
a hang or a crash; and the service is healthy after it. The nastiest also go to a real server.

| item                                              | st. | outcome                               |
|---------------------------------------------------|-----|---------------------------------------|
| unknown bundle; a bundle without `.encoder`/      | 404 | "no model named", naming the two      |
| `.decoder`; an unknown graph; a versions path     |     | graphs; a versions path: no such      |
|                                                   |     | endpoint                              |
| GET on /infer                                     | 405 | "Method Not Allowed", in V2's shape   |
| model "..", "...", "café.encoder", NUL, RTL       | 404 | "no model named": metadata, ready and |
| override: GET, GET /ready, POST /infer            |     | infer                                 |
| datatype FP64, INT32, BYTES, "fp32"               | 422 | "must be FP32"                        |
| shape of the wrong rank or size; N = 0; N = 257   | 422 | "must have shape [N, ...] with 1 <= N |
|                                                   |     | <= 256" (VAE_SERVE_MAX_ITEMS)         |
| too few or too many numbers; no data; nested data;| 422 | "needs N numbers in a flat `data`     |
| strings or booleans for numbers                   |     | list" / "invalid inference request"   |
| NaN (the parser reads the word), 2.0 or -1 in an  | 422 | "finite and in [0, 1]" / "[-10000,    |
| image; 1e5 in a code; NaN as binary data          |     | 10000]"                               |
| two inputs; an unknown input or output name       | 422 | "takes one input" / "has outputs"     |
| binary_data_size wrong, negative, or beside data; | 422 | "needs binary_data_size"              |
| bytes after a header that announces none          |     |                                       |
| Inference-Header-Content-Length "abc", 0, past    | 422 | "must be the JSON header's length"    |
| the body                                          |     |                                       |
| malformed JSON; gzip bytes; a JSON array; no      | 422 | "invalid inference request"           |
| inputs; binary_data_output "yes"                  |     |                                       |
| 8M numbers for a 2-d decoder; arrays 10^5 deep    | 422 | "more than any valid request", before |
|                                                   |     | parsing                               |
| a body over VAE_SERVE_MAX_BODY_BYTES              | 413 | "MAX_BODY_BYTES", in V2's shape       |
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from liveserver.server import Server
from tests.service.helpers import VAE, assert_healthy

pytestmark = pytest.mark.unit

ENCODER, DECODER = f"{VAE}.encoder", f"{VAE}.decoder"
IMAGE = [1, 1, 32, 32]  # the encoder's input, one image
HEADER_LENGTH = "Inference-Header-Content-Length"
BUDGET = "more than any valid request"
ODD_NAMES = {  # percent-encoded, as a client sends them
    "dot-dot": "%2E%2E",
    "unicode": "caf%C3%A9.encoder",
    "nul": "a%00b.decoder",
    "rtl-override": "%E2%80%AEevil.encoder",
    "dots-only": "...",
}


def tensor(name: str, shape: list[int], datatype: str = "FP32", **fields: Any) -> dict[str, Any]:
    count = int(np.prod(shape))
    return {"name": name, "shape": shape, "datatype": datatype, "data": [0.5] * count} | fields


def request(*inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"inputs": list(inputs)} | fields


def binary(header: dict[str, Any], data: bytes) -> tuple[bytes, dict[str, str]]:
    """A binary-extension body: the JSON header, then `data`."""
    text = orjson.dumps(header)
    return text + data, {HEADER_LENGTH: str(len(text))}


def z_binary(size: int, data: bytes) -> tuple[bytes, dict[str, str]]:
    header = {"name": "z", "shape": [1, 2], "datatype": "FP32"}
    return binary(request(header | {"parameters": {"binary_data_size": size}}), data)


@dataclass(frozen=True)
class Hostile:
    id: str
    model: str
    body: Callable[[], Any]  # JSON-able; or bytes (with headers)
    status: int
    says: str
    method: str = "POST"
    path: str = "/infer"
    headers: dict[str, str] = field(default_factory=dict)


def refused(id: str, model: str, body: Callable[[], Any], says: str, **options: Any) -> Hostile:
    return Hostile(id, model, body, 422, says, **options)


def encoder_input(**fields: Any) -> Callable[[], dict[str, Any]]:
    return lambda: request(tensor("image", IMAGE) | fields)


def raw(text: bytes) -> Callable[[], bytes]:
    return lambda: text


CORPUS = [
    Hostile("unknown-bundle", "no-such-bundle.encoder", request, 404, "no model named"),
    Hostile("bundle-without-graph", VAE, request, 404, "<bundle>.encoder"),
    Hostile("unknown-graph", f"{VAE}.middle", request, 404, "<bundle>.decoder"),
    Hostile("versions-path", ENCODER, lambda: None, 404, "no such endpoint", "GET", "/versions/1"),
    Hostile("get-on-infer", ENCODER, lambda: None, 405, "Method Not Allowed", "GET"),
    *(
        Hostile(f"odd-name-{name}{route or '-metadata'}", odd, lambda: None, 404,
                "no model named", "GET", route)
        for name, odd in ODD_NAMES.items()
        for route in ("", "/ready")
    ),
    *(
        Hostile(f"odd-name-{name}-infer", odd, request, 404, "no model named")
        for name, odd in ODD_NAMES.items()
    ),
    *(
        refused(f"datatype-{kind}", ENCODER, encoder_input(datatype=kind), "must be FP32")
        for kind in ("FP64", "INT32", "BYTES", "fp32")
    ),
    refused("rank-3", ENCODER, lambda: request(tensor("image", [1, 32, 32])), "must have shape"),
    refused("28x28", ENCODER, lambda: request(tensor("image", [1, 1, 28, 28])), "must have shape"),
    refused("no-rows", ENCODER, lambda: request(tensor("image", [0, 1, 32, 32])), "1 <= N <= 256"),
    refused("257-rows", DECODER, lambda: request(tensor("z", [257, 2])), "1 <= N <= 256"),
    refused("too-few-numbers", DECODER, lambda: request(tensor("z", [2, 2], data=[0.0] * 3)),
            "needs 4 numbers"),
    refused("too-many-numbers", DECODER, lambda: request(tensor("z", [1, 2], data=[0.0] * 3)),
            "needs 2 numbers"),
    refused("no-data", DECODER, lambda: request(tensor("z", [1, 2], data=None)), "no data"),
    refused("nested-data", DECODER, lambda: request(tensor("z", [1, 2], data=[[0.0, 0.0]])),
            "invalid inference request"),
    refused("string-data", DECODER, lambda: request(tensor("z", [1, 2], data=["0", "1"])),
            "invalid inference request"),
    refused("boolean-data", DECODER, lambda: request(tensor("z", [1, 2], data=[True, False])),
            "invalid inference request"),
    refused("nan-in-image", ENCODER,
            raw(orjson.dumps(request(tensor("image", IMAGE))).replace(b"0.5", b"NaN", 1)),
            "finite and in [0, 1]"),
    refused("2-in-image", ENCODER, encoder_input(data=[2.0] * 1024), "finite and in [0, 1]"),
    refused("minus-1-in-image", ENCODER, encoder_input(data=[-1.0] * 1024), "in [0, 1]"),
    refused("1e5-in-code", DECODER, lambda: request(tensor("z", [1, 2], data=[1e5, 0.0])),
            "in [-10000, 10000]"),
    refused("nan-as-binary", DECODER,
            lambda: z_binary(8, np.array([np.nan, 0], "<f4").tobytes()), "finite"),
    refused("two-inputs", DECODER, lambda: request(tensor("z", [1, 2]), tensor("z", [1, 2])),
            "takes one input"),
    refused("unknown-input", DECODER, lambda: request(tensor("x", [1, 2])), "takes one input, 'z'"),
    refused("unknown-output", DECODER,
            lambda: request(tensor("z", [1, 2]), outputs=[{"name": "z_mean"}]), "has outputs"),
    refused("binary-size-wrong", DECODER, lambda: z_binary(4, b"\0" * 4), "binary_data_size 8"),
    refused("binary-size-past-body", DECODER, lambda: z_binary(8, b"\0" * 4), "binary_data_size 8"),
    refused("binary-size-negative", DECODER, lambda: z_binary(-8, b""), "greater than or equal"),
    refused("binary-beside-data", DECODER,
            lambda: binary(request(tensor("z", [1, 2], parameters={"binary_data_size": 8})),
                           b"\0" * 8), "beside a data list"),
    refused("bytes-after-json-data", DECODER,
            lambda: binary(request(tensor("z", [1, 2])), b"\0" * 8), "bytes after the header"),
    *(
        Hostile(f"header-length-{value}", DECODER,
                raw(orjson.dumps(request(tensor("z", [1, 2])))), 422,
                "must be the JSON header's length", headers={HEADER_LENGTH: value})
        for value in ("abc", "0", "-5", "99999")
    ),
    refused("malformed-json", DECODER, raw(b'{"inputs": ['), "invalid inference request"),
    refused("gzip-body", DECODER, lambda: gzip.compress(orjson.dumps(request(tensor("z", [1, 2])))),
            "invalid inference request"),
    refused("json-array", DECODER, raw(b"[1, 2]"), "invalid inference request"),
    refused("no-inputs", DECODER, lambda: {"inputs": []}, "at least 1 item"),
    refused("binary-output-yes", DECODER,
            lambda: request(tensor("z", [1, 2]), parameters={"binary_data_output": "yes"}),
            "invalid inference request"),
    refused("8M-numbers", DECODER,
            raw(b'{"inputs": [{"name": "z", "shape": [1, 2], "datatype": "FP32", "data": ['
                + b"0," * 8_000_000 + b"0]}]}"), BUDGET),
    refused("10^5-deep", DECODER, raw(b"[" * 100_000 + b"]" * 100_000), BUDGET),
    Hostile("over-the-body-limit", DECODER, raw(b"0" * (16 * 1024 * 1024 + 1)), 413,
            "MAX_BODY_BYTES"),
]  # fmt: skip
NASTIEST = ("8M-numbers", "10^5-deep", "over-the-body-limit", "nan-as-binary", "gzip-body")


def send(client: httpx.Client, item: Hostile) -> httpx.Response:
    url = f"/v2/models/{item.model}{item.path}"
    body = item.body()
    if item.method == "GET":
        return client.get(url)
    if isinstance(body, tuple):  # a binary body and its header length
        content, headers = body
        return client.post(url, content=content, headers=headers | item.headers)
    if isinstance(body, bytes):
        return client.post(url, content=body, headers=item.headers)
    return client.post(url, json=body, headers=item.headers)


def assert_refused(client: httpx.Client, item: Hostile) -> None:
    response = send(client, item)
    assert response.status_code == item.status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    assert item.says in body["error"], body["error"]


def test_corpus_ids_are_unique() -> None:
    ids = [item.id for item in CORPUS]
    assert len(ids) == len(set(ids))
    assert set(NASTIEST) <= set(ids)


@pytest.mark.parametrize("item", CORPUS, ids=lambda item: item.id)
def test_hostile_v2_input_is_refused_clearly(
    client: TestClient, trouser: bytes, item: Hostile
) -> None:
    assert_refused(client, item)
    assert_healthy(client, trouser)


def test_a_valid_request_passes_the_same_checks(client: TestClient) -> None:
    """The corpus is refused for what it holds: the same requests, made valid, succeed."""
    as_json = client.post(f"/v2/models/{ENCODER}/infer", json=request(tensor("image", IMAGE)))
    assert as_json.status_code == 200, as_json.text
    content, headers = z_binary(8, b"\0" * 8)
    as_binary = client.post(f"/v2/models/{DECODER}/infer", content=content, headers=headers)
    assert as_binary.status_code == 200, as_binary.text


@pytest.fixture
def live(live_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        yield http


@pytest.mark.e2e
def test_a_real_server_survives_the_nastiest_v2_items(live: httpx.Client, trouser: bytes) -> None:
    for item in (item for item in CORPUS if item.id in NASTIEST):
        assert_refused(live, item)
        assert_healthy(live, trouser)
