"""The book's attribute arithmetic on the shipped faces model, judged by a classifier trained here.

Faces come from the generator with a seed the model never saw (it was trained on seed 0). The judge
is a small CNN, one output per attribute, trained on the model's own reconstructions of labelled
faces, so that it learns what an attribute looks like after the decoder; it then judges decoded
codes that were moved along an attribute vector: z' = z_mean ± STRENGTH · vector, the vector being
the bundle's (mean latent of faces with the attribute minus the mean of those without).

Both Eyeglasses and Smiling are asserted at the same strength, ±2. With the shipped model
(seed 12345, 400 held-out faces) the judge agrees with the true labels on 95.5% (Eyeglasses) and
98.0% (Smiling) of unmoved reconstructions; at ±2 glasses are judged added to 85.6% of faces and
removed from 92.5%, a smile added to 94.6% and removed from 90.3%. The same distance in a random
direction adds glasses to 3.0% and a smile to 1.0%. `pytest -s` prints each figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from tests.conftest import MODELS_DIR, require, worker_threads
from training.faces.drawing import draw_face
from training.faces.records import sample_face
from vae_core import bundle
from vae_core.graphs import session_options

pytestmark = pytest.mark.evaluation

FACES_MODEL = MODELS_DIR / "faces-vae-200d"
UNSEEN_SEED = 12345
STRENGTH = 2.0  # documented in the README: ±2 x the attribute vector adds or removes it
TARGET = 0.8  # the least share of moved faces judged to gain (or lose) the attribute
CONTROL = 0.9  # the judge must agree with the true labels on unmoved reconstructions
FIT, HELD_OUT = 2000, 400
ATTRIBUTES = ("Eyeglasses", "Smiling")

Judge = Callable[[np.ndarray], np.ndarray]


class FacesModel:
    def __init__(self) -> None:
        require((FACES_MODEL / bundle.MANIFEST).is_file(), f"the shipped bundle {FACES_MODEL}")
        self.manifest = bundle.read_manifest(FACES_MODEL)
        vectors = bundle.read_attributes(FACES_MODEL / bundle.ATTRIBUTES, self.manifest.latent_dim)
        self.vectors = {v.name: v.as_array() for v in vectors}
        options = session_options(worker_threads())
        self.encoder = ort.InferenceSession(str(FACES_MODEL / bundle.ENCODER), options)
        self.decoder = ort.InferenceSession(str(FACES_MODEL / bundle.DECODER), options)

    def encode(self, x: np.ndarray) -> np.ndarray:
        batches = [self.encoder.run(["z_mean"], {"image": b})[0] for b in _batches(x)]
        return np.concatenate(batches)

    def decode(self, z: np.ndarray) -> np.ndarray:
        z = z.astype(np.float32)
        return np.concatenate([self.decoder.run(None, {"z": b})[0] for b in _batches(z)])


def _batches(x: np.ndarray, size: int = 256) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


def fit_judge(images: np.ndarray, has: np.ndarray) -> Judge:
    """Three conv layers with global max pooling (finds a local feature wherever the face is),
    one logit per attribute: `has` is bool [n, attributes]; the judge says bool [n, attributes].
    One network for both attributes costs half the training of one each, and the control test
    holds it to the same agreement with the true labels on every attribute."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, has.shape[1]),
    )  # fmt: skip
    x, y = (torch.from_numpy(images) - 0.5) * 4, torch.from_numpy(has.astype(np.float32))
    optimizer = torch.optim.Adam(net.parameters(), 2e-3)
    order = torch.Generator().manual_seed(0)
    for _ in range(10):
        for batch in torch.randperm(len(x), generator=order).split(64):
            loss = nn.functional.binary_cross_entropy_with_logits(net(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def judge(batch: np.ndarray) -> np.ndarray:
        return (net((torch.from_numpy(batch) - 0.5) * 4) > 0).numpy()

    return judge


@dataclass(frozen=True)
class Experiment:
    """The shipped model, the codes (z_mean) of unseen held-out faces with their true labels, and
    the judge of every attribute, fitted on the model's reconstructions of FIT other faces."""

    model: FacesModel
    z: np.ndarray
    labels: dict[str, np.ndarray]
    judge: Judge

    def codes(self, attribute: str, having: bool) -> np.ndarray:
        return self.z[self.labels[attribute] == having]

    def judge_codes(self, attribute: str, z: np.ndarray) -> np.ndarray:
        """bool per code: does its decoded face show the attribute?"""
        return self.judge(self.model.decode(z))[:, ATTRIBUTES.index(attribute)]


@pytest.fixture(scope="module")
def experiment() -> Experiment:
    model = FacesModel()
    drawn = [sample_face(UNSEEN_SEED, i) for i in range(FIT + HELD_OUT)]
    x = model.manifest.preprocessing.apply([draw_face(face) for face in drawn])
    labels = {
        name: np.array([face.attributes.celeba_flags()[name] for face in drawn])
        for name in ATTRIBUTES
    }
    reconstructions = model.decode(model.encode(x[:FIT]))
    judge = fit_judge(reconstructions, np.stack([labels[name][:FIT] for name in ATTRIBUTES], 1))
    held_out = {name: has[FIT:] for name, has in labels.items()}
    return Experiment(model, model.encode(x[FIT:]), held_out, judge)


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_the_judge_recognises_the_attribute_on_unmoved_reconstructions(
    experiment: Experiment, attribute: str
) -> None:
    """The control: at strength 0, on held-out faces, the judge agrees with the true labels."""
    judged = experiment.judge_codes(attribute, experiment.z)
    agreement = (judged == experiment.labels[attribute]).mean()
    print(f"{attribute}: the judge agrees with the labels on {agreement:.1%} of unmoved faces")
    assert agreement >= CONTROL


@pytest.mark.parametrize("attribute", ATTRIBUTES)
@pytest.mark.parametrize("direction", [+1, -1])
def test_moving_along_the_attribute_vector_adds_or_removes_the_attribute(
    experiment: Experiment, attribute: str, direction: int
) -> None:
    start = experiment.codes(attribute, having=direction < 0)  # without it, to add; with, to remove
    vector = experiment.model.vectors[attribute]
    judged = experiment.judge_codes(attribute, start + direction * STRENGTH * vector)
    changed = judged.mean() if direction > 0 else (~judged).mean()
    verb = "added" if direction > 0 else "removed"
    print(f"{attribute} {verb} at ±{STRENGTH:g}: {changed:.1%} of {len(start)} faces")
    assert changed >= TARGET, f"{attribute} {verb} in {changed:.0%} of {len(start)} faces"


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_a_random_move_of_the_same_length_does_not_add_the_attribute(
    experiment: Experiment, attribute: str
) -> None:
    """The judge is not just saying yes to any moved code: the same distance in a random direction
    adds the attribute to few faces, so the vector's direction is what carries it."""
    vector = experiment.model.vectors[attribute]
    random = np.random.default_rng(0).standard_normal(vector.shape)
    random *= np.linalg.norm(vector) / np.linalg.norm(random)
    start = experiment.codes(attribute, having=False)
    judged = experiment.judge_codes(attribute, start + STRENGTH * random)
    print(f"{attribute} added by a random move of the same length: {judged.mean():.1%}")
    assert judged.mean() <= 1 - TARGET, f"{attribute} added by a random move to {judged.mean():.0%}"
