"""AsyncClient: the same methods as Client, with the same results, errors and retry, awaited."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import httpx
import numpy as np
import pytest

from liveserver.server import Server
from tests.conftest import serve
from tests.service.helpers import OVERLOADABLE, VAE, occupied
from vae_client import AsyncClient, Client, ModelNotFound, Overloaded

pytestmark = pytest.mark.e2e

ASYNC = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recording(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.statuses.append(response.status_code)
        return response


def public(kind: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(kind, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.unit
def test_the_async_client_has_every_method_with_the_same_signature() -> None:
    sync, awaited = public(Client), public(AsyncClient)
    assert sync.keys() == awaited.keys()
    for name, signature in sync.items():
        assert signature.parameters == awaited[name].parameters, name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


@ASYNC
async def test_async_results_equal_the_sync_ones(
    live_server: Server, trouser: bytes, boot: bytes
) -> None:
    z = np.random.default_rng(2).standard_normal((2, 2)).astype(np.float32)
    with Client(live_server.url) as sync:
        expected = (
            sync.encode([trouser, boot], model=VAE).z_mean,
            sync.decode(z, model=VAE),
            sync.sample(3, model=VAE, seed=1).images,
            sync.interpolate(trouser, boot, model=VAE, steps=4).z,
            [m.name for m in sync.models()],
            sync.latent_map(VAE).points,
            sync.project(boot, model=VAE, neighbours=2)[0].neighbours,
            sync.score([trouser, boot], model=VAE, all_scores=True, map=True),
        )
    async with AsyncClient(live_server.url) as client:
        assert await client.is_ready()
        got = await asyncio.gather(
            client.encode([trouser, boot], model=VAE),
            client.decode(z, model=VAE),
            client.sample(3, model=VAE, seed=1),
            client.interpolate(trouser, boot, model=VAE, steps=4),
            client.models(),
            client.latent_map(VAE),
            client.project(boot, model=VAE, neighbours=2),
            client.score([trouser, boot], model=VAE, all_scores=True, map=True),
        )
    np.testing.assert_array_equal(got[0].z_mean, expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(got[2].images, expected[2])
    np.testing.assert_array_equal(got[3].z, expected[3])
    assert [m.name for m in got[4]] == expected[4]
    np.testing.assert_array_equal(got[5].points, expected[5])
    np.testing.assert_array_equal(got[6][0].neighbours, expected[6])
    assert [r.scores for r in got[7].results] == [r.scores for r in expected[7].results]
    np.testing.assert_array_equal(got[7].results[1].map, expected[7].results[1].map)


@ASYNC
async def test_async_errors_are_typed(live_server: Server) -> None:
    async with AsyncClient(live_server.url) as client:
        with pytest.raises(ModelNotFound) as raised:
            await client.model("no-such-model")
    assert raised.value.status == 404


def test_async_overload_is_retried(model_dir: Path, tmp_path: Path) -> None:
    async def decode(retries: int, transport: Recording) -> np.ndarray:
        async with AsyncClient(server.url, retries=retries, transport=transport) as client:
            return await client.decode(np.zeros((1, 2)), model=VAE)

    with serve(model_dir, tmp_path, OVERLOADABLE) as server:
        once, patient = Recording(), Recording()
        with occupied(server.url), pytest.raises(Overloaded):
            asyncio.run(decode(0, once))
        with occupied(server.url):
            images = asyncio.run(decode(3, patient))
    assert once.statuses == [503]
    assert images.shape == (1, 32, 32)
    assert patient.statuses[0] == 503 and patient.statuses[-1] == 200 and len(patient.statuses) <= 4
