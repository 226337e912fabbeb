"""Is there a tumour on this slice at all? An image-level presence classifier, and a U-Net gated by it.

A segmentation network trained only on slices that all hold a tumour (figshare) marks *something* on nearly
every tumour-free slice; thresholds and blob sizes on its own output cannot fix that (t1c.md, "Tumour-free
slices"). The decision "tumour or not" is therefore made by a separate classifier, as the image-level head of
detection-then-segmentation pipelines does:

* :class:`PresenceNet`: the encoder of :class:`~tumorseg.models.monai_nets.ResidualUNet` (the same MONAI
  ``ResidualUnit`` down path, so a trained U-Net's encoder initialises it: :func:`encoder_state_from_unet`), then
  global average and max pooling of the deepest features and one linear layer: ``(B, C, H, W) → (B,)`` logits of
  "a tumour is on this slice".
* :class:`GatedUNet`: a registered model (``--model gated-unet``) holding a ``ResidualUNet`` (parameter names
  ``body``/``act``/``head``, exactly as ``unet``, so its weights load unchanged) and a ``PresenceNet`` (``gate``).
  Its output is the U-Net's logits where the gate's logit is at least ``gate_threshold`` and a large negative
  logit (probability 0) elsewhere: every caller (predict, evaluate, serve, ONNX export, TTA) gets an empty mask
  for a slice the gate calls tumour-free without knowing the gate exists. :meth:`GatedUNet.gate_logits` gives the
  raw score. ``gate_threshold`` is chosen on validation slices (``scripts/train_presence_gate.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from monai.networks.blocks import ResidualUnit
from torch import nn

from tumorseg.models.monai_nets import ResidualUNet, _channels

# The logit a gated-off slice gets: sigmoid(-30) ≈ 1e-13, below any threshold, finite for ONNX and fp16.
OFF_LOGIT = -30.0


class PresenceNet(nn.Module):
    """Image-level tumour-presence classifier: ``(B, C, H, W)`` float (pixel / 255) → ``(B,)`` logits.

    ``width``/``levels``/``num_res_units`` as for ``unet``; the encoder is built like MONAI ``UNet``'s down path
    (``ResidualUnit``, instance norm, PReLU; stride 2 on all but the deepest level), then
    ``[mean, max]`` over H, W of the deepest features (``2 * width * 2**(levels-1)`` values) → ``Linear`` → 1.
    Any H, W that the U-Net accepts works (pooling is global).

    ``standardise``: first z-score each image over its foreground (pixels above :data:`FOREGROUND`, i.e. 5/255),
    leaving the background 0, so that slices of differently windowed sources (8-bit PNG, re-scaled NIfTI) look
    alike to the classifier; an all-background image stays 0.
    """

    def __init__(self, in_channels: int = 1, width: int = 8, levels: int = 5, num_res_units: int = 1,
                 standardise: bool = False):
        super().__init__()
        self.standardise = bool(standardise)
        layers: list[nn.Module] = []
        c = in_channels
        for i, out in enumerate(_channels(width, levels)):
            stride = 2 if i < levels - 1 else 1
            layers.append(ResidualUnit(2, c, out, strides=stride, kernel_size=3, subunits=max(1, num_res_units),
                                       act="PRELU", norm="instance", dropout=0.0))
            c = out
        self.encoder = nn.Sequential(*layers)
        self.classifier = nn.Linear(2 * c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardise:
            x = standardise_foreground(x)
        f = self.encoder(x)
        return self.classifier(torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1))[:, 0]


FOREGROUND = 5.0 / 255.0


def standardise_foreground(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` in [0, 1] → each image and channel z-scored over its pixels above :data:`FOREGROUND`
    (background set to 0); plain tensor operations, so it exports to ONNX."""
    fg = (x > FOREGROUND).to(x.dtype)
    n = fg.sum((2, 3), keepdim=True).clamp_min(1.0)
    mean = (x * fg).sum((2, 3), keepdim=True) / n
    var = (((x - mean) * fg) ** 2).sum((2, 3), keepdim=True) / n
    return (x - mean) / var.add(1e-6).sqrt() * fg


def encoder_state_from_unet(unet_state: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """The encoder weights of a ``unet`` state dict (keys ``body.model.0.…``, ``body.model.1.submodule.0.…``,
    …, the deepest level ``body.model(.1.submodule)*(levels-1).…``) renamed for :attr:`PresenceNet.encoder`
    (``0.…`` to ``levels-1.…``). Decoder and head weights are left out."""
    prefixes = ["body.model" + ".1.submodule" * k + ".0." for k in range(levels - 1)]
    prefixes.append("body.model" + ".1.submodule" * (levels - 1) + ".")
    out = {}
    for k, prefix in enumerate(prefixes):
        for key, value in unet_state.items():
            if key.startswith(prefix):
                out[f"{k}.{key[len(prefix):]}"] = value
    return out


class GatedUNet(ResidualUNet):
    """A ``unet`` whose output is switched off on slices that its presence gate calls tumour-free.

    ``(B, C, H, W)`` → ``(B, 1, H, W)`` logits: the U-Net's where ``gate(x) >= gate_threshold``,
    :data:`OFF_LOGIT` elsewhere. The gate shares nothing with the U-Net (own encoder; see the module doc).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 8, levels: int = 5,
                 num_res_units: int = 1, dropout: float = 0.0, gate_width: int = 8, gate_threshold: float = 0.0,
                 gate_standardise: bool = False):
        super().__init__(in_channels, out_channels, width, levels, num_res_units, dropout)
        self.gate = PresenceNet(in_channels, gate_width, levels, num_res_units, gate_standardise)
        self.gate_threshold = float(gate_threshold)

    def gate_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(B,)`` presence logits of the gate (tumour on the slice when ``>= gate_threshold``)."""
        return self.gate(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = super().forward(x)
        on = (self.gate(x) >= self.gate_threshold).view(-1, 1, 1, 1)
        return torch.where(on, logits, torch.full_like(logits, OFF_LOGIT))


def gated_kwargs(unet_kwargs: dict[str, Any], gate_width: int, gate_threshold: float,
                 gate_standardise: bool = False) -> dict[str, Any]:
    """Model kwargs of a ``gated-unet`` around a ``unet`` with ``unet_kwargs``."""
    return {**unet_kwargs, "gate_width": int(gate_width), "gate_threshold": float(gate_threshold),
            "gate_standardise": bool(gate_standardise)}
