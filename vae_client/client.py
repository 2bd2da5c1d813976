"""`Client` and `AsyncClient`: the service's operations as methods, numpy in and out.

    from vae_client import Client
    with Client("http://127.0.0.1:8000") as client:
        codes = client.encode("trouser.png", model="fashion-vae-2d")  # codes.z_mean: float32 [1, 2]

Errors raise the typed exceptions of `vae_client.errors`. A 503 that carries `Retry-After` (the
server is overloaded) is retried up to `retries` times, waiting Retry-After seconds, doubled on each
further try (at most MAX_DELAY); other errors are never retried.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
import numpy as np

from vae_client import __version__, calls
from vae_client.calls import Call, ImageOrCode, ScoreOptions
from vae_client.errors import BY_CODE, Overloaded, ServerError, ServiceUnreachable, VaeServeError
from vae_client.images import ImagesInput
from vae_client.results import (
    Attribute,
    Codes,
    Decoded,
    LatentMap,
    Model,
    Projected,
    Samples,
    Scores,
)

T = TypeVar("T")
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 2
MAX_DELAY = 30.0  # seconds, between two tries
API_KEY_HEADER = "X-API-Key"


class _Base:
    def __init__(self, url: str, api_key: str | None, timeout: float, retries: int) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.url = url.rstrip("/")
        self.retries = retries
        self._options: dict[str, Any] = {
            "base_url": self.url,
            "timeout": timeout,
            "headers": {"User-Agent": f"vae-client/{__version__}"}
            | ({API_KEY_HEADER: api_key} if api_key else {}),
        }

    @staticmethod
    def _request(call: Call[Any]) -> dict[str, Any]:
        return {
            "method": call.method,
            "url": call.path,
            "json": call.json,
            "headers": {"Accept": call.accept},
        }

    def _delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up: only a 503 with Retry-After
        is retried, at most `retries` times."""
        retry_after = _retry_after(response)
        if response.status_code != 503 or retry_after is None or attempt >= self.retries:
            return None
        return min(MAX_DELAY, retry_after * 2**attempt)


def _read(call: Call[T], response: httpx.Response) -> T:
    if response.status_code not in call.success:
        raise error_of(response)
    try:
        return call.read(response)
    except (ValueError, KeyError, TypeError) as exc:
        raise ServerError(
            f"cannot read the answer to {call.method} {call.path}: {type(exc).__name__}: {exc}",
            status=response.status_code,
        ) from exc


def error_of(response: httpx.Response) -> VaeServeError:
    """The typed error for an error answer."""
    context: dict[str, Any] = {
        "status": response.status_code,
        "request_id": response.headers.get("x-request-id"),
    }
    try:
        error = response.json()["error"]
        code, message, detail = error["code"], error["message"], error.get("detail")
    except (ValueError, KeyError, TypeError):  # not our error body: a proxy, or uvicorn's 503
        text = response.text.strip().splitlines()[:1] or [response.reason_phrase]
        code, message, detail = f"http_{response.status_code}", text[0][:200], None
    kind = BY_CODE.get(code, ServerError if response.status_code >= 500 else VaeServeError)
    if kind is Overloaded:
        return Overloaded(message, retry_after=_retry_after(response), detail=detail, **context)
    return kind(message, code=code, detail=detail, **context)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _unreachable(url: str, exc: httpx.TransportError) -> ServiceUnreachable:
    return ServiceUnreachable(f"no answer from {url}: {type(exc).__name__}: {exc}")


class Client(_Base):
    """A blocking client of one vae-serve server (`url`), thread-safe; close it, or use it as a
    context manager. `api_key` is sent as X-API-Key; `timeout` is per request, in seconds."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key, timeout, retries)
        self._http = httpx.Client(transport=transport, **self._options)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        for attempt in itertools.count():
            try:
                response = self._http.request(**self._request(call))
            except httpx.TransportError as exc:
                raise _unreachable(self.url, exc) from exc
            delay = self._delay(response, attempt)
            if delay is None:
                return _read(call, response)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def is_ready(self) -> bool:
        """Whether the server answers and serves every valid bundle (GET /readyz)."""
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def models(self) -> list[Model]:
        """Every model the server lists, unavailable ones included (with the reason)."""
        return self._send(calls.list_models())

    def model(self, name: str) -> Model:
        """One model, with its full metadata in `.metadata`."""
        return self._send(calls.describe_model(name))

    def encode(
        self, images: ImagesInput, *, model: str, sample: bool = False, seed: int | None = None
    ) -> Codes:
        """Images -> Codes: z_mean and z_log_var (None for an AE), float32 [N, D]; with
        `sample`, also z ~ q(z|x) drawn with `seed` (random when None, and returned)."""
        return self._send(calls.encode(model, images, sample, seed))

    def decode(self, z: np.ndarray, *, model: str) -> np.ndarray:
        """Codes [N, D] (or one [D]) -> images, uint8 [N, H, W] or [N, H, W, 3]."""
        return self._send(calls.decode(model, z))

    def sample(
        self,
        n: int = 8,
        *,
        model: str,
        seed: int | None = None,
        sampler: str | None = None,
        temperature: float | None = None,
    ) -> Samples:
        """n images drawn by `sampler` ("prior", "gaussian" or "gmm"; None: the model's default,
        its best measured) with its spread scaled by `temperature` (None: 1)."""
        return self._send(calls.sample(model, n, seed, sampler, temperature))

    def reconstruct(self, images: ImagesInput, *, model: str) -> Decoded:
        """Images -> decode(z_mean): `.images` and their codes `.z`."""
        return self._send(calls.reconstruct(model, images))

    def edit(
        self,
        inputs: ImagesInput | np.ndarray | Codes,
        attributes: Mapping[str, float],
        *,
        model: str,
    ) -> Decoded:
        """Images, or codes (a float array [N, D], or Codes), moved along attribute vectors:
        z = z_mean + Σ strength · vector, e.g. `{"Smiling": 2, "Eyeglasses": -1.5}`."""
        return self._send(calls.edit(model, inputs, attributes))

    def interpolate(
        self, start: ImageOrCode, end: ImageOrCode, *, model: str, steps: int = 8,
        method: str = "linear",
    ) -> Decoded:  # fmt: skip
        """`steps` frames from one image (or code) to another, both included; `method` is
        "linear" or "slerp"."""
        return self._send(calls.interpolate(model, start, end, steps, method))

    def interpolate_gif(
        self, start: ImageOrCode, end: ImageOrCode, *, model: str, steps: int = 8,
        method: str = "linear", frame_ms: int = 100,
    ) -> bytes:  # fmt: skip
        """The same walk as an animated GIF (its bytes), `frame_ms` a frame."""
        return self._send(calls.interpolate_gif(model, start, end, steps, method, frame_ms))

    def attributes(self, model: str) -> list[Attribute]:
        """The model's attribute vectors, built-in and custom."""
        return self._send(calls.list_attributes(model))

    def put_attribute(
        self, name: str, positive: ImagesInput, negative: ImagesInput, *, model: str
    ) -> Attribute:
        """Create or replace a custom attribute from example images (at least 3 of each)."""
        return self._send(calls.put_attribute(model, name, positive, negative))

    def delete_attribute(self, name: str, *, model: str) -> None:
        """Delete a custom attribute (a built-in one raises Conflict)."""
        self._send(calls.delete_attribute(model, name))

    def latent_map(self, model: str) -> LatentMap:
        """The model's latent map: held-out points on a plane, their labels and the projection
        (MapNotFound when the bundle has none)."""
        return self._send(calls.latent_map(model))

    def project(
        self, inputs: ImagesInput | np.ndarray | Codes, *, model: str, neighbours: int = 8
    ) -> list[Projected]:
        """Images or codes placed on the latent map, each with its `neighbours` nearest map
        points in code space."""
        return self._send(calls.project(model, inputs, neighbours))

    def score(
        self,
        images: ImagesInput,
        *,
        model: str,
        score: str | None = None,
        fpr: float | None = None,
        threshold: float | None = None,
        map: bool = False,
        map_values: bool = False,
        all_scores: bool = False,
    ) -> Scores:
        """How anomalous each image is: its `score` ("combined", "latent", "elbo", ...; None: the
        model's default), p-value and verdict at the false-positive rate `fpr` (None: the
        model's default) or above an explicit `threshold`; with `map`, each image's per-pixel
        map (uint8 [H, W]); with `map_values`, the same as floats; with `all_scores`, every
        score. CalibrationNotFound when the bundle has no calibration."""
        options = ScoreOptions(score, fpr, threshold, map, map_values, all_scores)
        return self._send(calls.score(model, images, options))


class AsyncClient(_Base):
    """`Client`'s methods as coroutines, for asyncio: the same arguments, results and errors."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key, timeout, retries)
        self._http = httpx.AsyncClient(transport=transport, **self._options)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        for attempt in itertools.count():
            try:
                response = await self._http.request(**self._request(call))
            except httpx.TransportError as exc:
                raise _unreachable(self.url, exc) from exc
            delay = self._delay(response, attempt)
            if delay is None:
                return _read(call, response)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def is_ready(self) -> bool:
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    async def models(self) -> list[Model]:
        return await self._send(calls.list_models())

    async def model(self, name: str) -> Model:
        return await self._send(calls.describe_model(name))

    async def encode(
        self, images: ImagesInput, *, model: str, sample: bool = False, seed: int | None = None
    ) -> Codes:
        return await self._send(calls.encode(model, images, sample, seed))

    async def decode(self, z: np.ndarray, *, model: str) -> np.ndarray:
        return await self._send(calls.decode(model, z))

    async def sample(
        self,
        n: int = 8,
        *,
        model: str,
        seed: int | None = None,
        sampler: str | None = None,
        temperature: float | None = None,
    ) -> Samples:
        return await self._send(calls.sample(model, n, seed, sampler, temperature))

    async def reconstruct(self, images: ImagesInput, *, model: str) -> Decoded:
        return await self._send(calls.reconstruct(model, images))

    async def edit(
        self,
        inputs: ImagesInput | np.ndarray | Codes,
        attributes: Mapping[str, float],
        *,
        model: str,
    ) -> Decoded:
        return await self._send(calls.edit(model, inputs, attributes))

    async def interpolate(
        self, start: ImageOrCode, end: ImageOrCode, *, model: str, steps: int = 8,
        method: str = "linear",
    ) -> Decoded:  # fmt: skip
        return await self._send(calls.interpolate(model, start, end, steps, method))

    async def interpolate_gif(
        self, start: ImageOrCode, end: ImageOrCode, *, model: str, steps: int = 8,
        method: str = "linear", frame_ms: int = 100,
    ) -> bytes:  # fmt: skip
        return await self._send(calls.interpolate_gif(model, start, end, steps, method, frame_ms))

    async def attributes(self, model: str) -> list[Attribute]:
        return await self._send(calls.list_attributes(model))

    async def put_attribute(
        self, name: str, positive: ImagesInput, negative: ImagesInput, *, model: str
    ) -> Attribute:
        return await self._send(calls.put_attribute(model, name, positive, negative))

    async def delete_attribute(self, name: str, *, model: str) -> None:
        await self._send(calls.delete_attribute(model, name))

    async def latent_map(self, model: str) -> LatentMap:
        return await self._send(calls.latent_map(model))

    async def project(
        self, inputs: ImagesInput | np.ndarray | Codes, *, model: str, neighbours: int = 8
    ) -> list[Projected]:
        return await self._send(calls.project(model, inputs, neighbours))

    async def score(
        self,
        images: ImagesInput,
        *,
        model: str,
        score: str | None = None,
        fpr: float | None = None,
        threshold: float | None = None,
        map: bool = False,
        map_values: bool = False,
        all_scores: bool = False,
    ) -> Scores:
        options = ScoreOptions(score, fpr, threshold, map, map_values, all_scores)
        return await self._send(calls.score(model, images, options))
