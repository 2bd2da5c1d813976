"""Feature networks: small CNN classifiers trained on a dataset's real training images. Their
penultimate layer (128 features) is the space where `training.quality` measures Fréchet distances,
as FID uses Inception's pool features; their accuracy on reconstructions measures what a decoder
keeps. Fashion-MNIST: 10 classes (softmax). Faces: the attributes the data varies (sigmoids).

`python -m training classifier --dataset ...` trains one and writes training/classifiers/<name>.pt
(config and weights) and <name>.json (its test accuracy and how it was trained).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from training.config import NETWORKS, ClassifierConfig, config_from_dict, to_dict
from training.datasets.splits import DatasetSplits, LabeledImages
from training.errors import ConfigError
from vae_core.files import sha256_file, write_json_atomic
from vae_core.preprocess import Preprocessing

CLASSIFIER_DIR = Path(__file__).resolve().parent / "classifiers"  # shipped in the package
FEATURES = 128
BATCH = 500


class ConvClassifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        previous = config.channels
        for width in config.widths:
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width)]
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            previous = width
        side = config.image_size // 2 ** len(config.widths)
        self.body = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(previous * side * side, FEATURES), nn.ReLU()
        )
        self.head = nn.Linear(FEATURES, len(config.labels))

    def features(self, image: Tensor) -> Tensor:
        """[N, FEATURES]: the penultimate layer."""
        return self.body(image)

    def forward(self, image: Tensor) -> Tensor:
        """Logits [N, labels]."""
        return self.head(self.body(image))


@dataclass(frozen=True)
class FeatureNetwork:
    """A trained classifier as evaluation uses it, with where it came from."""

    name: str
    net: ConvClassifier
    sha256: str
    test_accuracy: float

    @property
    def config(self) -> ClassifierConfig:
        return self.net.config

    @torch.no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        """images [N, C, H, W] in [0, 1] -> features [N, FEATURES] (float64)."""
        out = [self.net.features(torch.from_numpy(b)) for b in _batches(images)]
        return torch.cat(out).double().numpy()

    @torch.no_grad()
    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class index [N] (int64), or whether each label is present [N, K] (bool)."""
        logits = torch.cat([self.net(torch.from_numpy(b)) for b in _batches(images)])
        if self.config.label_kind == "class":
            return logits.argmax(dim=1).numpy()
        return (logits > 0).numpy()

    def accuracy(self, images: np.ndarray, split: LabeledImages) -> float:
        """Share of right predictions on images whose labels are `split`'s (for attributes, the
        mean over the network's attributes)."""
        return accuracy(self.predict(images), targets(self.config, split))


def _batches(images: np.ndarray) -> list[np.ndarray]:
    return [
        np.ascontiguousarray(images[i : i + BATCH], np.float32)
        for i in range(0, len(images), BATCH)
    ]


def targets(config: ClassifierConfig, split: LabeledImages) -> np.ndarray:
    """The labels the network predicts, from a split: class indices, or the attribute columns the
    network has, by name."""
    if config.label_kind == "class":
        return split.labels
    columns = [split.label_names.index(name) for name in config.labels]
    return split.has_label()[:, columns]


def accuracy(predicted: np.ndarray, expected: np.ndarray) -> float:
    return float((predicted == expected).mean())


def classifier_config(data: DatasetSplits) -> tuple[str, ClassifierConfig]:
    """The feature network's name and config for a dataset; for attributes, only those that vary
    in the training split (a constant column teaches nothing)."""
    spec = NETWORKS.get(data.name)
    if spec is None or spec.image_shape != data.preprocessing.output_shape:
        raise ConfigError(
            f"no feature network for {data.name!r} images {data.preprocessing.output_shape}; "
            f"expected one of {NETWORKS}"
        )
    has = data.train.has_label()
    varied = has.any(axis=0) & ~has.all(axis=0)
    labels = tuple(data.train.label_names[i] for i in np.flatnonzero(varied))
    channels, size, _ = spec.image_shape
    config = ClassifierConfig(data.name, channels, size, spec.widths, labels, data.train.label_kind)
    return spec.name, config


def train_classifier(
    data: DatasetSplits, epochs: int, seed: int = 0, lr: float = 2e-3, batch_size: int = 128
) -> ConvClassifier:
    """Adam on the training split, a cosine-decayed learning rate, fixed seeds; prints the
    validation accuracy after each epoch."""
    _, config = classifier_config(data)
    torch.manual_seed(seed)
    net = ConvClassifier(config)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * -(-len(data.train) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    y = torch.from_numpy(targets(config, data.train))
    for epoch in range(epochs):
        net.train()
        start = time.perf_counter()
        order = np.random.default_rng([seed, epoch]).permutation(len(data.train))
        for index in np.array_split(order, steps // epochs):
            x = torch.from_numpy(data.preprocessing.to_tensor(data.train.pixels[index]))
            loss = _loss(config, net(x), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        net.eval()
        val = evaluate_classifier(net, data.val, data.preprocessing)
        seconds = time.perf_counter() - start
        print(f"epoch {epoch + 1}/{epochs}: val accuracy {val:.4f} ({seconds:.0f} s)")
    return net.eval()


def _loss(config: ClassifierConfig, logits: Tensor, y: Tensor) -> Tensor:
    if config.label_kind == "class":
        return nn.functional.cross_entropy(logits, y)
    return nn.functional.binary_cross_entropy_with_logits(logits, y.float())


def evaluate_classifier(net: ConvClassifier, split: LabeledImages, prep: Preprocessing) -> float:
    network = FeatureNetwork("unsaved", net.eval(), "", float("nan"))
    return network.accuracy(prep.to_tensor(split.pixels), split)


def train_and_save(
    data: DatasetSplits, epochs: int, seed: int, directory: Path = CLASSIFIER_DIR
) -> dict[str, Any]:
    """Train the dataset's feature network, measure it on the test split, save it; its record."""
    name, _ = classifier_config(data)
    net = train_classifier(data, epochs, seed)
    record = {
        "name": name,
        "dataset": data.name,
        "test_accuracy": evaluate_classifier(net, data.test, data.preprocessing),
        "test_images": len(data.test),
        "train_images": len(data.train),
        "epochs": epochs,
        "seed": seed,
    }
    save_classifier(net, name, record, directory)
    return record


def save_classifier(
    net: ConvClassifier, name: str, record: dict[str, Any], directory: Path = CLASSIFIER_DIR
) -> Path:
    """Write <name>.pt (config and weights) and <name>.json (`record` and the .pt's sha256)."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / f"{name}.pt"
    tmp = weights.with_suffix(".tmp")
    torch.save({"config": to_dict(net.config), "model": net.state_dict()}, tmp)
    tmp.replace(weights)
    write_json_atomic(directory / f"{name}.json", {**record, "sha256": sha256_file(weights)})
    return weights


def load_feature_network(name: str, directory: Path = CLASSIFIER_DIR) -> FeatureNetwork:
    """The shipped classifier `name`, checked against the sha256 its record names."""
    weights, record_path = directory / f"{name}.pt", directory / f"{name}.json"
    if not weights.is_file() or not record_path.is_file():
        raise ConfigError(
            f"no feature network {name!r} in {directory} (see python -m training classifier)"
        )
    record = json.loads(record_path.read_text())
    sha256 = sha256_file(weights)
    if sha256 != record["sha256"]:
        raise ConfigError(f"{weights}: sha256 does not match {record_path}")
    raw = torch.load(weights, map_location="cpu", weights_only=True)
    net = ConvClassifier(config_from_dict(ClassifierConfig, raw["config"]))
    net.load_state_dict(raw["model"])
    return FeatureNetwork(name, net.eval(), sha256, float(record["test_accuracy"]))


def feature_network_for(dataset: str, image_shape: tuple[int, int, int]) -> FeatureNetwork | None:
    """The shipped feature network that measures this dataset's images of this shape; None if
    the project has none for them (ConfigError if it has one but its files are missing)."""
    spec = NETWORKS.get(dataset)
    if spec is None or spec.image_shape != image_shape:
        return None
    return load_feature_network(spec.name)
