"""The words that training's configuration, command line and modules share, each declared once.

Words that the bundle and the service share as well (the model kind and the reconstruction loss,
for two) are declared in `vae_core.vocabulary`.
"""

from __future__ import annotations

from typing import Literal

Norm = Literal["none", "batch"]
"""What follows each convolution before its activation: nothing, or batch normalisation."""

Activation = Literal["relu", "leaky_relu"]
"""The nonlinearity after each layer: ReLU, or leaky ReLU with slope 0.2."""

Upsample = Literal["conv_transpose", "resize_conv"]
"""How the decoder doubles its feature map: a stride-2 transposed convolution, or a nearest 2x
resize followed by a 3x3 convolution."""

Fit = Literal["crop", "pad"]
"""How an image of a folder dataset is made square: its centre square is cut out, or it is padded
(centred on black) to its enclosing square. The bundle records it as the preprocessing's crop."""
