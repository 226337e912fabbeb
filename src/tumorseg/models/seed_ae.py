"""``seed-ae``: the original project's convolutional autoencoder, kept exactly.

Encoder: five Conv2d → ReLU → MaxPool2d(2) blocks, channels 1→32→64→128→256→512,
kernels 7, 5, 3, 3, 3 with "same" padding. Decoder: five ConvTranspose2d
(kernel 2, stride 2: each exactly doubles the size) 512→256→128→64→32→1 with
ReLU between them and a final Sigmoid. No skips, no normalisation: it is the
baseline every other model is compared with. The original does not state the
transposed-convolution kernel; 2/2 is the choice that maps 8×8 back to 256×256
exactly.

Shapes: input ``(B, 1, H, W)`` with H and W divisible by 32 → output
``(B, 1, H, W)`` probabilities in [0, 1] (``returns_logits = False``).
"""

from __future__ import annotations

import torch
from torch import nn

from tumorseg.models.base import SegmentationModel


class SegmentationAE(SegmentationModel):
    returns_logits = False  # ends in a Sigmoid, as the original did
    stride = 32  # five MaxPool2d(2)

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32):
        super().__init__()
        chans = [in_channels] + [width * 2**i for i in range(5)]  # 1, 32, 64, 128, 256, 512
        kernels = [7, 5, 3, 3, 3]
        blocks = []
        for cin, cout, k in zip(chans[:-1], chans[1:], kernels):
            blocks += [nn.Conv2d(cin, cout, k, padding="same"), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.encoder = nn.Sequential(*blocks)
        dec_chans = chans[:0:-1] + [out_channels]  # 512, 256, 128, 64, 32, 1
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(dec_chans[:-1], dec_chans[1:])):
            layers.append(nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2))
            layers.append(nn.ReLU(inplace=True) if i < 4 else nn.Sigmoid())
        self.decoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(x)
        return self.decoder(self.encoder(x))
