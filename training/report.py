"""`python -m training report MODEL_DIR`: figures of a bundle, computed from its ONNX model on the
real test set, so they show exactly what the service serves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from training.datasets.splits import DatasetSplits
from training.quality import encode_pixels
from training.train import bundle_dataset
from vae_core.graphs import OnnxAutoencoder, load_autoencoder, session_options
from vae_core.latent import interpolate
from vae_core.vocabulary import SamplerName

SWEEP = np.linspace(-3, 3, 7)
SHOWCASE = ("Smiling", "Eyeglasses", "Wearing_Hat", "Blond_Hair", "Male", "Mouth_Slightly_Open")


def decode(model: OnnxAutoencoder, z: np.ndarray) -> np.ndarray:
    """[N, H, W] or [N, H, W, 3] images in [0, 1], ready for imshow."""
    images = model.decode(z)
    return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)


def write_report(
    model_dir: Path, out: Path | None = None, data_dir: str | None = None
) -> list[Path]:
    model = load_autoencoder(model_dir, session_options(threads=2))
    out = out or Path("docs/figures") / model_dir.name
    out.mkdir(parents=True, exist_ok=True)
    data = bundle_dataset(model.manifest, data_dir)
    test = data.test.subset(slice(0, 5000))
    z_test = encode_pixels(model, test.pixels)
    figures = {
        "latent_scatter.png": lambda: latent_scatter(model, z_test, test.labels, data),
        "reconstructions.png": lambda: reconstructions(model, test.pixels[:12]),
        "samples.png": lambda: samples(model),
        "interpolation.png": lambda: interpolation(model, z_test[0], z_test[1]),
        "code_histograms.png": lambda: code_histograms(model, z_test),
    }
    if model.attributes:
        figures["attribute_sweeps.png"] = lambda: attribute_sweeps(model, z_test)
    if model.manifest.latent_dim == 2:
        figures["latent_grid.png"] = lambda: latent_grid(model, z_test)
    if model.manifest.latent_dim == 2 and "gmm" in model.samplers:
        figures["mixture.png"] = lambda: mixture_components(model, z_test, test.labels, data)
    paths = []
    for name, draw in figures.items():
        fig = draw()
        fig.savefig(out / name, dpi=100, bbox_inches="tight")
        plt.close(fig)
        paths.append(out / name)
    return paths


def _grid(
    images: np.ndarray, rows: int, cols: int, titles: list[str] | None = None, size: float = 1.0
) -> Figure:
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray" if images.ndim == 3 else None, vmin=0, vmax=1)
        if titles and i < len(titles) and titles[i]:
            ax.set_title(titles[i], fontsize=7)
    return fig


def latent_scatter(
    model: OnnxAutoencoder, z: np.ndarray, labels: np.ndarray, data: DatasetSplits
) -> Figure:
    """Test codes coloured by class: 2-D directly, else their first two principal components."""
    points, axis = z, ("z[0]", "z[1]")
    if z.shape[1] > 2:
        centred = z - z.mean(axis=0)
        points, axis = (
            centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T,
            ("PC 1", "PC 2"),
        )
    fig, ax = plt.subplots(figsize=(7, 6))
    if not data.test.label_names:  # an unlabeled folder: one colour
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.6)
    else:
        colour = labels if labels.ndim == 1 else labels[:, 0]
        scatter = ax.scatter(points[:, 0], points[:, 1], c=colour, cmap="tab10", s=2, alpha=0.6)
        names = (
            data.test.label_names
            if labels.ndim == 1
            else ["not " + data.test.label_names[0], data.test.label_names[0]]
        )
        ax.legend(scatter.legend_elements()[0], names, fontsize=7, markerscale=1.5, loc="best")
    ax.set_xlabel(axis[0])
    ax.set_ylabel(axis[1])
    ax.set_title(f"{model.manifest.name}: test set in latent space")
    return fig


def reconstructions(model: OnnxAutoencoder, pixels: np.ndarray) -> Figure:
    originals = model.manifest.preprocessing.to_tensor(pixels)
    originals = originals[:, 0] if originals.shape[1] == 1 else originals.transpose(0, 2, 3, 1)
    decoded = decode(model, encode_pixels(model, pixels))
    titles = ["input"] + [""] * (len(pixels) - 1) + ["decoded z_mean"]
    return _grid(np.concatenate([originals, decoded]), 2, len(pixels), titles)


def samples(model: OnnxAutoencoder, rows: int = 6, cols: int = 6) -> Figure:
    """The same number of samples from each sampler, side by side, titled with its Fréchet
    distance when the bundle records one."""
    names = list(model.samplers)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        z = model.samplers[name].sample(rows * cols, np.random.default_rng(0), 1.0)
        ax.imshow(_montage(decode(model, z), rows, cols), cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
        ax.set_title(_sampler_title(model, name), fontsize=8)
    fig.suptitle(f"{model.manifest.name}: samples from each sampler", fontsize=9)
    return fig


def _montage(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """[rows * cols, H, W(, 3)] -> one [rows * H, cols * W(, 3)] image."""
    tiles = images.reshape(rows, cols, *images.shape[1:])
    return np.concatenate(np.concatenate(tiles, axis=1), axis=1)


def _sampler_title(model: OnnxAutoencoder, name: SamplerName) -> str:
    scores = {s.name: s for s in model.manifest.samplers.offered} if model.manifest.samplers else {}
    distance = scores[name].frechet_distance if name in scores else None
    default = " (default)" if name == model.manifest.default_sampler else ""
    measured = f"\nFréchet distance {distance:.2f}" if distance is not None else ""
    return f"{name}{default}{measured}"


def mixture_components(
    model: OnnxAutoencoder, z: np.ndarray, labels: np.ndarray, data: DatasetSplits
) -> Figure:
    """The fitted samplers over the 2-D test codes: each mixture component's 2-sigma ellipse
    (line width by weight) and the one Gaussian's (dashed)."""
    fig = latent_scatter(model, z, labels, data)
    ax = fig.axes[0]
    mixture, gaussian = model.samplers["gmm"], model.samplers["gaussian"]
    for weight, mean, factor in zip(mixture.weights, mixture.means, mixture.cholesky, strict=True):
        ax.plot(*_ellipse(mean, factor), color="black", lw=0.5 + 8 * weight)
        ax.plot(*mean, "k+", ms=6)
    ax.plot(*_ellipse(gaussian.means[0], gaussian.cholesky[0]), "k--", lw=1)
    ax.set_title(
        f"{model.manifest.name}: mixture of {mixture.components} Gaussians fitted to the training "
        "codes (2σ, width by weight; dashed: one Gaussian)",
        fontsize=8,
    )
    return fig


def _ellipse(mean: np.ndarray, factor: np.ndarray, radius: float = 2.0) -> np.ndarray:
    """Points [2, 100] of {mean + radius · L · u : |u| = 1}."""
    angle = np.linspace(0, 2 * np.pi, 100)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return mean[:, None] + radius * factor @ circle


def latent_grid(model: OnnxAutoencoder, z: np.ndarray, n: int = 15) -> Figure:
    """Decoded images over the 2-D plane (the 1st to 99th percentile of the test codes)."""
    low, high = np.percentile(z, 1, axis=0), np.percentile(z, 99, axis=0)
    xs, ys = np.linspace(low[0], high[0], n), np.linspace(high[1], low[1], n)
    plane = np.array([[x, y] for y in ys for x in xs], dtype=np.float32)
    fig = _grid(decode(model, plane), n, n, size=0.6)
    fig.suptitle(f"{model.manifest.name}: decoded latent plane", fontsize=9)
    return fig


def interpolation(
    model: OnnxAutoencoder, z_a: np.ndarray, z_b: np.ndarray, steps: int = 10
) -> Figure:
    rows = [decode(model, interpolate(z_a, z_b, steps, method)) for method in ("linear", "slerp")]
    fig = _grid(np.concatenate(rows), 2, steps, ["linear"] + [""] * (steps - 1) + ["slerp"])
    fig.suptitle(f"{model.manifest.name}: interpolation between two test images", fontsize=9)
    return fig


def attribute_sweeps(model: OnnxAutoencoder, z: np.ndarray, count: int = 6) -> Figure:
    """Each row adds strength * vector (-3 ... +3) to one test image's code."""
    vectors = list(model.attributes.values())
    chosen = ([a for a in vectors if a.name in SHOWCASE] or vectors)[:count]
    rows = [
        decode(model, z[i % len(z)] + SWEEP[:, None] * a.as_array()) for i, a in enumerate(chosen)
    ]
    titles = [
        f"{a.name} {s:+.0f}" if j == 0 or s == SWEEP[-1] else f"{s:+.0f}"
        for a in chosen
        for j, s in enumerate(SWEEP)
    ]
    fig = _grid(np.concatenate(rows), len(chosen), len(SWEEP), titles, size=1.1)
    fig.suptitle(f"{model.manifest.name}: attribute vectors, strength -3 ... +3", fontsize=9)
    return fig


def code_histograms(model: OnnxAutoencoder, z: np.ndarray, dims: int = 16) -> Figure:
    """Per-dimension histograms of the test codes against the N(0, 1) density."""
    shown = min(dims, z.shape[1])
    cols = min(shown, 8)
    fig, axes = plt.subplots(
        (shown + cols - 1) // cols,
        cols,
        figsize=(cols * 1.6, 1.4 * ((shown + cols - 1) // cols)),
        squeeze=False,
    )
    grid = np.linspace(-4, 4, 200)
    for d, ax in enumerate(axes.flat):
        ax.set_yticks([])
        if d >= shown:
            ax.axis("off")
            continue
        ax.hist(z[:, d], bins=40, range=(-4, 4), density=True, color="tab:blue", alpha=0.7)
        ax.plot(grid, np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi), color="tab:red", lw=1)
        ax.set_title(f"z[{d}]", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"{model.manifest.name}: z_mean per dimension vs N(0, 1)", fontsize=9)
    return fig
