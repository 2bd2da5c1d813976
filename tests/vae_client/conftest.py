"""The service's fixtures (the shipped bundles, real Fashion-MNIST images, a live server process),
for the client's tests."""

from tests.service.conftest import (  # noqa: F401  (fixtures, registered by import)
    boot,
    fashion_pngs,
    live_server,
    model_dir,
    trouser,
)
