"""Volume -> 8-bit intensity scaling shared by the NIfTI and DICOM readers, ``predict`` and the web page.

One rule for every input type, so a model sees the same kind of image whether
the scan came as ``uint8``, ``int16``/``uint16`` (BraTS-GLI: 0..~15000) or
z-scored ``float32`` (BraTS 2015 ``*_subtrMeanDivStd``: negative values,
background a constant below the brain):

1. **Background** = the value that fills the space around the head: ``0`` or
   the volume's minimum, whichever occurs more often, provided it covers at
   least :data:`BACKGROUND_MIN_FRACTION` of the voxels (else: no background,
   e.g. an MR magnitude image whose air is noise).
2. **Window** = the ``lo_pct``/``hi_pct`` percentiles (0.5/99.5) of the
   foreground (finite voxels that are not background), over the whole volume,
   never per slice: a slice at the top of the head keeps its place on the
   volume's scale.
3. Values map linearly from ``[lo, hi]`` to 0..255, clipped; background and
   NaN/inf become 0. The brain's darkest 0.5 % reach 0 as well; everything else
   lands in 1..255.

Memory: integer inputs of up to 16 bits are mapped through a 65536-entry
lookup table (no float copy of the volume); other dtypes are scaled in
``float32`` blocks of at most :data:`BLOCK_VOXELS`. The percentile step copies
only the foreground values, in the input's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BACKGROUND_MIN_FRACTION = 0.01  # a value this common at 0 or the minimum is the space around the head
BLOCK_VOXELS = 1 << 18  # float32 work buffer of at most 1 MB (a few BraTS slices)


@dataclass(frozen=True)
class Window:
    """How a volume was scaled: ``lo`` -> 0 and ``hi`` -> 255; ``background`` (``None``: none found) -> 0.

    ``foreground`` is the number of voxels the percentiles were taken over
    (0: the volume is all background, and scales to all zeros).
    """

    lo: float
    hi: float
    background: float | None
    foreground: int


def _finite(vol: np.ndarray) -> np.ndarray | None:
    """Boolean mask of finite voxels, or ``None`` when every voxel is finite (always for integers)."""
    if not np.issubdtype(vol.dtype, np.floating):
        return None
    finite = np.isfinite(vol)
    return None if finite.all() else finite


def background_value(vol: np.ndarray, finite: np.ndarray | None = None) -> float | None:
    """The background intensity of ``vol`` (see module docstring, rule 1), or ``None``.

    ``finite``: mask of finite voxels (``None``: all finite). An empty or
    all-NaN volume has no background.
    """
    vals = vol if finite is None else vol[finite]
    if vals.size == 0:
        return None
    low = vals.min()
    counts = {0.0: int(np.count_nonzero(vals == 0))}
    if low != 0:
        counts[float(low)] = int(np.count_nonzero(vals == low))
    value, count = max(counts.items(), key=lambda kv: kv[1])
    return value if count >= BACKGROUND_MIN_FRACTION * vals.size else None


def intensity_window(vol: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> Window:
    """The scaling :func:`volume_to_uint8` applies to ``vol`` (any real dtype, any shape)."""
    vol = np.asarray(vol)
    finite = _finite(vol)
    bg = background_value(vol, finite)
    if bg is None:
        fg_vals = vol[finite] if finite is not None else vol.ravel().copy()
    else:
        fg = vol != bg
        if finite is not None:
            fg &= finite
        fg_vals = vol[fg]  # 1-D copy in the input's dtype: the only full-size copy besides the masks
    if fg_vals.size == 0:
        return Window(0.0, 1.0, bg, 0)
    lo, hi = np.percentile(fg_vals, [lo_pct, hi_pct], overwrite_input=True)  # partitions our own copy in place
    lo, hi = float(lo), float(hi)
    if hi <= lo:  # a flat foreground: show it mid-grey rather than dividing by zero
        hi = lo + 1.0
    return Window(lo, hi, bg, int(fg_vals.size))


def _scaled(x: np.ndarray, w: Window) -> np.ndarray:
    """``x`` (a float array of our own, overwritten) mapped to 0..255 ``uint8`` by window ``w`` (no background rule)."""
    x -= w.lo
    x *= 255.0 / (w.hi - w.lo)
    np.clip(x, 0.0, 255.0, out=x)
    np.rint(x, out=x)
    return x.astype(np.uint8)


def volume_to_uint8(vol: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    """Scale a volume (or one image) to ``uint8`` 0..255 by its foreground percentiles; background -> 0.

    Args:
        vol: any real array, typically ``(X, Y, Z)`` (NIfTI) or ``(Z, rows,
            cols)`` (DICOM), or one 2-D slice; ``bool`` and complex are refused.
        lo_pct, hi_pct: the foreground percentiles that map to 0 and 255
            (:func:`intensity_window` gives the values they come to).

    Returns:
        ``uint8`` array of ``vol``'s shape (Fortran-ordered when ``vol`` is, as
        nibabel's arrays are, so ``out[..., k]`` stays contiguous).

    Raises:
        TypeError: ``vol`` is not a real numeric array of at least one dimension.
    """
    vol = np.asarray(vol)
    if vol.ndim == 0 or vol.dtype == bool or not (
            np.issubdtype(vol.dtype, np.integer) or np.issubdtype(vol.dtype, np.floating)):
        raise TypeError(f"volume_to_uint8 needs a real numeric array, not a {vol.ndim}-D {vol.dtype} one.")
    w = intensity_window(vol, lo_pct, hi_pct)
    if w.foreground == 0:
        return np.zeros(vol.shape, np.uint8)
    if np.issubdtype(vol.dtype, np.integer) and vol.dtype.itemsize <= 2:
        # every possible value once: a table indexed by the raw bits (int16 read as uint16 wraps negatives to the top)
        native = vol.dtype.newbyteorder("=")
        unsigned = native.str.replace("i", "u")
        values = np.arange(1 << (8 * native.itemsize)).astype(unsigned).view(native)  # value of each bit pattern
        lut = _scaled(values.astype(np.float64), w)
        if w.background is not None:
            lut[np.asarray(w.background).astype(native).astype(unsigned)] = 0
        return lut[vol.astype(native, copy=False).view(unsigned)]
    order = "F" if vol.flags.f_contiguous and not vol.flags.c_contiguous else "C"
    axis = vol.ndim - 1 if order == "F" else 0  # block along the slowest-varying axis
    out = np.empty(vol.shape, np.uint8, order=order)
    per = max(1, vol.size // max(1, vol.shape[axis]))
    step = max(1, BLOCK_VOXELS // per)
    for a in range(0, vol.shape[axis], step):
        idx = tuple(slice(a, a + step) if d == axis else slice(None) for d in range(vol.ndim))
        block = vol[idx].astype(np.float32)  # our own copy: scaled in place
        bad = None
        if np.issubdtype(vol.dtype, np.floating) and not np.isfinite(block).all():
            bad = ~np.isfinite(block)
            block[bad] = w.lo
        scaled = _scaled(block, w)
        if w.background is not None:
            scaled[vol[idx] == w.background] = 0
        if bad is not None:
            scaled[bad] = 0
        out[idx] = scaled
    return out
