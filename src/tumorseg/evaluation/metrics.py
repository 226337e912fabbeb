"""Per-image overlap metrics computed from tp/fp/fn counts.

Edge cases (decided here, tested in tests/evaluation/test_metrics.py):

* truth and prediction both empty → Dice = IoU = 1 (nothing to find, nothing found);
* truth non-empty, prediction empty (a missed tumour) → Dice = IoU = 0;
* truth empty, prediction non-empty → Dice = IoU = 0.

Means are over images (each slice weighs the same), never pooled over pixels.
"""

from __future__ import annotations

import warnings

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
    dice, iou = dice_iou_tensors(pred, target)
    return dice.cpu().numpy(), iou.cpu().numpy()


def dice_iou_tensors(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`dice_iou` as two ``(B,)`` float64 tensors on the inputs' device (no copy to the host: validation
    sums them on the GPU)."""
    tp, fp, fn = (t.double() for t in confusion(pred, target))
    denom_d = 2 * tp + fp + fn
    denom_i = tp + fp + fn
    empty = denom_d == 0
    dice = torch.where(empty, torch.ones_like(tp), 2 * tp / denom_d.clamp(min=1))
    iou = torch.where(empty, torch.ones_like(tp), tp / denom_i.clamp(min=1))
    return dice, iou


def sensitivity_precision(pred: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-image sensitivity ``tp/(tp+fn)`` and precision ``tp/(tp+fp)``.

    Empty truth → sensitivity 1 (nothing to find). Empty prediction →
    precision 1 when the truth is empty too, else 0 (a missed tumour is never
    a NaN that drops out of the mean).
    """
    tp, fp, fn = (t.double() for t in confusion(pred, target))
    sens = torch.where(tp + fn == 0, torch.ones_like(tp), tp / (tp + fn).clamp(min=1))
    prec = torch.where(tp + fp == 0, (tp + fn == 0).double(), tp / (tp + fp).clamp(min=1))
    return sens.numpy(), prec.numpy()


def hd95(pred: np.ndarray, target: np.ndarray, spacing: tuple[float, float] | None = None) -> float:
    """95th-percentile symmetric Hausdorff distance between two ``(H, W) bool`` masks.

    Computed with MONAI's ``compute_hausdorff_distance`` (boundary-based).
    Units: pixels, or mm when ``spacing`` (row, col) is given. Edge cases:
    both empty → 0; exactly one empty (a missed tumour or a false alarm) →
    the image diagonal, so the failure is counted, not dropped as NaN/inf.
    """
    from monai.metrics import compute_hausdorff_distance

    sy, sx = spacing or (1.0, 1.0)
    p, t = bool(pred.any()), bool(target.any())
    if not p and not t:
        return 0.0
    if p != t:
        h, w = pred.shape
        return float(np.hypot(h * sy, w * sx))
    tp = torch.from_numpy(np.stack([~pred, pred])[None].astype(np.float32))
    tt = torch.from_numpy(np.stack([~target, target])[None].astype(np.float32))
    with warnings.catch_warnings():
        # MONAI >= 1.5 passes its own deprecated get_mask_edges(always_return_as_numpy=...) argument inside
        # compute_hausdorff_distance; the FutureWarning is about MONAI's internals, not our call, so keep it from users
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*", category=FutureWarning)
        d = compute_hausdorff_distance(tp, tt, include_background=False, percentile=95, spacing=[sy, sx])
    return float(d.item())
