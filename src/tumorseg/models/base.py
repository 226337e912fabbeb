"""What every tumorseg network declares about itself: the model protocol (after smp's ``base/model.py``).

A registered network is a :class:`SegmentationModel`: it maps ``(B, C, H, W)`` float input (pixel values / 255)
to ``(B, 1, H, W)`` and states, as attributes of its class or instance, rather than leaving callers to guess:

* ``returns_logits``: ``True`` when the output is logits (the caller applies a sigmoid; all MONAI networks here),
  ``False`` when the network already ends in a Sigmoid (only the faithful ``seed-ae``);
* ``stride``: H and W must be multiples of it (2 to the number of down-samplings); :meth:`check_input_shape`
  refuses other sizes with the size to pad to, before the network fails deep inside with a shape mismatch.

Callers read these through :func:`tumorseg.models.returns_logits`, :func:`~tumorseg.models.input_stride` and
:func:`~tumorseg.models.to_probabilities`, which also see through DDP and ``torch.compile`` wrappers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tumorseg.errors import TumorsegError


class SegmentationModel(nn.Module):
    """Base class of every registered network: declares ``returns_logits`` and ``stride`` (see the module doc)."""

    returns_logits: bool = True
    stride: int = 1

    def check_input_shape(self, x: torch.Tensor) -> None:
        """Refuse an input whose height or width is not a multiple of :attr:`stride`.

        Raises:
            ValueError: e.g. ``"input 100×120 is not a multiple of 32 in height and width (SegmentationAE);
                pad it to 128×128"``.
        """
        h, w = int(x.shape[-2]), int(x.shape[-1])
        s = self.stride
        if h % s or w % s:
            raise ValueError(f"input {h}×{w} is not a multiple of {s} in height and width ({type(self).__name__}); "
                             f"pad it to {math.ceil(h / s) * s}×{math.ceil(w / s) * s}")

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """This network's raw output as foreground probabilities in [0, 1]."""
        return torch.sigmoid(output) if self.returns_logits else output


def unwrap(model: nn.Module) -> SegmentationModel:
    """The :class:`SegmentationModel` inside DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers.

    Raises:
        TumorsegError: ``model`` is not one (a third-party module must subclass SegmentationModel and declare
            ``returns_logits`` and ``stride``).
    """
    while not isinstance(model, SegmentationModel):
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            raise TumorsegError(f"{type(model).__name__} is not a tumorseg model: subclass "
                                "tumorseg.models.base.SegmentationModel and declare returns_logits and stride.")
        model = inner
    return model
