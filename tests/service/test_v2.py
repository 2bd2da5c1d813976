"""The Open Inference Protocol (V2), spoken by tritonclient[http] (PyPI) to a real server process:
health, metadata, and inference on each bundle's encoder and decoder with binary and JSON tensor
data, whose outputs equal /v1's; the API key, metrics, batcher and overload behave as on /v1."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image
from tritonclient.utils import InferenceServerException

from liveserver.server import Server
from service import imaging
from tests.conftest import serve
from tests.service.helpers import OVERLOADABLE, VAE, b64, occupied
from tests.service.test_observability import metric
from vae_core.bundle import read_manifest

pytestmark = pytest.mark.e2e

AE = "fashion-ae-2d"
KEY = "a-v2-test-key"


@pytest.fixture(scope="module")
def v2(live_server: Server) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(live_server.url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def garments(fashion_pngs: dict[str, list[bytes]]) -> list[bytes]:
    return [fashion_pngs[name][0] for name in ("Trouser", "Ankle boot", "Bag")]


def model_input(model_dir: Path, model: str, pngs: list[bytes]) -> np.ndarray:
    """The encoder's input for these images, preprocessed by the bundle's recorded steps."""
    preprocessing = read_manifest(model_dir / model).preprocessing
    return preprocessing.apply([Image.open(io.BytesIO(data)) for data in pngs])


def tensor(name: str, array: np.ndarray, binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), "FP32")
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def unpacked(packed: dict[str, object]) -> np.ndarray:
    raw = base64.b64decode(str(packed["data"]))
    return np.frombuffer(raw, "<f4").reshape(packed["shape"])  # type: ignore[call-overload]


def v1_codes(url: str, model: str, pngs: list[bytes]) -> dict[str, np.ndarray]:
    body = {"images": [b64(p) for p in pngs], "code_format": "base64"}
    response = httpx.post(f"{url}/v1/models/{model}/encode", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return {k: unpacked(v) for k, v in response.json().items() if isinstance(v, dict)}


def test_health_and_readiness(v2: triton.InferenceServerClient) -> None:
    assert v2.is_server_live()
    assert v2.is_server_ready()
    assert v2.is_model_ready(f"{VAE}.encoder")
    assert v2.is_model_ready(f"{VAE}.decoder")
    assert not v2.is_model_ready(f"{VAE}.middle")
    assert not v2.is_model_ready("no-such-bundle.encoder")


def test_server_metadata_names_the_binary_extension(v2: triton.InferenceServerClient) -> None:
    metadata = v2.get_server_metadata()
    assert metadata["name"] == "vae-serve"
    assert "binary_tensor_data" in metadata["extensions"]


@pytest.mark.parametrize("model", [VAE, AE])
def test_model_metadata_is_the_bundles_signature(
    v2: triton.InferenceServerClient, model_dir: Path, model: str
) -> None:
    manifest = read_manifest(model_dir / model)
    image = [-1, manifest.image.channels, manifest.image.height, manifest.image.width]
    codes = [-1, manifest.latent_dim]
    encoder = v2.get_model_metadata(f"{model}.encoder")
    assert encoder["name"] == f"{model}.encoder"
    assert encoder["inputs"] == [{"name": "image", "datatype": "FP32", "shape": image}]
    outputs = ["z_mean", "z_log_var"] if manifest.kind == "vae" else ["z_mean"]
    assert encoder["outputs"] == [{"name": n, "datatype": "FP32", "shape": codes} for n in outputs]
    decoder = v2.get_model_metadata(f"{model}.decoder")
    assert decoder["inputs"] == [{"name": "z", "datatype": "FP32", "shape": codes}]
    assert decoder["outputs"] == [{"name": "image", "datatype": "FP32", "shape": image}]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_encoder_outputs_equal_v1_codes(
    v2: triton.InferenceServerClient,
    live_server: Server,
    model_dir: Path,
    garments: list[bytes],
    binary: bool,
) -> None:
    images = model_input(model_dir, VAE, garments)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("z_mean", "z_log_var")]
    result = v2.infer(f"{VAE}.encoder", [tensor("image", images, binary)], outputs=outputs)
    expected = v1_codes(live_server.url, VAE, garments)
    for name in ("z_mean", "z_log_var"):
        got = result.as_numpy(name)
        assert got.dtype == np.float32 and got.shape == (len(garments), 2)
        np.testing.assert_array_equal(got, expected[name])


def test_an_autoencoder_has_no_variance_output(
    v2: triton.InferenceServerClient, live_server: Server, model_dir: Path, garments: list[bytes]
) -> None:
    result = v2.infer(f"{AE}.encoder", [tensor("image", model_input(model_dir, AE, garments))])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["z_mean"]
    np.testing.assert_array_equal(
        result.as_numpy("z_mean"), v1_codes(live_server.url, AE, garments)["z_mean"]
    )


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_decoder_outputs_are_the_images_v1_decodes(
    v2: triton.InferenceServerClient, live_server: Server, binary: bool
) -> None:
    z = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    output = triton.InferRequestedOutput("image", binary_data=binary)
    result = v2.infer(f"{VAE}.decoder", [tensor("z", z, binary)], outputs=[output])
    images = result.as_numpy("image")
    assert images.dtype == np.float32 and images.shape == (4, 1, 32, 32)
    assert images.min() >= 0 and images.max() <= 1
    response = httpx.post(f"{live_server.url}/v1/models/{VAE}/decode", json={"z": z.tolist()})
    assert response.status_code == 200
    pngs = [base64.b64decode(p) for p in response.json()["images"]]
    v1_pixels = np.stack([np.asarray(Image.open(io.BytesIO(p))) for p in pngs])
    np.testing.assert_array_equal(imaging.to_uint8(images), v1_pixels)


def test_json_and_binary_outputs_can_be_mixed(
    v2: triton.InferenceServerClient, model_dir: Path, garments: list[bytes]
) -> None:
    images = model_input(model_dir, VAE, garments)
    outputs = [
        triton.InferRequestedOutput("z_log_var", binary_data=False),
        triton.InferRequestedOutput("z_mean", binary_data=True),
    ]
    result = v2.infer(f"{VAE}.encoder", [tensor("image", images)], outputs=outputs)
    described = result.get_response()["outputs"]
    assert [o["name"] for o in described] == ["z_log_var", "z_mean"]
    assert "data" in described[0] and described[1]["parameters"]["binary_data_size"] == 3 * 2 * 4
    everything = v2.infer(f"{VAE}.encoder", [tensor("image", images)])
    for name in ("z_mean", "z_log_var"):
        np.testing.assert_array_equal(result.as_numpy(name), everything.as_numpy(name))


@pytest.mark.parametrize(
    ("name", "shape", "datatype", "says"),
    [
        ("image", [2, 1, 28, 28], "FP32", "must have shape [N, 1, 32, 32]"),
        ("image", [2, 32, 32], "FP32", "must have shape"),
        ("image", [2, 1, 32, 32], "FP64", "must be FP32"),
        ("image", [2, 1, 32, 32], "INT32", "must be FP32"),
        ("pixels", [2, 1, 32, 32], "FP32", "takes one input, 'image'"),
    ],
)
def test_a_wrong_shape_datatype_or_name_is_a_4xx(
    v2: triton.InferenceServerClient, name: str, shape: list[int], datatype: str, says: str
) -> None:
    dtype = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32}[datatype]
    tensor = triton.InferInput(name, shape, datatype)
    tensor.set_data_from_numpy(np.zeros(shape, dtype))
    with pytest.raises(InferenceServerException) as refused:
        v2.infer(f"{VAE}.encoder", [tensor])
    assert refused.value.status() == "422"
    assert says in refused.value.message()


def test_an_unknown_model_is_a_404_in_the_protocols_error_shape(
    v2: triton.InferenceServerClient, live_server: Server
) -> None:
    with pytest.raises(InferenceServerException) as refused:
        v2.infer("no-such-bundle.decoder", [tensor("z", np.zeros((1, 2), np.float32))])
    assert refused.value.status() == "404"
    response = httpx.get(f"{live_server.url}/v2/models/{VAE}")
    assert response.status_code == 404
    assert set(response.json()) == {"error"} and "<bundle>.encoder" in response.json()["error"]


def test_the_api_key_guards_all_but_health(model_dir: Path, tmp_path: Path) -> None:
    with serve(model_dir, tmp_path, {"api_key": KEY}) as server:
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        assert client.is_server_live() and client.is_server_ready()
        with pytest.raises(InferenceServerException) as refused:
            client.get_model_metadata(f"{VAE}.decoder")
        assert refused.value.status() == "401"
        assert "API key" in refused.value.message()
        z = tensor("z", np.zeros((1, 2), np.float32))
        result = client.infer(f"{VAE}.decoder", [z], headers={"X-API-Key": KEY})
        assert result.as_numpy("image").shape == (1, 1, 32, 32)
        client.close()


def test_v2_calls_are_counted_by_model_and_graph(
    v2: triton.InferenceServerClient, live_server: Server
) -> None:
    before = httpx.get(f"{live_server.url}/metrics").text
    v2.infer(f"{VAE}.decoder", [tensor("z", np.zeros((3, 2), np.float32))])
    with pytest.raises(InferenceServerException):
        v2.infer(f"{VAE}.decoder", [tensor("z", np.zeros((3, 5), np.float32))])
    after = httpx.get(f"{live_server.url}/metrics").text

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    infer = {"endpoint": "/v2/models/{model}/infer", "model": f"{VAE}.decoder"}
    assert grew("vae_serve_requests_total", **infer, status="200") == 1
    assert grew("vae_serve_request_errors_total", **infer, code="invalid_input") == 1
    assert grew("vae_serve_inference_seconds_count", model=VAE, graph="decoder") == 1
    assert grew("vae_serve_batch_size_sum", model=VAE, graph="decoder") == 3


def test_the_batcher_merges_concurrent_v2_calls(model_dir: Path, tmp_path: Path) -> None:
    """Eight one-row calls at once, with a batcher that waits up to a second for eight rows."""
    settings = {"inference_concurrency": "8", "batching": "true", "batch_max_size": "8"}
    with serve(model_dir, tmp_path, settings | {"batch_max_wait_ms": "1000"}) as server:
        client = triton.InferenceServerClient(server.url.removeprefix("http://"), concurrency=8)
        codes = np.random.default_rng(1).standard_normal((8, 1, 2)).astype(np.float32)
        runs = {"model": VAE, "graph": "decoder"}
        before = httpx.get(f"{server.url}/metrics").text
        calls = [client.async_infer(f"{VAE}.decoder", [tensor("z", z)]) for z in codes]
        results = [call.get_result() for call in calls]  # all sent before any is awaited
        after = httpx.get(f"{server.url}/metrics").text
        count, rows = ("vae_serve_batch_size_count", "vae_serve_batch_size_sum")
        assert metric(after, rows, **runs) - metric(before, rows, **runs) == 8
        assert metric(after, count, **runs) - metric(before, count, **runs) < 8  # some merged
        alone = client.infer(f"{VAE}.decoder", [tensor("z", codes[:, 0])]).as_numpy("image")
        for i, result in enumerate(results):
            np.testing.assert_array_equal(result.as_numpy("image")[0], alone[i])
        client.close()


def test_overload_is_a_503_with_retry_after_in_the_protocols_shape(
    model_dir: Path, tmp_path: Path
) -> None:
    with serve(model_dir, tmp_path, OVERLOADABLE) as server:
        z = {"inputs": [{"name": "z", "shape": [1, 2], "datatype": "FP32", "data": [0.0, 0.0]}]}
        url = f"{server.url}/v2/models/{VAE}.decoder/infer"
        with occupied(server.url):
            refused = httpx.post(url, json=z, timeout=60)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert set(refused.json()) == {"error"} and "capacity" in refused.json()["error"]
        assert httpx.post(url, json=z, timeout=60).status_code == 200
