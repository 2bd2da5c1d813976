"""The `vae-serve` command: serve the bundles (`serve`), run every training command (`train`,
`export`, `calibrate`, `quantize`, ...: `python -m training`, with the training extra), and call a
running server (`models`, `encode`, `decode`, `sample`, `edit`, `interpolate`, `score`, via
vae_client).
See `vae-serve --help`."""
