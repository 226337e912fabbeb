"""A volume's slices brought to the field of view the bundled models were trained at before they are resized to the
model's input, and their masks brought back: slices covering less than a head (a volume cropped to the brain) are
padded, slices covering far more (a large field of view around a small head) are cropped around the head.

Every model sees its slices resized to ``image_size`` (256²) whatever they cover, so a slice cropped to the brain's
bounding box (136 × 176 mm of a BraTS volume) shows the tumour 1.5–1.9 times larger than any training slice, and
stretched; one of 320 mm shows it 0.75 times as large. On the BraTS 2015 sample, ``flair``'s per-volume Dice fell
from 0.81 to 0.50 cropped so and to 0.78 padded to 320 mm, ``t1c``'s (tumour core) from 0.72 to 0.40 and 0.05
(``docs/results/field-of-view-cpu/``). With the header's pixel spacing (``(row, column)`` mm), each in-plane axis is
treated on its own:

* shorter than :data:`FOV_MM`: padded with background (0, as the scaled volume's background) to that length,
  equally on both sides;
* longer than :data:`CROP_ABOVE` × :data:`FOV_MM`: cropped to :data:`FOV_MM`, or to the head's extent plus a margin
  when that is longer, centred on the head (the volume's foreground, :func:`head_extent`); never cutting into it;
* otherwise (and for slices without spacing: 2-D pictures, LGG TIFFs) left as it is.

:data:`FOV_MM` = 240 mm is the training data's: BraTS volumes are 240 × 240 voxels of 1 mm, TCGA-LGG FLAIR slices
256 px of about 0.94 mm, figshare slices 512 px of 0.49 mm (251 mm, inside the :data:`CROP_ABOVE` tolerance, so a
figshare-like 250–260 mm scan is not touched). Padding is bounded: an axis grows to at most :data:`MAX_GROWTH`
times its pixels and :data:`MAX_PX` pixels (0.23 mm pixels; a header claiming 0.001 mm pixels gets no padding, and
a log line), and slices are padded a batch at a time, so a padded batch is never larger than the largest slices
:mod:`tumorseg.limits` accepts unpadded (``serve``'s memory bound holds).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FOV_MM = 240.0
CROP_ABOVE = 1.1  # crop only axes longer than 264 mm
HEAD_MARGIN = 0.05  # of the head's extent, on each side, when the head is longer than FOV_MM
MAX_GROWTH = 4
MAX_PX = 1024


@dataclass(frozen=True)
class Window:
    """Pixels added (> 0) or removed (< 0) before and after each in-plane axis: ``rows = (top, bottom)``,
    ``cols = (left, right)``."""

    rows: tuple[int, int]
    cols: tuple[int, int]

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` ``(..., H, W)`` padded with zeros / cropped to the window."""
        lead = [(0, 0)] * (image.ndim - 2)
        out = np.pad(image, lead + [tuple(max(0, e) for e in self.rows), tuple(max(0, e) for e in self.cols)])
        (top, bottom), (left, right) = ((max(0, -e) for e in side) for side in (self.rows, self.cols))
        h, w = out.shape[-2:]
        return out[..., top:h - bottom, left:w - right]

    def undo(self, windowed: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`apply` for masks and probabilities: ``(..., H', W')`` back to the slice's ``(..., H,
        W)``; what was cropped away reads 0."""
        return Window(tuple(-e for e in self.rows), tuple(-e for e in self.cols)).apply(windowed)


def head_extent(slices: Sequence[np.ndarray]) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``((first row, last row), (first column, last column))`` of the head in a volume's ``(H, W)`` or ``(C, H, W)``
    slices: the 0.5–99.5 % range of the positions of the pixels brighter than 10 % of the volume's 99th percentile
    (stray bright pixels in the air do not stretch it); ``None`` when nothing is that bright."""
    proj = np.zeros(slices[0].shape[-2:], np.int64)
    top = max(float(np.percentile(s, 99)) for s in slices[:: max(1, len(slices) // 32)])  # a sample of slices
    if top <= 0:
        return None
    for s in slices:
        bright = s > 0.1 * top
        proj += bright.reshape(-1, *bright.shape[-2:]).any(0)
    if not proj.any():
        return None

    def span(counts: np.ndarray) -> tuple[int, int]:
        cum = np.cumsum(counts) / counts.sum()
        return int(np.searchsorted(cum, 0.005)), int(np.searchsorted(cum, 0.995))

    return span(proj.sum(1)), span(proj.sum(0))


def window_for(slices: Sequence[np.ndarray], pixel_mm: Sequence[float] | None, name: str = "") -> Window | None:
    """The window that gives a volume's ``slices`` (one shape, ``(H, W)`` or ``(C, H, W)``) of ``pixel_mm`` ``(row,
    column)`` spacing the training field of view (module docstring); ``None`` when none is needed, or the spacing is
    unknown or not a positive finite number. ``name`` names the input in the log line of a padding refused by the
    bounds."""
    if pixel_mm is None or len(pixel_mm) != 2 or not slices or FOV_MM <= 0:  # FOV_MM = 0: turned off
        return None
    try:
        spacing = [float(s) for s in pixel_mm]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        return None
    shape = slices[0].shape[-2:]
    extent = None
    edges = []
    for axis, (n, mm) in enumerate(zip(shape, spacing)):
        want = math.ceil(FOV_MM / mm - 1e-6)
        if n * mm > CROP_ABOVE * FOV_MM:  # far larger than a head: crop around the head
            extent = extent or head_extent(slices)
            if extent is None:
                edges.append((0, 0))
                continue
            first, last = extent[axis]
            head = last - first + 1
            keep = min(n, max(want, math.ceil(head * (1 + 2 * HEAD_MARGIN))))
            start = min(max(0, (first + last + 1) // 2 - keep // 2), n - keep)
            edges.append((-start, -(n - start - keep)))
        elif want > n:  # smaller than a head: pad
            if want > MAX_GROWTH * n or want > MAX_PX:
                log.info("%s: its slices cover %.0f mm at %.3g mm a pixel; padding them to %.0f mm would take %d "
                         "pixels, so they are predicted as they are", name or "input", n * mm, mm, FOV_MM, want)
                return None
            extra = want - n
            edges.append((extra // 2, extra - extra // 2))
        else:
            edges.append((0, 0))
    if edges == [(0, 0), (0, 0)]:
        return None
    return Window(edges[0], edges[1])


def volume_windows() -> Callable[[Any], Callable[[np.ndarray], np.ndarray] | None]:
    """A function giving each dataset record (:class:`tumorseg.data.records.SliceRecord`) the padding / cropping that
    ``predict`` gives its volume's slices (:func:`window_for`, from the volume's in-plane spacing and, for a large
    field of view, its head: :func:`tumorseg.data.formats.record_geometry`), as :meth:`Window.apply`; ``None`` for
    records without geometry (2-D pictures, LGG TIFFs) and volumes that need none. One window per volume, computed
    when its first record is read (the volume is then in the readers' cache, so it is decoded once). ``train``,
    ``cv`` (and the calibration at the end of a run) and ``evaluate`` read volumes through it, so a model is trained,
    calibrated and scored on the slices ``predict`` gives it."""
    from tumorseg.data.formats import record_geometry

    found: dict[tuple, Any] = {}

    def window_of(r) -> Callable[[np.ndarray], np.ndarray] | None:
        key = (r.loader, str(r.image), r.option("axes"), r.option("volumes"), r.option("series"))
        if key not in found:
            geometry = record_geometry(r)
            window = window_for(list(geometry[0]), geometry[1], str(r.image)) if geometry is not None else None
            found[key] = window.apply if window is not None else None
        return found[key]

    return window_of
