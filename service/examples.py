"""Examples for the OpenAPI docs, so "Try it out" works on the shipped models as they are.

The images are real Fashion-MNIST test images (MIT licence, Zalando Research), stored as small PNGs.
Regenerate with `training.datasets.fashion_mnist.load_fashion_mnist().test.pixels[i]` saved as PNG
(optimize=True).
"""

from __future__ import annotations

from typing import Any

MODELS = {
    "fashion-vae-2d": "VAE, 2-d latent",
    "fashion-vae-32d": "VAE, 32-d latent",
    "fashion-ae-2d": "plain autoencoder, 2-d latent",
}
DEFAULT_MODEL = "fashion-vae-2d"
CUSTOM_ATTRIBUTE = "my-trousers"

# Fashion-MNIST t10k image 2 (Trouser), 28x28 grayscale PNG.
TROUSER_A = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAABTklEQVR42m3Su0oDQRiG4XdmdrOSLIrGY2GTIigI"
    "AUEQsbO1Ee/DK/B+rERstDSIaCGIopUHPCQqCiYkGnEzuzM2MQnOfuX/MDD/QdCJsCsb55O34bAurPE/kiNrbUPb"
    "ll3t1ToxlGrXz9+VmxdmHITQDPpa5RTTLk6gDQpjm+MuzqF9k0iholEXS+0fEeSxImi5uGCycXg55tls5a/kdXFW"
    "m/B10Urp1dyXQ7EJy6ASMi6OJ5YtopE2WRezxuOAk7biI2UI+HHEgxI0UtD6d1CVtn/e3cTBFezFMhWluIeLjE/K"
    "EKqBeYEYlYZvUhWhTZLWymkmKgEERC4eKj0PJArj4vFP/A58il6th49NL1cADSqllUAFBXhVNRcFOxmxDC1EPQV3"
    "vXgdPGvd30r269rAVSCmHEzgKV9cQg0Mdg9M9a3M1jfLfA2dbf8d0S/niHjHtzILoQAAAABJRU5ErkJggg=="
)
# Fashion-MNIST t10k image 3 (Trouser), 28x28 grayscale PNG.
TROUSER_B = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAABWklEQVR42m3SOU4DMRQG4N8ej2dBTIARAqUEUSAk"
    "GgoajgFXoOQGHIEbUEFLRUNDAR0Ni4QUVkVESQj7CDLOmFlsGiCF/SrrfXrvly0T/NXk+meGT+3wl6P8t8X+cW3z"
    "ozfTvZ2Xh1O7vy06nHxI0KNxlNc5DIxfx7yIjJFRfWliS6lK5M5TSK5hZOpLQWbH6S2apYmq3dCr8cLxaZcPjLVX"
    "cafZ2CrarSQzM0MxHYF5VJa+iSJUdXahA+4UZmamUqTnCLLvwpysCq1TSC7KysQ3TblEn8hHZWKPk9AFE1/D1vA0"
    "GKR0AsL7frdgJSh7xV3g+hYEm2B9NNxo1IZxsniNs3pXwVIne8LH0s32BsxHIM7cvURZW3YtazUPKMBZjdkyc7cE"
    "isp9smHmSyAntLDhtEOBVNHMhs+8BJKKvdjwwFNA/0u1bCj9CkAw0rHcEzsrBwD28f9t8QNr5osUr57MDAAAAABJ"
    "RU5ErkJggg=="
)
# Fashion-MNIST t10k image 5 (Trouser), 28x28 grayscale PNG.
TROUSER_C = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAABjElEQVR42mXTTWsTQRgH8P/OTHZ3krhJc9m2RFpi"
    "kYIHQSEfQOjJgwfPnvxCHjx792Q9tLQ9FSEg1Ju0IGpfqSxp3CZp1uzOzksPTSPMzPH/45mZZx7Gw3ztyyI8DeMJ"
    "JS9nCZtb9KSP6lqu/gV9OBgaJsQ1jczp9D4ic3zdmmhS5CVrdJ47+Da5UrK9oHIZdx1c/8V9krGgHOllG5do32jx"
    "sEErLC9sXMzgTfk31AIicxsfywxmaSNpiFI5letZTTYH+Mp1YISNayNfLn/GB49CKhujqWGVdzjQRAkHy8xUk2Pg"
    "r5eC28+XVlDfAZDoqxaxK2+E9+gTCE7I4HfbRhE2yREoDv2xurbxezX4mUBjq1OLmY0ftYpewMOPC00iG1XJ5BtI"
    "DOKVeu4Mu87zLgCEz3zujKy3UAwB4KzltoL3Qjc7AG5Andviclj1uwAE8wMbPexR8QrAhBBnW4JtL28DGAVpy0aN"
    "3qVafAqMOXfONMD5amMDeMCjeJbR/98BR+Zg9w9U+mXz7C64BRTZltznFi/5AAAAAElFTkSuQmCC"
)
# Fashion-MNIST t10k image 27 (T-shirt/top), 28x28 grayscale PNG.
T_SHIRT = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAABT0lEQVR42mWRTW4UQQyFv+euFjPqIUOioBChoAgk"
    "NpyCbXZcgkVuwIobcAwOhMQeIQQbwo+Gn6Sny48F0wjV1MbW+/Tsst0xv4vL4d00nD97EW9nSbsY9UfxkuvFZtut"
    "Z7HsYr6/ZW+uXj0/3/QfZmfMya8+Snfn8iT67ndbFn+tZOlvRtX1QVMWBJpGSq1L9mBVEp3zP23ueQbOzDSGew28"
    "f0O1ayrrxHEDTx1FiFTASQN/1uwUIh1i0cA3Q0aEcGbyeW/Ob66qrnD9sMtmQ3S2jFBxtuvDxtiOmNo5V0BIhFT6"
    "aOAhlgQh4KiBB0gS2CSrBh5hkIyUPNhzYkl/a5/ufUiSUGBxuO9EQHQZ3G7gwBaB6BFDAxcQYeQg/40yX/2Y0kM4"
    "OsWXuw18MnkcYxoX1dWPG3hVVrt02i5ftid7+uhsuR4yp08fX3/faX8AYk9/SSst9D4AAAAASUVORK5CYII="
)
# Fashion-MNIST t10k image 0 (Ankle boot), 28x28 grayscale PNG.
ANKLE_BOOT = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAABUElEQVR42t3Su0rDYBgG4Pf78ydpDk0roQcVPAyl"
    "aJFOoljciu7i4uCiixfgfQkOTl6Bo5Pgoqhoiya2aWqb/AcHQdA70G98H953+oB/fQYBNhoA+xETw/y+JzUwxd5v"
    "hMJ25xgAqocJwH8OivWVXuMscu7D4PFXkwlvnwpFYtTKY/6NBEYwFE56L06hJ1WaWYH3hQQNpQ2Jg/rLqPzWz7kJ"
    "5jW+UINxgsRR+yEsO8OiGueksQsOMGhSCpjbc259O8y0CzmVqeqAG1IBGpWl5mw2LAemrRbN91yxDyNpcYnaouc5"
    "y24+YiVHuOOp9VxyY38mrYcc3TlRMaRI/DrZMfONdDSoArFybMF3jm+eE5YZlFiqSI4y67VViyF1J6M+v9pc60Ak"
    "UTSwKGy6gW5f33VtDfE0LBIAf6O5VQk80iq6ubyYAOcLr0kipqd/65k+AWKCff9NOm1OAAAAAElFTkSuQmCC"
)
# Fashion-MNIST t10k image 9 (Sneaker), 28x28 grayscale PNG.
SNEAKER = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAABQ0lEQVR42uWSv0sCARzF3/d+n3enpimCOmi/bEho"
    "KEKqISKItpYiaGitMdqLmgvqvwiCpqAhqAiChkCJoMgIIitN7c7sOPXOhmzpX/Bt733e2x7QdiIGADD+55X/hd3D"
    "1aMoAA5Yu1KZVsoQgPgHXdvFPQANLM55EiwAAqEJIZz9Pr/gxXL/jlNwz6w07/eptRzDeu6AiXghU2E0aX35ny+H"
    "l39ht3cpsaWEFI5lRcl4Evu66ETfnKSe+byk8aWcGnQMTgyGVFmUq3cPZV8qtkHbSQu2XnnLs7FA2CtLHCzzbGjE"
    "vm3aC5SaiHZovCHpMaVh60Lm1D87BWguVGsqedRXsFI8OH2cKdYAAOGBtGObpLhdhGiCq3/eDL4/Cp0aZJkaL72B"
    "NG8zilokAOiWESn5RKPuVE2OESxPidNQMbPtcpwfWgJlABfq/MsAAAAASUVORK5CYII="
)


def _example(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


MODEL_PARAMETER = {name: _example(text, name) for name, text in MODELS.items()}
ATTRIBUTE_PARAMETER = {"Trouser": {"summary": "a built-in attribute", "value": "Trouser"}}
CUSTOM_ATTRIBUTE_PARAMETER = {
    CUSTOM_ATTRIBUTE: {"summary": "a custom attribute", "value": CUSTOM_ATTRIBUTE}
}

ENCODE = {
    "one image": _example("Encode a trouser", {"images": [TROUSER_A]}),
    "sampled": _example(
        "Encode and draw z ~ q(z|x) with a fixed seed",
        {"images": [TROUSER_A, ANKLE_BOOT], "sample": True, "seed": 0},
    ),
}
# Keyed by the model they fit when only one does: the latent dimension differs.
DECODE = {
    "fashion-vae-2d": _example(
        "One code, for a 2-d model (fashion-vae-2d, fashion-ae-2d)", {"z": [[0.5, -1.0]]}
    ),
    "fashion-vae-32d": _example("One code, for fashion-vae-32d", {"z": [[0.0] * 32]}),
}
SAMPLE = {
    "eight": _example("Eight samples, seed 0", {"n": 8, "seed": 0, "temperature": 1.0}),
    "mixture": _example(
        "From the mixture fitted to the training codes", {"n": 8, "seed": 0, "sampler": "gmm"}
    ),
}
RECONSTRUCT = {"two": _example("Reconstruct two images", {"images": [TROUSER_A, ANKLE_BOOT]})}
EDIT = {
    "add": _example(
        "Make a T-shirt more like a trouser", {"images": [T_SHIRT], "attributes": {"Trouser": 1.5}}
    ),
    "sweep": _example(
        "A T-shirt with the Trouser vector from -3 to +3, as one PNG strip",
        {
            "images": [T_SHIRT],
            "sweep": {"attribute": "Trouser", "strengths": [-3, -2, -1, 0, 1, 2, 3]},
            "format": "strip",
        },
    ),
}
INTERPOLATE = {
    "json": _example(
        "Trouser to ankle boot in 8 steps",
        {"images": [TROUSER_A, ANKLE_BOOT], "steps": 8, "method": "slerp", "format": "json"},
    ),
    "gif": _example(
        "The same as an animated GIF",
        {"images": [TROUSER_A, ANKLE_BOOT], "steps": 12, "method": "linear", "format": "gif"},
    ),
}
CUSTOM_ATTRIBUTE_BODY = {
    "trousers": _example(
        "Three trousers against three other garments",
        {"positive": [TROUSER_A, TROUSER_B, TROUSER_C], "negative": [T_SHIRT, ANKLE_BOOT, SNEAKER]},
    )
}
PROJECT = {
    "image": _example(
        "Place a trouser on the map, with its 5 nearest held-out images",
        {"images": [TROUSER_A], "neighbours": 5},
    ),
    "fashion-vae-2d": _example(
        "Place a code of a 2-d model (fashion-vae-2d, fashion-ae-2d)",
        {"z": [[0.5, -1.0]], "neighbours": 3},
    ),
}
SCORE = {
    "default": _example(
        "Is this trouser unusual? (the model's default score and rate)", {"images": [TROUSER_A]}
    ),
    "detailed": _example(
        "Two images at a 1% false-positive rate, with every score and the per-pixel map",
        {"images": [TROUSER_A, ANKLE_BOOT], "fpr": 0.01, "all_scores": True, "map": True},
    ),
}
