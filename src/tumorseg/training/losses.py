"""Losses, all from MONAI.

* ``dice`` (the seed's): ``L = 1 − (2·Σ p·t + s) / (Σ p² + Σ t² + s)`` with the
  sums over the whole batch (``batch=True``), squared terms in the
  denominator (``squared_pred=True``), ``s = 1e-6``.
* ``dice-bce``: mean per-image soft Dice (``batch=False``: every slice counts
  the same, as in the evaluation metric, so small tumours are not drowned by
  large ones) + binary cross-entropy on logits.
* ``dice-focal``: per-image soft Dice + focal loss (γ = 2).
* ``batch-dice-bce``: soft Dice with the sums over the whole batch (as
  nnU-Net trains 2-D nets) + binary cross-entropy. For stacks where most
  slices are tumour-free (LGG), the per-image Dice ignores those slices and
  weighs a slice's faint rim as much as a whole tumour; a batch behaves like a
  small volume, the unit of the per-volume Dice that LGG results are scored by.
* ``dice-bce-presence``: ``dice-bce`` plus an image-level "is there a tumour"
  term, for data with tumour-free slices: binary cross-entropy between the
  mean of each image's ``k`` = 16 highest logits and whether its mask is
  non-empty. On a tumour-free slice the per-image Dice term is ≈ 1 whatever
  the prediction (no gradient) and BCE averages a 100-pixel false blob over
  65,536 pixels, so neither teaches the network to leave the slice empty; the
  top-k term acts on exactly the pixels that would be marked.

``model_returns_logits`` tells the loss whether to apply a sigmoid first
(``seed-ae`` ends in a Sigmoid; every other model returns logits). The BCE
and focal terms need logits.
"""

from __future__ import annotations

from monai.losses import DiceCELoss, DiceFocalLoss, DiceLoss
import torch
import torch.nn.functional as F
from torch import nn

from tumorseg.errors import TumorsegError, did_you_mean

LOSSES = ("dice", "dice-bce", "dice-focal", "dice-bce-presence", "batch-dice-bce")


class PresenceLoss(nn.Module):
    """``base(logits, target) + weight · BCE(topk_mean(logits), target non-empty)``.

    ``logits``/``target``: ``(B, 1, H, W)``; ``k`` is capped at ``H·W``.
    """

    def __init__(self, base: nn.Module, k: int = 16, weight: float = 1.0):
        super().__init__()
        self.base, self.k, self.weight = base, k, weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        flat = logits.flatten(1)
        score = flat.topk(min(self.k, flat.shape[1]), dim=1).values.mean(1)  # (B,)
        present = (target.flatten(1) > 0.5).any(1).to(score.dtype)
        return self.base(logits, target) + self.weight * F.binary_cross_entropy_with_logits(score, present)


def build_loss(name: str, model_returns_logits: bool, smooth: float = 1e-6) -> nn.Module:
    """Return the loss ``name`` for a model whose outputs are logits or probabilities."""
    if name == "dice":
        return DiceLoss(
            sigmoid=model_returns_logits, squared_pred=True, batch=True, smooth_nr=smooth, smooth_dr=smooth
        )
    if name in ("dice-bce", "dice-focal", "dice-bce-presence", "batch-dice-bce"):
        if not model_returns_logits:
            raise TumorsegError(f"loss '{name}' needs a model that returns logits; seed-ae ends in a Sigmoid: use --loss dice.")
        if name == "batch-dice-bce":
            return DiceCELoss(sigmoid=True, batch=True, smooth_nr=1e-5, smooth_dr=1e-5)
        if name in ("dice-bce", "dice-bce-presence"):
            loss = DiceCELoss(sigmoid=True, batch=False, smooth_nr=1e-5, smooth_dr=1e-5)
            return PresenceLoss(loss) if name == "dice-bce-presence" else loss
        return DiceFocalLoss(sigmoid=True, batch=False, gamma=2.0, smooth_nr=1e-5, smooth_dr=1e-5)
    raise TumorsegError(f"unknown loss '{name}'.{did_you_mean(name, LOSSES)} Known: {', '.join(LOSSES)}.")
