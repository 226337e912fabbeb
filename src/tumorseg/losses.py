"""Losses. The seed's Dice loss is MONAI's ``DiceLoss`` configured to be exactly

``L = 1 − (2·Σ p·t + s) / (Σ p² + Σ t² + s)``

with the sums over the whole batch (``batch=True``) and squared terms in the
denominator (``squared_pred=True``), ``s = 1e-6`` by default.
"""

from __future__ import annotations

from monai.losses import DiceLoss
from torch import nn

LOSSES = ("dice",)


def build_loss(name: str, model_returns_logits: bool, smooth: float = 1e-6) -> nn.Module:
    """Return the loss ``name`` for a model whose outputs are logits or probabilities."""
    if name == "dice":
        return DiceLoss(
            sigmoid=model_returns_logits, squared_pred=True, batch=True, smooth_nr=smooth, smooth_dr=smooth
        )
    raise ValueError(f"unknown loss '{name}'; known: {', '.join(LOSSES)}")
