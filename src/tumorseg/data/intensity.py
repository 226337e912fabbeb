"""Intensity normalisation that makes slices from different sources look alike.

figshare PNGs, LGG TIFF channels and BraTS volumes (after the NIfTI reader's
percentile scaling) are all 8-bit, but their brightness differs a lot: the
99th percentile of the brain is about 170 in figshare, 130 in LGG
post-contrast. A model trained on one source reads the other's darker tissue
as something else. ``"p99"`` rescales each slice so that the 99th percentile
of its foreground maps to 200 (0 stays 0: background stays black, bright
enhancement keeps headroom up to 255).

Modes (stored in a checkpoint's ``preprocessing["intensity"]``; training,
evaluation and prediction all apply it through :func:`normalise`):

* ``"none"``: the 8-bit image as read (checkpoints from before this existed).
* ``"p99"``: per slice and per channel, ``x * 200 / p99(foreground)``, clipped
  to 0..255. Foreground: pixels above 2 % of the slice's maximum. Slices with
  fewer than 64 foreground pixels (nearly empty slices at the edge of a
  volume) are returned unchanged rather than amplifying noise.

MONAI's ``ScaleIntensityRangePercentiles`` takes percentiles over every pixel
(background included, which varies with head size and field of view) and warns
on constant slices, hence this small function.
"""

from __future__ import annotations

import numpy as np

from tumorseg.errors import TumorsegError

MODES = ("none", "p99")
TARGET = 200.0
MIN_FOREGROUND_PX = 64


def check_mode(mode: str) -> str:
    """Return ``mode`` or raise a one-line error listing the known modes."""
    if mode not in MODES:
        raise TumorsegError(f"unknown intensity normalisation '{mode}'. Choose one of: {', '.join(MODES)}.")
    return mode


def _scale_channel(img: np.ndarray) -> np.ndarray:
    top = float(img.max()) if img.size else 0.0
    if top <= 0:
        return img
    fg = img[img > 0.02 * top]
    if fg.size < MIN_FOREGROUND_PX:
        return img
    hi = float(np.percentile(fg, 99))
    if hi <= 0:
        return img
    out = img.astype(np.float32) * (TARGET / hi)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def normalise(image: np.ndarray, mode: str = "none") -> np.ndarray:
    """Normalise a ``(H, W)`` or ``(C, H, W) uint8`` image; returns ``uint8`` of the same shape.

    ``mode="none"`` returns ``image`` itself (no copy).
    """
    if mode == "none" or mode is None:
        return image
    check_mode(mode)
    if image.ndim == 2:
        return _scale_channel(image)
    return np.stack([_scale_channel(c) for c in image])
