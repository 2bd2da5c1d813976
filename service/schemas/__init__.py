"""The wire types of the HTTP API: the fields and their limits (`fields`), the latent codes and
their packed float32 codec (`latents`), request bodies (`requests`) and responses (`responses`).

Leaves of the service: they import only pydantic, numpy and the core (`vae_core`), never the
runtime, so a client or a test can use them without ONNX Runtime."""
