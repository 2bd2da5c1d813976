"""The naive baseline: the 30-line FastAPI app anyone would write to serve one decoder, run by
`python -m bench` beside the service. Kept honest: a sync route (FastAPI's thread pool), one
ONNX Runtime session with default options, PIL's PNG at its default level, base64 and orjson.

`uvicorn bench.naive:app` with BENCH_DECODER=<bundle>/decoder.onnx in the environment."""

import base64
import io
import os

import numpy as np
import onnxruntime as ort
import orjson
from fastapi import FastAPI, Response
from PIL import Image
from pydantic import BaseModel

session = ort.InferenceSession(os.environ["BENCH_DECODER"], providers=["CPUExecutionProvider"])
app = FastAPI()


class DecodeRequest(BaseModel):
    z: list[list[float]]


@app.post("/decode")
def decode(body: DecodeRequest) -> Response:
    (images,) = session.run(None, {"z": np.asarray(body.z, dtype=np.float32)})
    pixels = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
    encoded = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image[0] if len(image) == 1 else image.transpose(1, 2, 0)).save(
            buffer, "PNG"
        )
        encoded.append(base64.b64encode(buffer.getvalue()).decode())
    return Response(orjson.dumps({"images": encoded}), media_type="application/json")
