"""The decoder served by MLServer (a peer in `make bench-peers`): the same work per request as
bench/naive.py (ONNX Runtime with default options, PIL's PNG at its default level, base64), as an
MLServer custom runtime with MLServer's defaults. Runs in its own venv (bench/.peers), never
imported by the project."""

import base64
import io

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.types import InferenceRequest, InferenceResponse
from PIL import Image


class Decoder(MLModel):
    async def load(self) -> bool:
        path = self.settings.parameters.uri
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        z = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        (images,) = self.session.run(None, {"z": z})
        pixels = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
        encoded = []
        for image in pixels:
            buffer = io.BytesIO()
            Image.fromarray(image[0] if len(image) == 1 else image.transpose(1, 2, 0)).save(
                buffer, "PNG"
            )
            encoded.append(base64.b64encode(buffer.getvalue()).decode())
        output = StringCodec.encode_output("images", encoded)
        return InferenceResponse(model_name=self.name, outputs=[output])
