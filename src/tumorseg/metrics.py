"""Per-image overlap metrics computed from tp/fp/fn counts.

Edge cases (decided here, tested in tests/test_metrics.py):

* truth and prediction both empty → Dice = IoU = 1 (nothing to find, nothing found);
* truth non-empty, prediction empty (a missed tumour) → Dice = IoU = 0;
* truth empty, prediction non-empty → Dice = IoU = 0.

Means are over images (each slice weighs the same), never pooled over pixels.
"""

from __future__ import annotations

import numpy as np
import torch


def confusion(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image ``(tp, fp, fn)`` for boolean ``(B, ...)`` tensors, each ``(B,)`` int64."""
    pred = pred.bool().flatten(1)
    target = target.bool().flatten(1)
    tp = (pred & target).sum(1)
    fp = (pred & ~target).sum(1)
    fn = (~pred & target).sum(1)
    return tp, fp, fn


def dice_iou(pred: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-image Dice and IoU of boolean masks ``(B, ...)`` → two ``(B,)`` float64 arrays."""
    tp, fp, fn = (t.double() for t in confusion(pred, target))
    denom_d = 2 * tp + fp + fn
    denom_i = tp + fp + fn
    empty = denom_d == 0
    dice = torch.where(empty, torch.ones_like(tp), 2 * tp / denom_d.clamp(min=1))
    iou = torch.where(empty, torch.ones_like(tp), tp / denom_i.clamp(min=1))
    return dice.numpy(), iou.numpy()
