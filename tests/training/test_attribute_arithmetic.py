"""The book's attribute arithmetic on the shipped faces model, judged by a classifier trained here.

Faces come from the generator with a seed the model never saw (it was trained on seed 0). The judge
is a small CNN trained on the model's own reconstructions of labelled faces, so that it learns what
an attribute looks like after the decoder; it then judges decoded codes that were moved along an
attribute vector: z' = z_mean ± STRENGTH · vector, the vector being the bundle's (mean latent of
faces with the attribute minus the mean of those without).

Eyeglasses passes the bar. Smiling does not yet, and so is not asserted here: with the shipped
model a judge of the same kind agrees with the true Smiling labels on 79-87% of held-out
reconstructions, and moving along the Smiling vector at ±2 is judged to add a smile in 33-41% and
remove it in 38-40% of faces (the smile is a small feature at 64x64 and the decoder renders it
faintly). That is open work on issue 4, reported in its note, not a passing check.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from service import bundle
from tests.conftest import MODELS_DIR, require
from training.faces import draw_face, sample_face

FACES_MODEL = MODELS_DIR / "faces-vae-200d"
UNSEEN_SEED = 12345
STRENGTH = 2.0  # documented in the README: ±2 x the attribute vector adds or removes it
TARGET = 0.8  # the bar for adding and for removing
CONTROL = 0.9  # the judge must agree with the true labels on unmoved reconstructions
FIT, HELD_OUT = 2000, 400
ATTRIBUTES = ("Eyeglasses",)

Judge = Callable[[np.ndarray], np.ndarray]


class FacesModel:
    def __init__(self) -> None:
        require((FACES_MODEL / bundle.MANIFEST).is_file(), f"the shipped bundle {FACES_MODEL}")
        self.manifest = bundle.read_manifest(FACES_MODEL)
        vectors = bundle.read_attributes(FACES_MODEL / bundle.ATTRIBUTES, self.manifest.latent_dim)
        self.vectors = {v.name: v.as_array() for v in vectors}
        self.encoder = ort.InferenceSession(str(FACES_MODEL / bundle.ENCODER))
        self.decoder = ort.InferenceSession(str(FACES_MODEL / bundle.DECODER))

    def encode(self, x: np.ndarray) -> np.ndarray:
        batches = [self.encoder.run(["z_mean"], {"image": b})[0] for b in _batches(x)]
        return np.concatenate(batches)

    def decode(self, z: np.ndarray) -> np.ndarray:
        z = z.astype(np.float32)
        return np.concatenate([self.decoder.run(None, {"z": b})[0] for b in _batches(z)])


def _batches(x: np.ndarray, size: int = 256) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


@pytest.fixture(scope="module")
def model() -> FacesModel:
    return FacesModel()


@pytest.fixture(scope="module")
def faces(model: FacesModel) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Unseen generated faces, preprocessed as the bundle says, with their true labels."""
    drawn = [sample_face(UNSEEN_SEED, i) for i in range(FIT + HELD_OUT)]
    x = model.manifest.preprocessing.apply([draw_face(face) for face in drawn])
    labels = {
        name: np.array([face.attributes.celeba_flags()[name] for face in drawn])
        for name in ATTRIBUTES
    }
    return x, labels


def fit_judge(images: np.ndarray, has: np.ndarray) -> Judge:
    """Three conv layers with global max pooling: finds a local feature wherever the face is."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, 1),
    )  # fmt: skip
    x, y = (torch.from_numpy(images) - 0.5) * 4, torch.from_numpy(has.astype(np.float32))
    optimizer = torch.optim.Adam(net.parameters(), 2e-3)
    order = torch.Generator().manual_seed(0)
    for _ in range(10):
        for batch in torch.randperm(len(x), generator=order).split(64):
            loss = nn.functional.binary_cross_entropy_with_logits(net(x[batch])[:, 0], y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def judge(batch: np.ndarray) -> np.ndarray:
        return (net((torch.from_numpy(batch) - 0.5) * 4)[:, 0] > 0).numpy()

    return judge


@pytest.fixture(scope="module")
def judges(model: FacesModel, faces: tuple[np.ndarray, dict[str, np.ndarray]]) -> dict[str, Judge]:
    x, labels = faces
    reconstructions = model.decode(model.encode(x[:FIT]))
    return {name: fit_judge(reconstructions, has[:FIT]) for name, has in labels.items()}


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_the_judge_recognises_the_attribute_on_unmoved_reconstructions(
    model: FacesModel,
    faces: tuple[np.ndarray, dict[str, np.ndarray]],
    judges: dict[str, Judge],
    attribute: str,
) -> None:
    """The control: at strength 0, on held-out faces, the judge agrees with the true labels."""
    x, labels = faces
    judged = judges[attribute](model.decode(model.encode(x[FIT:])))
    assert (judged == labels[attribute][FIT:]).mean() >= CONTROL


@pytest.mark.parametrize("attribute", ATTRIBUTES)
@pytest.mark.parametrize("direction", [+1, -1])
def test_moving_along_the_attribute_vector_adds_or_removes_the_attribute(
    model: FacesModel,
    faces: tuple[np.ndarray, dict[str, np.ndarray]],
    judges: dict[str, Judge],
    attribute: str,
    direction: int,
) -> None:
    x, labels = faces
    has = labels[attribute][FIT:]
    start = x[FIT:][~has if direction > 0 else has]  # held-out faces without (or with) it
    moved = model.encode(start) + direction * STRENGTH * model.vectors[attribute]
    judged = judges[attribute](model.decode(moved))
    changed = judged.mean() if direction > 0 else (~judged).mean()
    verb = "added" if direction > 0 else "removed"
    assert changed >= TARGET, f"{attribute} {verb} in {changed:.0%} of {len(start)} faces"
