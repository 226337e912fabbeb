"""Choose post-processing on validation data only: threshold, test-time flips, clean-up, tumour-presence gate.

The grid is small on purpose (2 TTA settings × 9 thresholds × 5 clean-up sizes,
one forward pass per TTA setting). It is stored in the checkpoint under
``"postprocess"``, so ``predict``/``evaluate``/``serve`` apply the same.
Never call this with test data.

Objective: the mean per-image Dice of the validation slices that hold a
tumour. When the validation data also has tumour-free slices, the presence
gate (``presence_prob``, ``presence_px``; see :mod:`tumorseg.inference.postprocess`) is
searched too, and only settings that mark a tumour on at most ``max_fp_rate``
of those slices are eligible (if none is, the one with the fewest false
positives wins, ties broken by Dice). Without tumour-free slices the gate
stays off, as before.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from tumorseg.data import SliceArrays
from tumorseg.evaluation.metrics import dice_iou
from tumorseg.inference.postprocess import variants
from tumorseg.inference.predictor import predict_probabilities

log = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
MIN_COMPONENT_PX = (0, 10, 25, 50, 100)  # at the model's resolution
PRESENCE_PROB = (0.0, 0.7, 0.8, 0.9, 0.95, 0.98)
PRESENCE_PX = (0, 25, 50, 100, 150, 200, 300)
MAX_FP_RATE = 0.03


def calibrate(model: nn.Module, val: SliceArrays, device: torch.device | str = "cpu", batch_size: int = 16,
              try_tta: bool = True, max_fp_rate: float = MAX_FP_RATE) -> dict[str, Any]:
    """Return the chosen settings and what they score on ``val``.

    Keys: ``threshold``, ``tta``, ``min_component_px``, ``presence_prob``,
    ``presence_px`` (the settings); ``val_dice`` (mean Dice over the slices
    with a tumour), ``val_fp_rate`` (fraction of tumour-free slices marked;
    ``None`` without such slices), ``val_detection`` (fraction of tumour slices
    with anything marked), ``val_dice_default`` (threshold 0.5, no TTA, no
    clean-up, no gate: the baseline calibration improves on).
    """
    truth = torch.from_numpy(np.ascontiguousarray(val.masks))
    positive = val.masks.reshape(len(val), -1).any(1)
    negative = ~positive
    has_neg, has_pos = bool(negative.any()), bool(positive.any())
    gates = [(pp, px) for pp in PRESENCE_PROB for px in PRESENCE_PX] if has_neg else [(0.0, 0)]
    candidates: list[tuple[tuple, dict[str, Any]]] = []
    default = None
    for tta in ((False, True) if try_tta else (False,)):
        probs = predict_probabilities(model, val.images, device, batch_size, tta=tta)
        peak = probs.reshape(len(probs), -1).max(1)
        for thr, min_px, preds, largest in variants(probs, THRESHOLDS, MIN_COMPONENT_PX):
            dice = dice_iou(torch.from_numpy(preds), truth)[0]
            marked = preds.reshape(len(preds), -1).any(1)
            for pp, px in gates:
                gated = (peak < pp) | (largest < px)
                d = np.where(gated, negative.astype(np.float64), dice)
                m = marked & ~gated
                pos_dice = float(d[positive].mean()) if has_pos else float(d.mean())
                fp = float(m[negative].mean()) if has_neg else None
                if not tta and thr == 0.5 and min_px == 0 and pp == 0 and px == 0:
                    default = pos_dice
                found = {"threshold": thr, "tta": tta, "min_component_px": min_px, "presence_prob": pp,
                         "presence_px": px, "val_dice": pos_dice, "val_fp_rate": fp,
                         "val_detection": float(m[positive].mean()) if has_pos else None}
                ok = fp is None or fp <= max_fp_rate + 1e-12
                # eligible first, then fewer false positives only while none is eligible, then Dice
                candidates.append(((ok, 0.0 if ok else -fp, pos_dice), found))
    best = max(candidates, key=lambda c: c[0])[1]
    best["val_dice_default"] = default
    log.info("calibration on %d val slices (%d tumour-free): %s", len(val), int(negative.sum()), best)
    return best
