"""Configuration: a frozen architecture (saved in the checkpoint and the bundle) apart from the
run settings. Both are plain dataclasses; unknown keys are an error."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from training.errors import ConfigError
from training.vocabulary import Activation, Fit, Norm, Upsample
from vae_core.vocabulary import LabelKind, ModelKind, Reconstruction


@dataclass(frozen=True)
class ModelConfig:
    """The network. Each width is one stride-2 conv in the encoder, mirrored in the decoder."""

    kind: ModelKind = "vae"
    channels: int = 1
    image_size: int = 32
    widths: tuple[int, ...] = (32, 64, 128)
    latent_dim: int = 2
    norm: Norm = "none"
    activation: Activation = "relu"
    upsample: Upsample = "conv_transpose"

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        if self.image_size % (2 ** len(self.widths)):
            raise ConfigError(
                f"image_size {self.image_size} must be divisible by 2**{len(self.widths)} "
                f"(one halving per width in {self.widths})"
            )
        if self.latent_dim < 1 or self.channels not in (1, 3) or not self.widths:
            raise ConfigError("need latent_dim >= 1, channels 1 or 3 and at least one width")

    @property
    def bottleneck_size(self) -> int:
        """Side of the feature map before flattening."""
        return self.image_size // 2 ** len(self.widths)


# The book's architectures (Generative Deep Learning, 2nd ed., chapter 3).
PRESETS: dict[str, ModelConfig] = {
    "fashion": ModelConfig(),
    "faces": ModelConfig(
        channels=3,
        image_size=64,
        widths=(128, 128, 128, 128, 128),
        latent_dim=200,
        norm="batch",
        activation="leaky_relu",
    ),
}


@dataclass(frozen=True)
class TrainConfig:
    """One training run."""

    name: str = "model"
    dataset: str = "fashion-mnist"  # a name in training.datasets.catalog.DATASETS
    data_dir: str | None = None
    image_size: int = 32  # the side of the model's input, one the dataset gives (Fashion-MNIST: 32)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    reconstruction: Reconstruction = "bce"
    seed: int = 0
    max_train_images: int | None = None
    nll_samples: int = 50
    channels_last: bool = False
    compile: bool = False
    workers: int | None = None  # image-decoding processes (CelebA, a folder); None: one per CPU
    # A folder of your own images (dataset "folder"; see training.datasets.folder):
    channels: int | None = None  # 1 or 3; None: 1 if every image is grayscale, else 3
    fit: Fit = "crop"  # square by cutting out the centre, or by padding
    skip_bad_images: bool = False  # leave unreadable images out (counted in the bundle)
    split_seed: int = 0  # seed of the 80/10/10 draw of splits that have no subfolder
    cache_dir: str | None = None  # where decoded pixels are kept between runs; None: none


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Build a config dataclass, refusing keys it does not define."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} keys {unknown}; expected some of {sorted(known)}"
        )
    return cls(**values)


def to_dict(config: Any) -> dict[str, Any]:
    out = asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


@dataclass(frozen=True)
class ClassifierConfig:
    """The network: one 3x3 conv + BatchNorm + ReLU + 2x2 max-pool per width, a dense layer of
    FEATURES (the features), and one output per label."""

    dataset: str
    channels: int
    image_size: int
    widths: tuple[int, ...]
    labels: tuple[str, ...]
    label_kind: LabelKind

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "labels", tuple(self.labels))


@dataclass(frozen=True)
class NetworkSpec:
    """Which feature network measures a dataset's images of one shape, and its widths."""

    name: str
    image_shape: tuple[int, int, int]
    widths: tuple[int, ...]


NETWORKS: dict[str, NetworkSpec] = {
    "fashion-mnist": NetworkSpec("fashion-mnist", (1, 32, 32), (16, 32, 64)),
    "celeba": NetworkSpec("faces", (3, 64, 64), (8, 16, 32, 64)),  # trained on generated faces
}


MAX_SCORE_SAMPLES = 256


@dataclass(frozen=True)
class CalibrationConfig:
    """How a bundle's anomaly scores are calibrated (`python -m training calibrate`): K for elbo
    and complexity, K for nll, the seed of their fixed noise, and the images per
    out-of-distribution set of the evaluation (0: calibrate without evaluating)."""

    elbo_samples: int = 1
    nll_samples: int = 16
    seed: int = 0
    ood_images: int = 5000

    def __post_init__(self) -> None:
        for name in ("elbo_samples", "nll_samples"):
            if not 1 <= getattr(self, name) <= MAX_SCORE_SAMPLES:
                raise ConfigError(f"{name} must lie in 1..{MAX_SCORE_SAMPLES}")
        if self.ood_images < 0:
            raise ConfigError("ood_images must be at least 0")

    @property
    def evaluate(self) -> bool:
        return self.ood_images > 0
