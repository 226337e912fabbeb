"""Post-processing of probability maps: threshold, then drop tiny connected components. The only place it is
implemented: :class:`~tumorseg.inference.predictor.Predictor`, ``evaluate`` and calibration all call :func:`apply`
(calibration through :func:`variants`, which gives the same masks for a grid of settings).

The settings live in a checkpoint under ``"postprocess"`` (chosen on
validation data only, never on test data)::

    {"threshold": 0.5, "tta": false, "min_component_px": 0}

``min_component_px`` is counted at the model's input resolution and scaled by
area for other output sizes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def apply(probs: np.ndarray, post: dict[str, Any], model_size: int | None = None) -> np.ndarray:
    """Binary masks for one ``(H, W)`` or a stack ``(N, H, W)`` of probability maps with a checkpoint's
    post-processing ``post`` (see :func:`settings`; ``tta`` is the caller's, it changes the probabilities).

    ``model_size``: the model's input side, when the maps were resized to the inputs' own size.
    Returns ``bool`` masks of ``probs``' shape.
    """
    threshold, min_px = float(post["threshold"]), int(post.get("min_component_px", 0))
    if probs.ndim == 2:
        return binarize(probs, threshold, min_px, model_size)
    return np.stack([binarize(p, threshold, min_px, model_size) for p in probs]) if len(probs) else probs > threshold


def variants(probs: np.ndarray, thresholds: Sequence[float], min_pxs: Sequence[int]
             ) -> Iterator[tuple[float, int, np.ndarray]]:
    """``(threshold, min_component_px, masks)`` for every pair of settings on model-size maps ``(N, S, S)``:
    the masks :func:`apply` gives, with each thresholded mask labelled once for all ``min_pxs`` (calibration)."""
    for threshold in thresholds:
        raw = probs > threshold
        cleaned = {m: raw.copy() if m > 0 else raw for m in min_pxs}
        for i, mask in enumerate(raw):
            labels, sizes = component_labels(mask)
            if len(sizes) <= 1:
                continue
            for m in min_pxs:
                if m > 0:
                    cleaned[m][i] = keep_components(labels, sizes, m)
        for m in min_pxs:
            yield threshold, m, cleaned[m]
