"""vae-serve training: AE and VAE models in PyTorch, exported as ONNX bundles for the service."""
