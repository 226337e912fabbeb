"""Models: the registry (this module), the architectures, checkpoints and summaries.

* :mod:`.base`: the model protocol (``SegmentationModel``: ``returns_logits``, ``stride``, ``check_input_shape``).
* :mod:`.seed_ae`: the original course project's autoencoder; :mod:`.monai_nets`: MONAI U-Nets;
  :mod:`.presence`: the tumour-presence gate and the U-Net it gates (``gated-unet``);
  :mod:`.pretrained`: a U-Net on an ImageNet-pretrained EfficientNet-Lite0 encoder (``effunet``);
  :mod:`.ensemble`: several trained networks averaged as one model (``ensemble``, e.g. the CV fold models).
* :mod:`.checkpoint`: self-describing checkpoints, written atomically, read without unpickling code.
* :mod:`.summary`: layer table and parameter count (``tumorseg summary``).
* :mod:`.zoo`: the bundled, named models (``t1c``, ``flair``) in ``bundled/`` and ``--model`` resolution.

``MODELS`` maps a name to a :class:`~tumorseg.models.base.SegmentationModel`
class taking ``in_channels``/``out_channels`` (plus model-specific keyword
arguments). Every model maps ``(B, C, H, W)`` to ``(B, 1, H, W)`` and declares
``returns_logits`` (``False`` only for the faithful ``seed-ae``, which ends in
a Sigmoid) and ``stride`` (see :mod:`.base`). Use :func:`to_probabilities`
rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tumorseg.errors import TumorsegError, did_you_mean
from tumorseg.models.base import SegmentationModel, unwrap
from tumorseg.models.ensemble import Ensemble
from tumorseg.models.monai_nets import AttentionUNet, NnUNet, ResidualUNet
from tumorseg.models.presence import GatedUNet
from tumorseg.models.pretrained import PretrainedUNet
from tumorseg.models.seed_ae import SegmentationAE

MODELS: dict[str, Callable[..., SegmentationModel]] = {
    "seed-ae": SegmentationAE,
    "unet": ResidualUNet,
    "attention-unet": AttentionUNet,
    "dynunet": NnUNet,
    "effunet": PretrainedUNet,
    "gated-unet": GatedUNet,
    "ensemble": Ensemble,
}


def build_model(name: str, **kwargs) -> SegmentationModel:
    """Instantiate the registered model ``name``.

    Raises:
        TumorsegError: unknown name (with the closest known name suggested), or keyword arguments the
            model does not take, of the wrong type, or too large (see :mod:`tumorseg.models.checks`).
    """
    if name not in MODELS:
        raise TumorsegError(f"unknown model '{name}'.{did_you_mean(name, MODELS)} Known models: {', '.join(MODELS)}.")
    from tumorseg.models.checks import meta_model

    meta_model(name, kwargs, "model options")  # names, types, sizes and parameter count, before allocating
    return MODELS[name](**kwargs)


def returns_logits(model: nn.Module) -> bool:
    """Whether ``model`` (or the :class:`SegmentationModel` inside its DDP/compile wrapper) returns logits."""
    return unwrap(model).returns_logits


def to_probabilities(model: nn.Module, output: torch.Tensor) -> torch.Tensor:
    """Map a model's raw output to foreground probabilities in [0, 1]."""
    return unwrap(model).probabilities(output)


def input_stride(model: nn.Module) -> int:
    """Side lengths the model accepts must be multiples of this."""
    return unwrap(model).stride
