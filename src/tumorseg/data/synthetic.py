"""Synthetic MRI-like phantoms with tumours, for demos and tests (no real data needed).

Each phantom is a brain-like ellipse (skull ring, grey/white texture, ventricles)
with 0–2 bright lesions of varied size (about 0.2 %–6 % of the image) and
contrast, plus Rician-like noise. Deterministic for a given seed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float, angle: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u, v = x * c + y * s, -x * s + y * c
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


def phantom(rng: np.random.Generator, size: int = 128, n_lesions: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One slice: ``(image (size, size) uint8, mask (size, size) bool)``; the mask may be empty when ``n_lesions == 0``."""
    h = w = size
    cy, cx = h / 2 + rng.normal(0, size * 0.02), w / 2 + rng.normal(0, size * 0.02)
    ry, rx = size * rng.uniform(0.36, 0.44), size * rng.uniform(0.30, 0.38)
    ang = rng.uniform(-0.2, 0.2)
    head = _ellipse(h, w, cy, cx, ry, rx, ang)
    brain = _ellipse(h, w, cy, cx, ry * 0.9, rx * 0.88, ang)
    img = np.zeros((h, w), np.float32)
    img[head] = 0.85  # bright scalp/skull ring
    tex = gaussian_filter(rng.normal(0, 1, (h, w)), sigma=size / 40)
    img[brain] = 0.38 + 0.08 * tex[brain]
    for side in (-1, 1):  # ventricles
        img[_ellipse(h, w, cy - size * 0.02, cx + side * size * 0.05, size * 0.09, size * 0.03, side * 0.3)] = 0.12
    mask = np.zeros((h, w), bool)
    k = rng.choice([1, 1, 1, 2]) if n_lesions is None else n_lesions
    for _ in range(k):
        r = size * np.exp(rng.uniform(np.log(0.025), np.log(0.14)))
        ly = cy + rng.uniform(-0.5, 0.5) * ry
        lx = cx + rng.uniform(-0.5, 0.5) * rx
        les = _ellipse(h, w, ly, lx, r * rng.uniform(0.7, 1.3), r * rng.uniform(0.7, 1.3), rng.uniform(0, np.pi)) & brain
        contrast = rng.uniform(0.2, 0.5)  # faint to bright
        img[les] = img[les] + contrast + 0.05 * tex[les]
        mask |= les
    img = gaussian_filter(img, 0.8)
    noisy = np.sqrt((img + rng.normal(0, 0.03, img.shape)) ** 2 + rng.normal(0, 0.03, img.shape) ** 2)
    return (np.clip(noisy, 0, 1) * 255).astype(np.uint8), mask


def make_dataset(out: str | Path, n: int = 120, size: int = 128, seed: int = 0, n_patients: int | None = None) -> Path:
    """Write ``n`` phantoms in the Kaggle layout (``images/``, ``masks/``, ``metadata.csv``).

    Slices are assigned round-robin to ``n_patients`` synthetic patients
    (default ``n // 4``) so patient-grouped splitting is exercised.
    """
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_patients = n_patients or max(3, n // 4)
    classes = ["meningioma", "glioma", "pituitary"]
    rows = []
    for i in range(1, n + 1):
        img, mask = phantom(rng, size)
        Image.fromarray(img).save(out / "images" / f"{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(out / "masks" / f"{i}.png")
        p = (i - 1) % n_patients
        rows.append({"index": i, "patient_id": f"SYN{p:03d}", "patient_group": f"SYN{p:03d}",
                     "label": p % 3 + 1, "label_name": classes[p % 3], "orig_width": size,
                     "orig_height": size, "split": "dev"})
    with open(out / "metadata.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    return out
