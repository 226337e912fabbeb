"""Losses, all from MONAI.

* ``dice`` (the seed's): ``L = 1 − (2·Σ p·t + s) / (Σ p² + Σ t² + s)`` with the
  sums over the whole batch (``batch=True``), squared terms in the
  denominator (``squared_pred=True``), ``s = 1e-6``.
* ``dice-bce``: mean per-image soft Dice (``batch=False``: every slice counts
  the same, as in the evaluation metric, so small tumours are not drowned by
  large ones) + binary cross-entropy on logits.
* ``dice-focal``: per-image soft Dice + focal loss (γ = 2).

``model_returns_logits`` tells the loss whether to apply a sigmoid first
(``seed-ae`` ends in a Sigmoid; every other model returns logits). The BCE
and focal terms need logits.
"""

from __future__ import annotations

from monai.losses import DiceCELoss, DiceFocalLoss, DiceLoss
from torch import nn

from tumorseg.errors import TumorsegError, did_you_mean

LOSSES = ("dice", "dice-bce", "dice-focal")


def build_loss(name: str, model_returns_logits: bool, smooth: float = 1e-6) -> nn.Module:
    """Return the loss ``name`` for a model whose outputs are logits or probabilities."""
    if name == "dice":
        return DiceLoss(
            sigmoid=model_returns_logits, squared_pred=True, batch=True, smooth_nr=smooth, smooth_dr=smooth
        )
    if name in ("dice-bce", "dice-focal"):
        if not model_returns_logits:
            raise TumorsegError(f"loss '{name}' needs a model that returns logits; seed-ae ends in a Sigmoid: use --loss dice.")
        if name == "dice-bce":
            return DiceCELoss(sigmoid=True, batch=False, smooth_nr=1e-5, smooth_dr=1e-5)
        return DiceFocalLoss(sigmoid=True, batch=False, gamma=2.0, smooth_nr=1e-5, smooth_dr=1e-5)
    raise TumorsegError(f"unknown loss '{name}'.{did_you_mean(name, LOSSES)} Known: {', '.join(LOSSES)}.")
