"""Post-processing of probability maps: threshold, then drop tiny connected components.

The settings live in a checkpoint under ``"postprocess"`` (chosen on
validation data only, never on test data)::

    {"threshold": 0.5, "tta": false, "min_component_px": 0}

``min_component_px`` is counted at the model's input resolution and scaled by
area for other output sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

DEFAULTS: dict[str, Any] = {"threshold": 0.5, "tta": False, "min_component_px": 0}


def settings(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Post-processing settings of a checkpoint, with defaults for older files."""
    out = dict(DEFAULTS)
    out["threshold"] = float(checkpoint.get("preprocessing", {}).get("threshold", out["threshold"]))
    out.update(checkpoint.get("postprocess") or {})
    return out


def remove_small_components(mask: np.ndarray, min_px: int) -> np.ndarray:
    """Drop 8-connected foreground components smaller than ``min_px`` pixels from a ``(H, W) bool`` mask.

    The largest component is always kept, so a small real tumour is never
    erased completely by this step.
    """
    if min_px <= 0 or not mask.any():
        return mask
    labels, sizes = component_labels(mask)
    if len(sizes) <= 1:
        return mask
    return keep_components(labels, sizes, min_px)


def keep_components(labels: np.ndarray, sizes: np.ndarray, min_px: int) -> np.ndarray:
    """The ``(H, W) bool`` mask of the components of :func:`component_labels` with at least ``min_px`` pixels,
    the largest always included."""
    keep = sizes >= min_px
    keep[np.argmax(sizes)] = True
    return keep[labels - 1] & (labels > 0)


def component_labels(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components of a ``(H, W) bool`` mask: ``(labels (H, W) int, sizes (n,))``, label k ↔ sizes[k-1]."""
    if not mask.any():
        return np.zeros(mask.shape, np.int32), np.zeros(0, np.int64)
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    return labels, np.bincount(labels.ravel())[1:]


def binarize(prob: np.ndarray, threshold: float, min_component_px: int = 0, model_size: int | None = None) -> np.ndarray:
    """Threshold a ``(H, W)`` probability map and clean it; ``model_size`` rescales ``min_component_px``."""
    mask = prob > threshold
    if min_component_px and model_size:
        min_component_px = int(round(min_component_px * prob.size / (model_size * model_size)))
    return remove_small_components(mask, min_component_px)
