"""The words that training, the bundle, the service and its clients share, each declared once.

They are `Literal` types, so a manifest or a request that uses another word fails validation, and
the JSON schema lists the allowed values.
"""

from __future__ import annotations

from typing import Literal, get_args

ModelKind = Literal["ae", "vae"]
"""An autoencoder maps an image to a point; a VAE maps it to a normal distribution."""

Reconstruction = Literal["bce", "mse"]
"""The reconstruction term of the loss: binary cross-entropy (pixels as Bernoulli probabilities,
for Fashion-MNIST) or the sum of squared errors (for photographs). The anomaly scores read the
likelihood p(x|z) it implies."""

PriorKind = Literal["standard_normal", "empirical_gaussian"]
"""Where codes are sampled from: N(0, I) (a VAE's prior), or the Gaussian fitted to the training
codes (an AE has no prior of its own)."""

SamplerName = Literal["prior", "gaussian", "gmm"]
"""How codes are drawn: the prior N(0, I) (a VAE only), the one Gaussian fitted to the training
codes, or the mixture of Gaussians fitted to them (ex-post density estimation)."""

LabelKind = Literal["class", "attribute", "none"]
"""One class per image (Fashion-MNIST), any number of binary attributes (CelebA), or no labels at
all (a plain folder of images: no attribute vectors)."""

InterpolationMethod = Literal["linear", "slerp"]
"""A straight line between two codes, or a great-circle arc (spherical interpolation)."""

ProjectionKind = Literal["identity", "pca"]
"""How a latent map places codes on its plane: as they are (a 2-d latent), or on their two leading
principal components."""

ColorMode = Literal["L", "RGB"]
"""The PIL mode the encoder takes: grayscale or RGB."""

Crop = Literal["none", "center_square", "pad_square"]
"""How an image is made square before resizing: not at all, cut to its largest centred square, or
padded to its smallest enclosing square (centred on black, so nothing is cut off)."""

FolderLayout = Literal["class_folders", "metadata", "unlabeled"]
"""How a folder of images carries its labels: one subfolder per class (torchvision's ImageFolder),
a metadata.csv or metadata.jsonl with binary attribute columns (Hugging Face's imagefolder), or
none."""

SplitSource = Literal["folder", "seeded"]
"""Where a split of a folder dataset came from: its own subfolder (train/, val/, test/), or a
seeded draw from the images."""

ScoreName = Literal["combined", "latent", "reconstruction", "l1", "elbo", "nll", "complexity"]
"""How unusual an image is, each oriented so that higher means more anomalous (defined in
vae_core.anomaly): the calibrated combination of the others, the density of its code, its
reconstruction loss or mean absolute pixel error, -ELBO, importance-sampled -log p(x), and -ELBO
corrected for the input's complexity."""

ReloadOutcome = Literal["added", "replaced", "unchanged", "removed", "kept_previous", "unavailable"]
"""What a reload did with one bundle folder."""


def values(vocabulary: object) -> tuple[str, ...]:
    """The words of a vocabulary, e.g. `values(ModelKind)` is `("ae", "vae")`."""
    return get_args(vocabulary)


GraphName = Literal["encoder", "decoder"]
"""A bundle's two graphs: images to codes, and codes to images."""

Precision = Literal["fp32", "int8"]
"""The arithmetic a bundle's graphs run in: float32 throughout, or int8 matrix products (weights
and the activations entering them quantized, everything else float32) where the quality gate of
`python -m training quantize` allowed it."""

Int8Tier = Literal["none", "simd", "dot_product"]
"""What a CPU offers int8 matrix products, from least to most: no vector int8 instructions, int8
multiplied in 16-bit pairs (AVX2, AVX-512BW, NEON), or int8 dot products accumulated in 32 bits in
one instruction (AVX512-VNNI, AVX-VNNI, AMX, Arm's dot product)."""

PrecisionSetting = Literal["auto", "fp32", "int8"]
"""The precision an operator asks a bundle to serve at: `auto` is what the bundle recommends where
the CPU has the instructions its speed-up was measured with."""
