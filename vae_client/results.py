"""What the client's methods return: numpy arrays in named fields. Images are uint8, [N, H, W]
for a grayscale model and [N, H, W, 3] for an RGB one; codes are float32 [N, D]."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vae_client import images, latents


@dataclass(frozen=True)
class Codes:
    """The encoder's output: q(z|x) = N(z_mean, exp(z_log_var)) for a VAE, a point for an AE."""

    z_mean: np.ndarray
    z_log_var: np.ndarray | None  # None for an AE
    z: np.ndarray | None = None  # drawn from q(z|x) when asked (sample=True)
    seed: int | None = None  # the seed of z, to draw it again

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> Codes:
        return cls(
            z_mean=latents.unpack(body["z_mean"]),
            z_log_var=_optional_codes(body.get("z_log_var")),
            z=_optional_codes(body.get("z")),
            seed=body.get("seed"),
        )


@dataclass(frozen=True)
class Samples:
    images: np.ndarray
    z: np.ndarray
    seed: int  # the same seed draws the same images
    sampler: str  # which sampler drew the codes: prior, gaussian or gmm
    note: str  # where the codes come from, in words

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> Samples:
        return cls(
            images=images.from_base64(body["images"]),
            z=latents.unpack(body["z"]),
            seed=body["seed"],
            sampler=body["sampler"],
            note=body["note"],
        )


@dataclass(frozen=True)
class Decoded:
    """Images and the codes they were decoded from: a reconstruction (z_mean), an edit, frames."""

    images: np.ndarray
    z: np.ndarray

    @classmethod
    def from_reply(cls, body: dict[str, Any], codes: str = "z") -> Decoded:
        return cls(images=images.from_base64(body["images"]), z=latents.unpack(body[codes]))


@dataclass(frozen=True)
class Model:
    """A model the service lists; an unavailable one has only its name and the reason."""

    name: str
    available: bool
    reason: str | None = None
    kind: str | None = None  # "ae" or "vae"
    latent_dim: int | None = None
    image_shape: tuple[int, int, int] | None = None  # (channels, height, width)
    attributes: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)  # the reply, whole

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> Model:
        image = body.get("image")
        shape = None if image is None else (image["channels"], image["height"], image["width"])
        return cls(
            name=body["name"],
            available=body["available"],
            reason=body.get("reason"),
            kind=body.get("kind"),
            latent_dim=body.get("latent_dim"),
            image_shape=shape,
            attributes=tuple(body.get("attributes", ())),
            metadata=body,
        )


@dataclass(frozen=True)
class Attribute:
    name: str
    vector: np.ndarray  # float32 [D]
    count_positive: int
    count_negative: int
    norm: float
    custom: bool  # made from a user's examples, not shipped in the bundle

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> Attribute:
        return cls(
            name=body["name"],
            vector=np.asarray(body["vector"], dtype=np.float32),
            count_positive=body["count_positive"],
            count_negative=body["count_negative"],
            norm=body["norm"],
            custom=body["custom"],
        )


@dataclass(frozen=True)
class LatentMap:
    """A model's map: held-out images' codes placed on a plane (the plane itself for a 2-d latent,
    else their PCA), point i being the i-th image of `split`."""

    points: np.ndarray  # float32 [N, 2]
    labels: list[list[int]]  # per point, indices into label_names: one class, or its attributes
    label_names: list[str]
    label_kind: str  # "class", "attribute" or "none"
    split: str
    projection: dict[str, Any]  # position = (z - mean) @ components^T (identity for 2-d)

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> LatentMap:
        return cls(
            points=np.asarray(body["points"], dtype=np.float32).reshape(-1, 2),
            labels=body["labels"]["values"],
            label_names=body["labels"]["names"],
            label_kind=body["labels"]["kind"],
            split=body["split"],
            projection=body["projection"],
        )


@dataclass(frozen=True)
class Projected:
    """An image or code placed on the map, with the map points nearest to it in code space."""

    position: np.ndarray  # float32 [2]
    neighbours: np.ndarray  # int [k]: map point indices, nearest first
    distances: np.ndarray  # float32 [k]: their Euclidean distances in code space

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> Projected:
        near = body["neighbours"]
        return cls(
            position=np.asarray(body["position"], dtype=np.float32),
            neighbours=np.asarray([n["index"] for n in near], dtype=np.int64),
            distances=np.asarray([n["distance"] for n in near], dtype=np.float32),
        )


@dataclass(frozen=True)
class Scored:
    """One image's anomaly verdict: its score (higher is more anomalous), its p-value against the
    model's validation images, and whether it is past the threshold."""

    score: float
    p_value: float
    anomalous: bool
    scores: dict[str, float] | None = None  # every score the model offers (all_scores)
    map: np.ndarray | None = None  # uint8 [H, W], brighter where more anomalous (map)
    map_values: np.ndarray | None = None  # float32 [H, W] in [0, 1] (map_values)
    input: np.ndarray | None = None  # uint8: the image as the model sees it, aligned with map

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> Scored:
        heatmap, seen = body.get("map"), body.get("input")
        values = body.get("map_values")
        return cls(
            score=body["score"],
            p_value=body["p_value"],
            anomalous=body["anomalous"],
            scores=body.get("scores"),
            map=None if heatmap is None else images.from_base64([heatmap])[0],
            map_values=None if values is None else np.asarray(values, dtype=np.float32),
            input=None if seen is None else images.from_base64([seen])[0],
        )


@dataclass(frozen=True)
class Scores:
    """A score request's answer: which score decided, at which false-positive rate and threshold,
    and one `Scored` per image, in order."""

    score: str
    fpr: float
    threshold: float
    results: list[Scored]

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> Scores:
        return cls(
            score=body["score"],
            fpr=body["fpr"],
            threshold=body["threshold"],
            results=[Scored.from_reply(result) for result in body["results"]],
        )

    @property
    def anomalous(self) -> np.ndarray:
        """bool [N]: each image's verdict."""
        return np.array([result.anomalous for result in self.results], dtype=bool)

    @property
    def p_values(self) -> np.ndarray:
        return np.array([result.p_value for result in self.results], dtype=np.float64)


def _optional_codes(value: Any) -> np.ndarray | None:
    return None if value is None else latents.unpack(value)
