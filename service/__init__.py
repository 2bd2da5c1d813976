"""vae-serve: serve autoencoder and VAE bundles (ONNX) over HTTP. No torch at serving time."""

__version__ = "0.1.0"
