"""Geometry for synthetic volumes in tests."""

from __future__ import annotations

import numpy as np


def flipped_affine() -> np.ndarray:
    """LPS-like, rotated and offset, 1.2 × 0.9 × 2.5 mm."""
    a = np.diag([-1.2, -0.9, 2.5, 1.0])
    c, s = np.cos(0.2), np.sin(0.2)
    a[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ a[:3, :3]
    a[:3, 3] = [40.0, 30.0, -12.0]
    return a
