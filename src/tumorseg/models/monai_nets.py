"""Real segmentation networks from MONAI, configured for 2-D single-class tumour masks.

All are :class:`tumorseg.models.base.SegmentationModel` subclasses that return logits
``(B, 1, H, W)`` for input ``(B, C, H, W)`` with H, W multiples of ``model.stride``.

* ``unet``: MONAI ``UNet`` with residual units (Kerfoot et al. 2018) and
  instance norm; ``width`` sets the first level's channels (doubling per level).
  MONAI's top level ends in its output channels, so with ``out_channels=1`` the
  single logit map passes through an (affine-free) InstanceNorm that removes
  its per-image mean: the net cannot learn the strong background bias a 2 %
  tumour fraction needs, and stays at p ≈ 0.5 (measured: BCE 0.61 after two
  epochs on figshare). We therefore let the U-Net end in ``width`` channels
  and add a 1×1 convolution head with a free bias, as nnU-Net and
  segmentation_models_pytorch do.
* ``attention-unet``: MONAI ``AttentionUnet`` (Oktay et al. 2018), attention
  gates on the skip connections.
* ``dynunet``: MONAI ``DynUNet``, the nnU-Net network (3×3 kernels, strided
  convolutions, instance norm, leaky ReLU), with deep supervision off.
"""

from __future__ import annotations

from monai.networks.nets import AttentionUnet, DynUNet, UNet
from torch import nn

from tumorseg.models.base import SegmentationModel


def _channels(width: int, levels: int) -> tuple[int, ...]:
    return tuple(width * 2**i for i in range(levels))


class ResidualUNet(SegmentationModel):
    """Residual U-Net; ``levels`` resolutions (stride ``2**(levels-1)``), then PReLU and a 1×1 head.

    The submodules ``body``/``act``/``head`` keep the parameter names of the
    ``nn.Sequential`` this once was, so every saved checkpoint still loads.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 16, levels: int = 5,
                 num_res_units: int = 2, dropout: float = 0.0):
        super().__init__()
        self.body = UNet(
            spatial_dims=2, in_channels=in_channels, out_channels=width,
            channels=_channels(width, levels), strides=(2,) * (levels - 1),
            num_res_units=num_res_units, norm="instance", dropout=dropout,
        )
        self.act = nn.PReLU()
        self.head = nn.Conv2d(width, out_channels, kernel_size=1)
        self.stride = 2 ** (levels - 1)

    def forward(self, x):
        self.check_input_shape(x)
        return self.head(self.act(self.body(x)))


class AttentionUNet(SegmentationModel, AttentionUnet):
    """MONAI's ``AttentionUnet`` itself (same parameter names), declaring logits and its stride."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 16, levels: int = 5,
                 dropout: float = 0.0):
        super().__init__(spatial_dims=2, in_channels=in_channels, out_channels=out_channels,
                         channels=_channels(width, levels), strides=(2,) * (levels - 1), dropout=dropout)
        self.stride = 2 ** (levels - 1)

    def forward(self, x):
        self.check_input_shape(x)
        return AttentionUnet.forward(self, x)


class NnUNet(SegmentationModel, DynUNet):
    """MONAI's ``DynUNet`` itself, nnU-Net style: first level at full resolution, then ``levels - 1`` stride-2
    levels; deep supervision off."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 16, levels: int = 6):
        filters = [min(width * 2**i, 320) for i in range(levels)]
        super().__init__(
            spatial_dims=2, in_channels=in_channels, out_channels=out_channels,
            kernel_size=[3] * levels, strides=[1] + [2] * (levels - 1), upsample_kernel_size=[2] * (levels - 1),
            filters=filters, norm_name="instance", deep_supervision=False, res_block=True,
        )
        self.stride = 2 ** (levels - 1)

    def forward(self, x):
        self.check_input_shape(x)
        return DynUNet.forward(self, x)
