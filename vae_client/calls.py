"""Each API operation as a `Call`: the HTTP request to send and how to read its answer. `Client`
and `AsyncClient` send the same calls, one blocking and one awaiting."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import numpy as np

from vae_client import images, latents
from vae_client.images import ImageInput, ImagesInput
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
ImageOrCode = ImageInput | np.ndarray | Codes
"""An image, or a latent code: a float array [D] (or [N, D]), or the Codes of an encode."""


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    accept: str = "application/json"
    success: tuple[int, ...] = (200,)


def _json(convert: Callable[[dict[str, Any]], T]) -> Callable[[httpx.Response], T]:
    return lambda response: convert(response.json())


def _model_path(model: str, *rest: str) -> str:
    return "/".join(["/v1/models", quote(model, safe=""), *rest])


def list_models() -> Call[list[Model]]:
    return Call("GET", "/v1/models", _json(lambda b: [Model.from_reply(m) for m in b["models"]]))


def describe_model(model: str) -> Call[Model]:
    return Call("GET", _model_path(model), _json(Model.from_reply))


def encode(model: str, images_in: ImagesInput, sample: bool, seed: int | None) -> Call[Codes]:
    body = {"images": images.base64_images(images_in), "sample": sample, **_given(seed=seed)}
    return _latent(model, "encode", body, _json(Codes.from_reply))


def decode(model: str, z: np.ndarray) -> Call[np.ndarray]:
    read = _json(lambda b: images.from_base64(b["images"]))
    return Call("POST", _model_path(model, "decode"), read, json={"z": latents.pack(z)})


def sample(
    model: str, n: int, seed: int | None, sampler: str | None, temperature: float | None
) -> Call[Samples]:
    body = {"n": n, **_given(seed=seed, sampler=sampler, temperature=temperature)}
    return _latent(model, "sample", body, _json(Samples.from_reply))


def reconstruct(model: str, images_in: ImagesInput) -> Call[Decoded]:
    body = {"images": images.base64_images(images_in)}
    return _latent(model, "reconstruct", body, _json(lambda b: Decoded.from_reply(b, "z_mean")))


def edit(
    model: str, inputs: ImagesInput | np.ndarray | Codes, moves: Mapping[str, float]
) -> Call[Decoded]:
    body = {**_images_or_codes(inputs), "attributes": dict(moves)}
    return _latent(model, "edit", body, _json(Decoded.from_reply))


def interpolate(
    model: str, start: ImageOrCode, end: ImageOrCode, steps: int, method: str
) -> Call[Decoded]:
    body = {**_two_ends(start, end), "steps": steps, "method": method}
    return _latent(model, "interpolate", body, _json(Decoded.from_reply))


def interpolate_gif(
    model: str, start: ImageOrCode, end: ImageOrCode, steps: int, method: str, frame_ms: int
) -> Call[bytes]:
    body = {**_two_ends(start, end), "steps": steps, "method": method}
    body |= {"format": "gif", "frame_ms": frame_ms}
    path = _model_path(model, "interpolate")
    return Call("POST", path, lambda r: r.content, json=body, accept="image/gif")


def list_attributes(model: str) -> Call[list[Attribute]]:
    read = _json(lambda b: [Attribute.from_reply(a) for a in b["attributes"]])
    return Call("GET", _model_path(model, "attributes"), read)


def put_attribute(
    model: str, name: str, positive: ImagesInput, negative: ImagesInput
) -> Call[Attribute]:
    body = {"positive": images.base64_images(positive), "negative": images.base64_images(negative)}
    path = _model_path(model, "attributes", quote(name, safe=""))
    return Call("PUT", path, _json(Attribute.from_reply), json=body, success=(200, 201))


def delete_attribute(model: str, name: str) -> Call[None]:
    path = _model_path(model, "attributes", quote(name, safe=""))
    return Call("DELETE", path, lambda _: None, success=(204,))


def latent_map(model: str) -> Call[LatentMap]:
    return Call("GET", _model_path(model, "map"), _json(LatentMap.from_reply))


def project(
    model: str, inputs: ImagesInput | np.ndarray | Codes, neighbours: int
) -> Call[list[Projected]]:
    body = {**_images_or_codes(inputs), "neighbours": neighbours}
    read = _json(lambda b: [Projected.from_reply(point) for point in b["points"]])
    return Call("POST", _model_path(model, "project"), read, json=body)


@dataclass(frozen=True)
class ScoreOptions:
    """What a score request asks besides its images; None and False leave the server's default."""

    score: str | None = None
    fpr: float | None = None
    threshold: float | None = None
    map: bool = False
    map_values: bool = False
    all_scores: bool = False

    def fields(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {name: value for name, value in values.items() if value not in (None, False)}


def score(model: str, images_in: ImagesInput, options: ScoreOptions) -> Call[Scores]:
    body = {"images": images.base64_images(images_in), **options.fields()}
    return Call("POST", _model_path(model, "score"), _json(Scores.from_reply), json=body)


def _latent(
    model: str, operation: str, body: dict[str, Any], read: Callable[[httpx.Response], T]
) -> Call[T]:
    """A latent-space call whose codes come back packed."""
    return Call("POST", _model_path(model, operation), read, json=body | {"code_format": "base64"})


def _given(**fields: Any) -> dict[str, Any]:
    """The optional fields that were given: the server's defaults stand for the others."""
    return {name: value for name, value in fields.items() if value is not None}


def _is_code(value: object) -> bool:
    return isinstance(value, Codes) or (
        isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)
    )


def _codes(value: np.ndarray | Codes) -> np.ndarray:
    return value.z_mean if isinstance(value, Codes) else np.atleast_2d(value)


def _images_or_codes(value: ImagesInput | np.ndarray | Codes) -> dict[str, Any]:
    if _is_code(value):
        return {"z": latents.pack(_codes(value))}  # type: ignore[arg-type]
    return {"images": images.base64_images(value)}  # type: ignore[arg-type]


def _two_ends(start: ImageOrCode, end: ImageOrCode) -> dict[str, Any]:
    """Two images, or two codes (the API takes two of one kind)."""
    if _is_code(start) != _is_code(end):
        raise TypeError("interpolate between two images or two codes, not one of each")
    if _is_code(start):
        ends = np.concatenate([_codes(start), _codes(end)])  # type: ignore[arg-type]
        return {"z": latents.pack(ends)}
    return {"images": images.base64_images([start, end])}  # type: ignore[list-item]
