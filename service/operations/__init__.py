"""What each endpoint does, between HTTP (service.routes) and the model (vae_core.graphs), one
module per resource like the routes: `models` (list, describe, reload, readiness), `latent`
(encode, decode, sample, reconstruct, edit, interpolate) and `attributes` (built-in and custom
vectors). `convert` turns request inputs into arrays and arrays into reply parts.

Public methods that do blocking work (decoding images, ONNX, PNG) are coroutines made with
`service.runtime.in_pool`: a route awaits them and the work runs in the inference pool, off the
event loop."""
