"""Choose post-processing on validation data only: threshold, test-time flips, small-component removal.

The grid is small on purpose (3 × 9 × 5 settings, one forward pass per TTA
setting): it is chosen by mean per-image validation Dice and stored in the
checkpoint under ``"postprocess"``, so ``predict``/``evaluate`` apply the same.
Never call this with test data.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from tumorseg.data import SliceArrays
from tumorseg.evaluation.metrics import dice_iou
from tumorseg.inference.postprocess import variants
from tumorseg.inference.predictor import predict_probabilities

log = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
MIN_COMPONENT_PX = (0, 10, 25, 50, 100)  # at the model's resolution


def calibrate(model: nn.Module, val: SliceArrays, device: torch.device | str = "cpu", batch_size: int = 16,
              try_tta: bool = True) -> dict[str, Any]:
    """Return ``{"threshold", "tta", "min_component_px", "val_dice", "val_dice_default"}``.

    ``val_dice_default`` is the validation Dice at threshold 0.5 with no TTA
    and no clean-up, so the gain of calibration is visible.
    """
    truth = torch.from_numpy(val.masks)
    best: dict[str, Any] = {}
    default = None
    for tta in ((False, True) if try_tta else (False,)):
        probs = predict_probabilities(model, val.images, device, batch_size, tta=tta)
        for thr, min_px, preds in variants(probs, THRESHOLDS, MIN_COMPONENT_PX):
            dice = float(dice_iou(torch.from_numpy(preds), truth)[0].mean())
            if not tta and thr == 0.5 and min_px == 0:
                default = dice
            if not best or dice > best["val_dice"] + 1e-9:
                best = {"threshold": thr, "tta": tta, "min_component_px": min_px, "val_dice": dice}
    best["val_dice_default"] = default
    log.info("calibration on %d val slices: %s", len(val), best)
    return best
