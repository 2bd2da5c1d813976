"""The `vae-serve` command: serve the bundles (`serve`), train and export them (`train`,
`export`, `report`, `evaluate`, `faces`: the training command line, with the training extra), and
call a running server (`models`, `encode`, `decode`, `sample`, `edit`, `morph`, via vae_client).
See `vae-serve --help`."""
