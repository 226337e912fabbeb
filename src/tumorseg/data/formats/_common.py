"""Helpers shared by the format readers: optional imports, intensity scaling, decoded slices."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from tumorseg.errors import DataError

EXTRA = "formats"  # pip install 'tumorseg[formats]' brings h5py, nibabel, pydicom, tifffile


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional dependency or raise a :class:`DataError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(
            f"{purpose} needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'tumorseg[{EXTRA}]' (or pip install {module})."
        ) from None


def natural_key(name: str) -> list:
    """Sort key that puts ``x_2`` before ``x_10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


@dataclass
class Loaded:
    """One decoded slice at its native size, in the internal layout.

    Attributes:
        image: ``(H, W) uint8`` (one channel) or ``(C, H, W) uint8``, already
            normalised by the format's rule to 0..255.
        mask: ``(H, W) bool``.
        raw_min, raw_max: intensity range of the source before normalisation
            (over the slice; NaN/inf left out).
        raw_dtype: the source's dtype name (``"int16"``, ``"uint8"``, ...).
        nonfinite: number of NaN/inf values in the source slice.
    """

    image: np.ndarray
    mask: np.ndarray
    raw_min: float = 0.0
    raw_max: float = 255.0
    raw_dtype: str = "uint8"
    nonfinite: int = 0


def to_uint8(arr: np.ndarray, inside: np.ndarray | None = None, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    """Robust percentile scaling of any real array to ``uint8`` 0..255.

    The ``lo_pct``/``hi_pct`` percentiles of ``arr[inside]`` (all finite
    values when ``inside`` is ``None``) map to 0 and 255; values beyond them
    are clipped. Outside ``inside`` the result is 0 (background stays black).
    NaN/inf become 0. Returns an array of ``arr``'s shape.
    """
    arr = np.asarray(arr, dtype=np.float32)
    finite = np.isfinite(arr)
    sel = finite if inside is None else (finite & inside)
    if not sel.any():
        return np.zeros(arr.shape, dtype=np.uint8)
    lo, hi = np.percentile(arr[sel], [lo_pct, hi_pct])
    if hi <= lo:
        hi = lo + 1.0
    out = np.clip((np.where(finite, arr, lo) - lo) / (hi - lo), 0.0, 1.0) * 255.0
    out = out.round().astype(np.uint8)
    if inside is not None:
        out[~inside] = 0
    return out


def finite_range(arr: np.ndarray) -> tuple[float, float, int]:
    """``(min, max, number of NaN/inf)`` of ``arr`` over its finite values."""
    finite = np.isfinite(arr)
    bad = int(arr.size - np.count_nonzero(finite))
    if not finite.any():
        return 0.0, 0.0, bad
    vals = arr[finite] if bad else arr
    return float(vals.min()), float(vals.max()), bad


def parse_int_set(text: str | None, what: str) -> tuple[int, ...] | None:
    """``"1,4"`` -> ``(1, 4)``; ``None``/``""`` -> ``None``."""
    if text is None or text == "" or isinstance(text, (tuple, list)):
        return tuple(text) if text else None
    try:
        return tuple(sorted({int(t) for t in str(text).split(",") if t.strip()}))
    except ValueError:
        raise DataError(f"{what} '{text}': give comma-separated integers, e.g. 1,4.") from None
