"""Synthetic head slices (symmetric, one tumour) and a kaggle_3m-like LGG folder, for the mirroring and packing tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
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


def lgg_folder(root: Path, n_patients: int = 3) -> None:
    """A kaggle_3m-like folder: per patient one tumour-free and one tumour slice (3-channel TIFF + mask)."""
    for p in range(n_patients):
        d = root / f"TCGA_XX_{p:04d}_20000101"
        d.mkdir(parents=True)
        for k, tumour in ((1, False), (2, True)):
            img, mask = phantom(0.0, tumour_at=(100, 90) if tumour else None)
            rgb = np.stack([img // 2, img, img], -1)  # pre, FLAIR, post
            Image.fromarray(rgb).save(d / f"{d.name}_{k}.tif")
            Image.fromarray(mask.astype(np.uint8) * 255).save(d / f"{d.name}_{k}_mask.tif")
