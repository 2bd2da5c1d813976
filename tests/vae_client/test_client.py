"""The Python client against a real server process: every method, numpy shapes and dtypes, the
same codes as the raw API, typed errors, the API key, and the bounded retry on an overload 503."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import service.errors
from liveserver.processes import free_port
from liveserver.server import Server
from tests.conftest import serve
from tests.service.helpers import OVERLOADABLE, VAE, b64, occupied
from vae_client import (
    AttributeNotFound,
    Client,
    Codes,
    Conflict,
    InvalidInput,
    ModelNotFound,
    Overloaded,
    ServiceUnreachable,
    Unauthorized,
    UnsupportedImage,
    VaeServeError,
)
from vae_client.client import MAX_DELAY
from vae_client.errors import BY_CODE
from vae_client.images import ImagesInput

pytestmark = pytest.mark.e2e

VAE32, FACES = "fashion-vae-32d", "faces-vae-200d"
KEY = "a-client-test-key"


class Recording(httpx.HTTPTransport):
    """A real HTTP transport that keeps each request it sent and the status it got."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[httpx.Request, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.sent.append((request, response.status_code))
        return response


@pytest.fixture
def client(live_server: Server) -> Iterator[Client]:
    with Client(live_server.url) as c:
        yield c


@pytest.fixture
def raw(live_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        yield http


def packed(array: dict[str, object]) -> np.ndarray:
    raw = base64.b64decode(str(array["data"]))
    return np.frombuffer(raw, "<f4").reshape(array["shape"])  # type: ignore[call-overload]


def raw_post(http: httpx.Client, model: str, operation: str, body: dict[str, object]) -> dict:
    response = http.post(f"/v1/models/{model}/{operation}", json=body | {"code_format": "base64"})
    assert response.status_code == 200, response.text
    return response.json()


def pixels(encoded: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))


def test_three_lines(live_server: Server, trouser: bytes, tmp_path: Path) -> None:
    (tmp_path / "trouser.png").write_bytes(trouser)
    client = Client(live_server.url)
    z = client.encode(tmp_path / "trouser.png", model=VAE).z_mean
    assert z.dtype == np.float32 and z.shape == (1, 2)
    assert client.is_ready()
    client.close()


def test_models_and_model(client: Client) -> None:
    models = {m.name: m for m in client.models()}
    assert {VAE, VAE32, FACES} <= set(models)
    assert models[VAE].kind == "vae" and models[VAE].latent_dim == 2
    assert models[FACES].image_shape == (3, 64, 64)
    detail = client.model(VAE32)
    assert detail.latent_dim == 32 and "latent_prior" in detail.metadata


def test_codes_are_those_of_the_raw_api(client: Client, raw: httpx.Client, trouser: bytes) -> None:
    codes = client.encode(trouser, model=VAE, sample=True, seed=7)
    expected = raw_post(raw, VAE, "encode", {"images": [b64(trouser)], "sample": True, "seed": 7})
    for name in ("z_mean", "z_log_var", "z"):
        got = getattr(codes, name)
        assert got.dtype == np.float32 and got.shape == (1, 2)
        np.testing.assert_array_equal(got, packed(expected[name]))
    assert codes.seed == 7


def test_every_image_form_gives_the_same_codes(
    client: Client, trouser: bytes, boot: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "boot.png"
    path.write_bytes(boot)
    arrays = [np.asarray(Image.open(io.BytesIO(data))) for data in (trouser, boot)]
    reference = client.encode([trouser, boot], model=VAE).z_mean
    forms: list[ImagesInput] = [
        [Image.open(io.BytesIO(trouser)), str(path)],
        [arrays[0], path],
        np.stack(arrays),  # a batch [N, H, W]
    ]
    for images in forms:
        np.testing.assert_array_equal(client.encode(images, model=VAE).z_mean, reference)
    one = client.encode(arrays[0], model=VAE).z_mean  # one [H, W] array is one image
    np.testing.assert_array_equal(one, reference[:1])
    assert client.encode(boot, model=VAE).z_log_var is not None
    assert client.encode(boot, model="fashion-ae-2d").z_log_var is None


def test_a_float_array_is_not_an_image(client: Client) -> None:
    with pytest.raises(TypeError, match="latent codes"):
        client.encode(np.zeros((28, 28), np.float32), model=VAE)


def test_decode_gives_uint8_images_equal_to_the_raw_api(client: Client, raw: httpx.Client) -> None:
    z = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    images = client.decode(z, model=VAE)
    assert images.dtype == np.uint8 and images.shape == (3, 32, 32)
    expected = raw.post(f"/v1/models/{VAE}/decode", json={"z": z.tolist()}).json()["images"]
    np.testing.assert_array_equal(images, np.stack([pixels(p) for p in expected]))
    assert client.decode(z[0], model=VAE).shape == (1, 32, 32)  # one code [D]


def test_sample_of_an_rgb_model_and_its_seed(client: Client, raw: httpx.Client) -> None:
    samples = client.sample(2, model=FACES, seed=5, temperature=0.5)
    assert samples.images.dtype == np.uint8 and samples.images.shape == (2, 64, 64, 3)
    assert samples.z.shape == (2, 200) and samples.seed == 5 and samples.sampler == "gaussian"
    expected = raw_post(raw, FACES, "sample", {"n": 2, "seed": 5, "temperature": 0.5})
    np.testing.assert_array_equal(samples.z, packed(expected["z"]))


def test_sampler_and_other_unset_options_are_not_sent(live_server: Server) -> None:
    recording = Recording()
    with Client(live_server.url, transport=recording) as client:
        client.sample(1, model=VAE)
        client.sample(1, model=VAE, seed=3)
    bodies = [json.loads(request.content) for request, _ in recording.sent]
    assert bodies == [
        {"n": 1, "code_format": "base64"},
        {"n": 1, "seed": 3, "code_format": "base64"},
    ]


def test_a_named_sampler_draws_the_codes(client: Client, raw: httpx.Client) -> None:
    samples = client.sample(3, model=VAE, seed=2, sampler="gmm", temperature=0.5)
    assert samples.sampler == "gmm" and samples.z.shape == (3, 2)
    expected = raw_post(
        raw, VAE, "sample", {"n": 3, "seed": 2, "sampler": "gmm", "temperature": 0.5}
    )
    np.testing.assert_array_equal(samples.z, packed(expected["z"]))


def test_reconstruct_edit_and_interpolate(client: Client, trouser: bytes, boot: bytes) -> None:
    reconstruction = client.reconstruct([trouser, boot], model=VAE32)
    assert reconstruction.images.shape == (2, 32, 32) and reconstruction.z.shape == (2, 32)
    codes = client.encode([trouser, boot], model=VAE32)
    np.testing.assert_array_equal(reconstruction.z, codes.z_mean)

    by_image = client.edit(trouser, {"Trouser": -1.5, "Bag": 1}, model=VAE32)
    by_code = client.edit(codes.z_mean[:1], {"Trouser": -1.5, "Bag": 1}, model=VAE32)
    by_codes = client.edit(client.encode(trouser, model=VAE32), {"Trouser": -1.5, "Bag": 1},
                           model=VAE32)  # fmt: skip
    for edited in (by_code, by_codes):
        np.testing.assert_array_equal(edited.z, by_image.z)
        np.testing.assert_array_equal(edited.images, by_image.images)

    frames = client.interpolate(trouser, boot, model=VAE32, steps=5, method="slerp")
    assert frames.images.shape == (5, 32, 32) and frames.z.shape == (5, 32)
    np.testing.assert_allclose(frames.z[[0, -1]], codes.z_mean, atol=1e-5)
    walked = client.interpolate(codes.z_mean[0], codes.z_mean[1], model=VAE32, steps=5,
                                method="slerp")  # fmt: skip
    np.testing.assert_array_equal(walked.z, frames.z)
    gif = Image.open(io.BytesIO(client.interpolate_gif(trouser, boot, model=VAE32, steps=6)))
    assert gif.format == "GIF" and getattr(gif, "n_frames", 1) == 6


def test_attributes_put_and_delete(client: Client, fashion_pngs: dict[str, list[bytes]]) -> None:
    built_in = {a.name: a for a in client.attributes(VAE)}
    assert built_in["Trouser"].vector.shape == (2,) and not built_in["Trouser"].custom
    made = client.put_attribute(
        "client-bags", fashion_pngs["Bag"][:3], fashion_pngs["Sneaker"][:3], model=VAE
    )
    assert made.custom and made.count_positive == 3 and made.vector.dtype == np.float32
    assert "client-bags" in {a.name for a in client.attributes(VAE)}
    client.delete_attribute("client-bags", model=VAE)
    assert "client-bags" not in {a.name for a in client.attributes(VAE)}
    with pytest.raises(Conflict):
        client.delete_attribute("Trouser", model=VAE)


def test_latent_map_and_project_equal_the_raw_api(
    client: Client, raw: httpx.Client, trouser: bytes
) -> None:
    latent_map = client.latent_map(VAE)
    body = raw.get(f"/v1/models/{VAE}/map").json()
    assert latent_map.points.dtype == np.float32 and latent_map.points.shape == (body["count"], 2)
    np.testing.assert_array_equal(latent_map.points, np.asarray(body["points"], np.float32))
    assert (latent_map.label_kind, len(latent_map.label_names)) == ("class", 10)
    assert latent_map.labels == body["labels"]["values"]

    [placed] = client.project(trouser, model=VAE, neighbours=3)
    request = {"images": [b64(trouser)], "neighbours": 3}
    [expected] = raw.post(f"/v1/models/{VAE}/project", json=request).json()["points"]
    np.testing.assert_allclose(placed.position, expected["position"], rtol=1e-6)
    assert placed.neighbours.tolist() == [n["index"] for n in expected["neighbours"]]
    assert placed.distances.shape == (3,) and np.all(np.diff(placed.distances) >= 0)
    [by_code] = client.project(client.encode(trouser, model=VAE), model=VAE, neighbours=3)
    np.testing.assert_allclose(by_code.position, placed.position, rtol=1e-5)
    assert by_code.neighbours.tolist() == placed.neighbours.tolist()


@pytest.mark.parametrize(
    ("call", "kind", "status"),
    [
        (lambda c: c.decode(np.zeros((1, 2)), model="no-such-model"), ModelNotFound, 404),
        (lambda c: c.decode(np.zeros((1, 3)), model=VAE), InvalidInput, 422),
        (lambda c: c.encode(b"not an image", model=VAE), UnsupportedImage, 415),
        (lambda c: c.edit(np.zeros((1, 2)), {"Wings": 1}, model=VAE), AttributeNotFound, 404),
    ],
    ids=["model-not-found", "invalid-input", "unsupported-image", "attribute-not-found"],
)
def test_errors_are_typed(client: Client, call, kind: type[VaeServeError], status: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kind) as raised:
        call(client)
    assert raised.value.status == status and raised.value.code == kind.code
    assert raised.value.message and raised.value.request_id


@pytest.mark.unit
def test_no_server_is_service_unreachable() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", retries=3) as client:
        assert not client.is_ready()
        with pytest.raises(ServiceUnreachable):
            client.models()


@pytest.mark.unit
def test_every_error_code_of_the_service_has_its_exception() -> None:
    kinds = [k for k in vars(service.errors).values() if isinstance(k, type)]
    codes = {k.code for k in kinds if issubclass(k, service.errors.ServiceError)}
    assert len(codes) > 10 and codes <= set(BY_CODE)


def test_the_api_key(model_dir: Path, tmp_path: Path) -> None:
    with serve(model_dir, tmp_path, {"api_key": KEY}) as server:
        with Client(server.url) as anonymous:
            assert anonymous.is_ready()  # readiness stays open
            with pytest.raises(Unauthorized) as refused:
                anonymous.models()
            assert refused.value.status == 401
        with Client(server.url, api_key=KEY) as keyed:
            assert VAE in {m.name for m in keyed.models()}


def test_an_overload_503_is_retried_and_other_errors_are_not(
    model_dir: Path, tmp_path: Path
) -> None:
    with serve(model_dir, tmp_path, OVERLOADABLE) as server:
        once, patient = Recording(), Recording()
        with Client(server.url, retries=0, transport=once) as impatient:
            with occupied(server.url), pytest.raises(Overloaded) as refused:
                impatient.decode(np.zeros((1, 2)), model=VAE)
            assert refused.value.retry_after == 1 and refused.value.status == 503
            with pytest.raises(InvalidInput):
                impatient.decode(np.zeros((1, 3)), model=VAE)
        assert [status for _, status in once.sent] == [503, 422]
        with Client(server.url, retries=3, transport=patient) as client, occupied(server.url):
            images = client.decode(np.zeros((1, 2)), model=VAE)
        assert images.shape == (1, 32, 32)
        statuses = [status for _, status in patient.sent]
        assert statuses[0] == 503 and statuses[-1] == 200 and set(statuses) == {503, 200}
        assert len(statuses) <= 4  # the first try and at most 3 more


@pytest.mark.unit
def test_retries_are_bounded_and_back_off() -> None:
    """The schedule alone: Retry-After, doubled each time, capped; nothing after `retries`."""
    client = Client("http://127.0.0.1:1", retries=6)
    overloaded = httpx.Response(503, headers={"Retry-After": "2"})
    delays = [client._delay(overloaded, attempt) for attempt in range(8)]
    assert delays == [2, 4, 8, 16, MAX_DELAY, MAX_DELAY, None, None]
    assert client._delay(httpx.Response(503), 0) is None  # no Retry-After: not an overload
    assert client._delay(httpx.Response(500, headers={"Retry-After": "1"}), 0) is None
    assert client._delay(httpx.Response(422), 0) is None
    client.close()


def test_codes_objects_and_code_arrays_are_accepted_alike(client: Client, trouser: bytes) -> None:
    codes = client.encode(trouser, model=VAE)
    assert isinstance(codes, Codes)
    np.testing.assert_array_equal(
        client.edit(codes, {}, model=VAE).z, client.edit(codes.z_mean, {}, model=VAE).z
    )


def test_score_gives_verdicts_maps_and_scores_as_numpy(
    client: Client, live_server: Server, fashion_pngs: dict[str, list[bytes]]
) -> None:
    images = fashion_pngs["Trouser"][:2]
    inverted = 255 - np.asarray(Image.open(io.BytesIO(images[0])))
    scores = client.score([*images, inverted], model=VAE32, fpr=0.01, map=True, all_scores=True)
    assert scores.fpr == 0.01 and scores.score
    assert scores.anomalous.tolist() == [False, False, True]
    first = scores.results[0]
    assert first.map is not None and first.map.shape == (32, 32) and first.map.dtype == np.uint8
    assert first.input is not None and first.input.shape == (32, 32)
    assert first.scores is not None and first.scores[scores.score] == first.score

    raw = httpx.post(
        f"{live_server.url}/v1/models/{VAE32}/score",
        json={"images": [b64(images[1])], "fpr": 0.01},
        timeout=60,
    ).json()
    assert scores.results[1].score == raw["results"][0]["score"]
    assert scores.results[1].p_value == raw["results"][0]["p_value"]
    assert scores.threshold == raw["threshold"]


def test_score_errors_are_typed(client: Client, trouser: bytes) -> None:
    with pytest.raises(InvalidInput, match="offers no score 'nll'"):
        client.score(trouser, model="fashion-ae-2d", score="nll")
    with pytest.raises(InvalidInput, match="fpr"):
        client.score(trouser, model=VAE32, fpr=0.9)
