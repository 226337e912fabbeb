"""Slices that cover less than a head (a volume cropped to the brain, a small field of view): padded to the field of
view the bundled models were trained at before they are resized to the model's input, and their masks cropped back.

Every model sees its slices resized to ``image_size`` (256²) whatever their size, so a slice cropped to the brain's
bounding box (136 × 176 mm of a BraTS volume) shows the tumour 1.5–1.9 times larger than any training slice, and
stretched: on the BraTS 2015 sample cropped so, ``flair``'s per-volume Dice fell from 0.81 to 0.50
(``docs/results/field-of-view-cpu/``). With the header's pixel spacing, each in-plane axis shorter than
:data:`FOV_MM` is padded with background (0, as the scaled volume's background) to that length, equally on both
sides; nothing else changes (an axis at least that long, a slice without spacing, a 2-D picture).

:data:`FOV_MM` = 240 mm is the training data's: BraTS volumes are 240 × 240 voxels of 1 mm, TCGA-LGG FLAIR slices
256 px of about 0.94 mm, figshare slices 512 px of 0.49 mm (251 mm). Padding is bounded: an axis grows to at most
:data:`MAX_GROWTH` times its pixels and :data:`MAX_PX` pixels (0.23 mm pixels; a header claiming 0.001 mm pixels
gets no padding, and a log line), and slices are padded a batch at a time, so a padded batch is never larger than
the largest slices :mod:`tumorseg.limits` accepts unpadded (``serve``'s memory bound holds).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

FOV_MM = 240.0
MAX_GROWTH = 4
MAX_PX = 1024


@dataclass(frozen=True)
class Padding:
    """Pixels added before and after each in-plane axis: ``rows = (top, bottom)``, ``cols = (left, right)``."""

    rows: tuple[int, int]
    cols: tuple[int, int]

    def pad(self, image: np.ndarray) -> np.ndarray:
        """``image`` ``(..., H, W)`` padded with zeros to ``(..., H + top + bottom, W + left + right)``."""
        return np.pad(image, [(0, 0)] * (image.ndim - 2) + [self.rows, self.cols])

    def crop(self, padded: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`pad`: ``(..., H', W')`` back to the unpadded ``(..., H, W)``."""
        h, w = padded.shape[-2:]
        return padded[..., self.rows[0]:h - self.rows[1], self.cols[0]:w - self.cols[1]]


def padding_for(shape: Sequence[int], pixel_mm: Sequence[float] | None, name: str = "") -> Padding | None:
    """The padding that gives slices of ``shape`` ``(H, W)`` and ``pixel_mm`` ``(row, column)`` spacing a field of
    view of at least :data:`FOV_MM` on each axis; ``None`` when none is needed or the spacing is unknown or not a
    positive finite number. ``name`` names the input in the log line of a padding refused by the bounds."""
    if pixel_mm is None or len(pixel_mm) != 2:
        return None
    try:
        spacing = [float(s) for s in pixel_mm]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        return None
    pads = []
    for n, mm in zip(shape[-2:], spacing):
        want = math.ceil(FOV_MM / mm - 1e-6)
        if want <= n:
            pads.append((0, 0))
            continue
        if want > MAX_GROWTH * n or want > MAX_PX:
            log.info("%s: its slices cover %.0f mm at %.3g mm a pixel; padding them to %.0f mm would take %d pixels, "
                     "so they are predicted as they are", name or "input", n * mm, mm, FOV_MM, want)
            return None
        extra = want - n
        pads.append((extra // 2, extra - extra // 2))
    if pads == [(0, 0), (0, 0)]:
        return None
    return Padding(pads[0], pads[1])
