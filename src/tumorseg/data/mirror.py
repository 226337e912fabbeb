"""Tumour-free slices from tumour slices, by mirroring the healthy hemisphere.

figshare has a tumour on every slice, and tumour-free T1-contrast slices come
only from other sources (LGG), so a model trained on the mix can learn
"figshare-looking means tumour" instead of "tumour". This module makes
source-matched negatives: on an axial or coronal slice whose tumour lies in one
hemisphere, the tumour's half is replaced by the reflection of the other half
across the brain's midline, which gives a tumour-free slice with the same
scanner, contrast and resolution. The converse (the tumour's half reflected onto
the healthy one, a mask with two tumours) keeps "symmetric" from becoming a cue
for "no tumour".

No library here estimates a 2-D brain midline from one slice (registration
toolkits do it with a template), so it is written by hand: a search over the
angle and position of the line that makes the slice most like its own mirror
image inside the head, the tumour excluded. Sagittal slices and slices with a
tumour on the midline (most pituitary tumours) are rejected, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: a midline with a lower symmetry score (Pearson r of the smoothed slice and
#: its mirror image inside the head) is rejected: sagittal slices score ~0.2-0.5
MIN_SCORE = 0.6
#: ... as is one where the head and its mirror image overlap less (IoU)
MIN_HEAD_OVERLAP = 0.9
#: the slice is searched at about this size (long side, pixels)
SEARCH_SIZE = 128


@dataclass(frozen=True)
class Midline:
    """A line in (row, col) pixel coordinates of the full-size slice.

    ``y, x``: a point on it; ``theta``: its angle from the vertical in radians
    (positive turns its lower end towards larger columns); ``score``: Pearson r
    of the slice and its reflection inside the head (1 = perfect symmetry);
    ``head_overlap``: IoU of the head mask and its reflection.
    """

    y: float
    x: float
    theta: float
    score: float
    head_overlap: float

    @property
    def normal(self) -> np.ndarray:
        return np.array([-np.sin(self.theta), np.cos(self.theta)])

    @property
    def usable(self) -> bool:
        return self.score >= MIN_SCORE and self.head_overlap >= MIN_HEAD_OVERLAP

    def side(self, shape: tuple[int, int]) -> np.ndarray:
        """Bool ``shape`` array: True for pixels on the normal's side of the line."""
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        n = self.normal
        return (yy - self.y) * n[0] + (xx - self.x) * n[1] > 0


def head_mask(image: np.ndarray) -> np.ndarray:
    """Bool mask of the largest bright region (the head) of a 2-D slice, holes filled."""
    img = np.asarray(image, np.float32)
    thr = 0.15 * float(np.percentile(img, 99))
    m = ndi.binary_fill_holes(ndi.binary_closing(img > thr, iterations=2))
    lab, n = ndi.label(m)
    if n == 0:
        return m
    sizes = ndi.sum(m, lab, range(1, n + 1))
    return lab == 1 + int(np.argmax(sizes))


def reflect(array: np.ndarray, line: Midline, order: int = 1) -> np.ndarray:
    """``array`` (H, W) reflected across ``line``; pixels from outside the image are 0.

    ``order``: 1 (bilinear) for images, 0 for masks (the result keeps the dtype
    of a float array; pass masks as float and threshold at 0.5).
    """
    n = line.normal
    matrix = np.eye(2) - 2 * np.outer(n, n)
    offset = 2 * float(np.array([line.y, line.x]) @ n) * n
    return ndi.affine_transform(np.asarray(array, np.float32), matrix, offset=offset, order=order, mode="constant")


def _rotation(theta: float) -> np.ndarray:
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def _rotate(a: np.ndarray, cy: float, cx: float, theta: float, order: int) -> np.ndarray:
    # rotated[p] = a[M (p - c) + c]: a vertical line of the result is the line at angle theta of ``a``
    m = _rotation(theta)
    c = np.array([cy, cx])
    return ndi.affine_transform(a, m, offset=c - m @ c, order=order, mode="constant")


def _best_column(rot: np.ndarray, head: np.ndarray, excl: np.ndarray | None, cx: float,
                 max_shift: int) -> tuple[float, float, float]:
    """Best vertical mirror axis of ``rot`` near column ``cx``: (score, axis column, head IoU)."""
    w = rot.shape[1]
    x = np.arange(w)
    best = (-2.0, cx, 0.0)
    for a in range(int(round(2 * cx)) - 2 * max_shift, int(round(2 * cx)) + 2 * max_shift + 1):
        src = a - x  # reflection about column a / 2
        ok = (src >= 0) & (src < w)
        if ok.sum() < w // 2:
            continue
        img, mir = rot[:, ok], rot[:, src[ok]]
        h, hm = head[:, ok], head[:, src[ok]]
        sel = h & hm
        if excl is not None:
            sel &= ~excl[:, ok] & ~excl[:, src[ok]]
        if sel.sum() < 200:
            continue
        u, v = img[sel], mir[sel]
        su, sv = u.std(), v.std()
        if su == 0 or sv == 0:
            continue
        r = float(((u - u.mean()) * (v - v.mean())).mean() / (su * sv))
        if r > best[0]:
            best = (r, a / 2, float((h & hm).sum()) / max(float((h | hm).sum()), 1.0))
    return best


def find_midline(image: np.ndarray, exclude: np.ndarray | None = None, max_angle_deg: float = 15.0) -> Midline:
    """The mirror line that makes the 2-D slice ``image`` (H, W) most like its reflection.

    ``exclude``: bool (H, W) pixels left out of the comparison (the tumour,
    dilated), together with their reflections. Searches angles within
    ``max_angle_deg`` of vertical (2.5° steps, refined to 0.5°) and positions
    within a fifth of the width of the head's centre, on a copy of about
    ``SEARCH_SIZE`` pixels. Check ``Midline.usable`` before trusting it: a
    sagittal slice or an empty image gets a low score, not an error.
    """
    img = np.asarray(image, np.float32)
    if img.ndim != 2:
        raise ValueError(f"find_midline wants one 2-D slice, got shape {img.shape}")
    scale = min(1.0, SEARCH_SIZE / max(img.shape))
    small = ndi.zoom(img, scale, order=1) if scale < 1 else img
    excl = None
    if exclude is not None:
        excl = (ndi.zoom(np.asarray(exclude, np.float32), scale, order=0) if scale < 1 else exclude) > 0.5
    head = head_mask(small)
    if head.sum() < 100:
        return Midline(img.shape[0] / 2, img.shape[1] / 2, 0.0, -1.0, 0.0)
    cy, cx = ndi.center_of_mass(head)
    smooth = ndi.gaussian_filter(small, 1.5)
    max_shift = max(2, small.shape[1] // 10)

    def at(theta: float) -> tuple[float, float, float, float]:
        rot = _rotate(smooth, cy, cx, theta, 1)
        h = _rotate(head.astype(np.float32), cy, cx, theta, 0) > 0.5
        e = None if excl is None else _rotate(excl.astype(np.float32), cy, cx, theta, 0) > 0.5
        r, col, iou = _best_column(rot, h, e, cx, max_shift)
        return r, col, iou, theta

    coarse = max((at(t) for t in np.deg2rad(np.arange(-max_angle_deg, max_angle_deg + 1e-6, 2.5))), key=lambda b: b[0])
    fine = max((at(coarse[3] + t) for t in np.deg2rad(np.arange(-2.0, 2.01, 0.5))), key=lambda b: b[0])
    r, col, iou, theta = fine
    # the axis is the vertical line x = col of the rotated copy: map a point of it back
    c = np.array([cy, cx])
    py, px = _rotation(theta) @ (np.array([cy, col]) - c) + c
    return Midline(float(py / scale), float(px / scale), float(theta), r, iou)


def mirror_slice(image: np.ndarray, mask: np.ndarray, line: Midline, keep: str = "healthy",
                 margin: int = 6) -> tuple[np.ndarray, np.ndarray] | None:
    """A mirrored copy of a tumour slice, or None where that is not possible.

    ``image`` (H, W) any numeric dtype, ``mask`` (H, W) bool. ``keep="healthy"``:
    the tumour's half is replaced by the reflection of the other half, the mask
    is empty (a tumour-free slice). ``keep="tumour"``: the healthy half is
    replaced by the reflected tumour half; the mask holds both tumours. Returns
    (image as ``image``'s dtype, bool mask); None when the mask is empty, the line
    is not ``usable``, or the tumour (dilated by ``margin`` px) reaches across
    the line.
    """
    mask = np.asarray(mask, bool)
    if not mask.any() or not line.usable:
        return None
    grown = ndi.binary_dilation(mask, iterations=margin) if margin > 0 else mask
    if (reflect(grown.astype(np.float32), line, order=0) > 0.5)[grown].any():
        return None
    side = line.side(mask.shape)
    tumour_side = side if side[mask].mean() > 0.5 else ~side
    mirrored = reflect(image, line, order=1)
    replace = tumour_side if keep == "healthy" else ~tumour_side
    out = np.where(replace, mirrored, np.asarray(image, np.float32))
    if np.issubdtype(np.asarray(image).dtype, np.integer):
        info = np.iinfo(np.asarray(image).dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    out = out.astype(np.asarray(image).dtype)
    if keep == "healthy":
        return out, np.zeros_like(mask)
    if keep != "tumour":
        raise ValueError(f"keep must be 'healthy' or 'tumour', not {keep!r}")
    return out, mask | (reflect(mask.astype(np.float32), line, order=0) > 0.5)
