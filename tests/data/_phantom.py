"""A synthetic symmetric head slice with one tumour, for the mirroring tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def phantom(angle_deg: float = 0.0, tumour_at: tuple[int, int] | None = (110, 80)) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric 'head' (ellipse, skull rim, two ventricles) of 256², rotated, with one bright round tumour."""
    yy, xx = np.mgrid[:256, :256].astype(np.float32)
    r = ((yy - 128) / 100) ** 2 + ((xx - 128) / 80) ** 2
    img = np.where(r < 1, 90.0, 0.0) + np.where((r > 0.85) & (r < 1), 110.0, 0.0)
    for cx in (108, 148):  # symmetric dark ventricles, and asymmetric-in-y texture that is symmetric in x
        img[((yy - 120) / 25) ** 2 + ((xx - cx) / 8) ** 2 < 1] = 30
    img += 20 * np.cos(yy / 9.0) * (r < 1)
    img = ndi.rotate(img, angle_deg, reshape=False, order=1)
    mask = np.zeros((256, 256), bool)
    if tumour_at is not None:
        mask = (yy - tumour_at[0]) ** 2 + (xx - tumour_at[1]) ** 2 < 12**2
        img = np.where(mask, 230.0, img)
    return np.clip(img, 0, 255).astype(np.uint8), mask
