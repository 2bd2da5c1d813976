"""The neutral core of vae-serve: what training (which writes model bundles) and the service (which
serves them) must agree on.

- `vocabulary`: the shared words (model kind, prior, interpolation method, ...), each declared once;
- `bundle`: the bundle contract (file names, the manifest schema, attribute vectors), read and
  written by the same code;
- `files`: checksums, change stamps and atomic writes;
- `preprocess`: how an image of any size and mode becomes the encoder's input;
- `latent`: the latent maths (reparameterization, attribute vectors, interpolation, priors);
- `latent_map`: the optional latent map (held-out codes on a plane, their thumbnails), its
  projection and nearest-neighbour search;
- `graphs`: the bundle's two ONNX graphs under ONNX Runtime;
- `errors`: plain domain errors, with no HTTP status (the service maps them).

It imports neither torch nor FastAPI; `training` and `service` import it and never each other.
"""
