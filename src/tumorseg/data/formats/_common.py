"""Helpers shared by the format readers: optional imports, intensity scaling, decoded slices."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from tumorseg.errors import DataError

def require(module: str, purpose: str) -> ModuleType:
    """Import an optional dependency or raise a :class:`DataError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        from tumorseg.extras import install_hint

        raise DataError(
            f"{purpose} needs the '{module}' package, which is not installed. Install it with: {install_hint(module)}."
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


CHUNK = 1 << 20  # elements per block in the chunked conversions (4 MiB of float32)


def _flat(arr: np.ndarray, order: str) -> np.ndarray:
    """``arr`` as 1-D in ``order`` (a view when ``arr`` is contiguous in that order)."""
    return arr.reshape(-1, order=order)


def to_uint8(arr: np.ndarray, inside: np.ndarray | None = None, lo_pct: float = 0.5, hi_pct: float = 99.5,
             nonzero: bool = False) -> np.ndarray:
    """Robust percentile scaling of any real array to ``uint8`` 0..255.

    The ``lo_pct``/``hi_pct`` percentiles of ``arr[inside]`` (all finite
    values when ``inside`` is ``None``) map to 0 and 255; values beyond them
    are clipped. Outside ``inside`` the result is 0 (background stays black).
    ``nonzero=True`` means ``inside = arr != 0`` without building that mask.
    NaN/inf become 0. Returns an array of ``arr``'s shape.

    Memory: ``arr`` may be any real dtype; it is converted to ``float32`` in
    blocks of :data:`CHUNK` elements, so besides the ``uint8`` result the only
    full-size buffer is the ``float32`` copy of the selected values the
    percentiles need (at most 4 bytes per element). The arithmetic is the
    element-wise float32 arithmetic of the whole-array formula, so the result
    is bit-identical to it.
    """
    arr = np.asarray(arr)
    order = "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C"
    src = _flat(arr, order)
    ins = None if inside is None else _flat(np.asarray(inside, dtype=bool), order)
    n = src.size

    def block(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = src[i : i + CHUNK].astype(np.float32, copy=False)
        finite = np.isfinite(x)
        sel = finite if ins is None else finite & ins[i : i + CHUNK]
        if nonzero:
            sel = sel & (x != 0)
        return x, finite, sel

    count = sum(int(np.count_nonzero(block(i)[2])) for i in range(0, n, CHUNK))
    out = np.zeros(arr.shape, dtype=np.uint8, order=order)
    if not count:
        return out
    values = np.empty(count, np.float32)  # the selected values, for the percentiles
    at = 0
    for i in range(0, n, CHUNK):
        x, _, sel = block(i)
        k = int(np.count_nonzero(sel))
        values[at : at + k] = x[sel]
        at += k
    lo, hi = np.percentile(values, [lo_pct, hi_pct], overwrite_input=True)
    del values
    if hi <= lo:
        hi = lo + 1.0
    flat_out = _flat(out, order)
    for i in range(0, n, CHUNK):
        x, finite, sel = block(i)
        scaled = np.clip((np.where(finite, x, lo) - lo) / (hi - lo), 0.0, 1.0) * 255.0
        scaled = scaled.round().astype(np.uint8)
        if ins is not None or nonzero:
            scaled[~sel] = 0  # outside (non-finite values are 0 already)
        flat_out[i : i + CHUNK] = scaled
    return out


def finite_range(arr: np.ndarray) -> tuple[float, float, int]:
    """``(min, max, number of NaN/inf)`` of ``arr`` over its finite values, as ``float32`` values.

    Any real dtype; read in blocks of :data:`CHUNK` elements (no full-size copy).
    """
    arr = np.asarray(arr)
    src = _flat(arr, "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C")
    lo, hi, bad = np.inf, -np.inf, 0
    for i in range(0, src.size, CHUNK):
        x = src[i : i + CHUNK].astype(np.float32, copy=False)
        finite = np.isfinite(x)
        n = int(np.count_nonzero(finite))
        bad += x.size - n
        if n:
            vals = x if n == x.size else x[finite]
            lo, hi = min(lo, float(vals.min())), max(hi, float(vals.max()))
    return (0.0, 0.0, bad) if lo > hi else (lo, hi, bad)


def parse_int_set(text: str | None, what: str) -> tuple[int, ...] | None:
    """``"1,4"`` -> ``(1, 4)``; ``None``/``""`` -> ``None``."""
    if text is None or text == "" or isinstance(text, (tuple, list)):
        return tuple(text) if text else None
    try:
        return tuple(sorted({int(t) for t in str(text).split(",") if t.strip()}))
    except ValueError:
        raise DataError(f"{what} '{text}': give comma-separated integers, e.g. 1,4.") from None
