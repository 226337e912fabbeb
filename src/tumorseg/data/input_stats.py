"""Brightness statistics of model inputs: stored with a model at training time, compared at prediction time.

A model trained on one kind of image silently produces nonsense on images
whose brightness is far from it (a z-scored volume whose background became
mid-grey, a T1 scan given to a FLAIR model). The numbers here are cheap and
only used to *warn*, never to refuse.

Per slice (8-bit, as the model sees it: after the reader's scaling and any
intensity normalisation): the median of its **foreground**, the pixels above
10 % of the slice's maximum (this drops the black background and the dark
noise around the head; 2 % kept too much LGG background). Slices with fewer
than ``MIN_FOREGROUND_PX`` foreground pixels (empty edge slices of a volume)
are skipped.

Stored in a checkpoint's ``preprocessing["input_stats"]``::

    {"fg_median": [p5, p50, p95],   # over training slices, one list per input channel
     "fg_p99": [p5, p50, p95],
     "foreground": "pixels > 10% of the slice maximum", "n_slices": 2375}

An input (one image, or all slices of a volume) is **far off** when the median
of its slices' foreground medians lies outside ``[p5 / FACTOR, p95 * FACTOR]``
of the training slices (``FACTOR`` = 1.5). Measured on real data: figshare
T1c slices have p5–p95 55–91 (band 37–137); BraTS-GLI ``-t1c`` volumes give
72 (inside), the z-scored DeepMedic ``T1c_subtrMeanDivStd`` 197 (outside).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FOREGROUND_FRACTION = 0.10
MAX_LABEL_LEVELS = 8  # a mask or label map has at most this many grey levels (see label_levels)
LABEL_BRIGHT = 64  # ... and one of them this bright (or it is a 0/1 mask)
MIN_FOREGROUND_PX = 64
FACTOR = 1.5
MAX_SLICES = 512  # training statistics use at most this many slices, evenly spaced


def slice_stats(image: np.ndarray) -> tuple[float, float] | None:
    """``(foreground median, foreground p99)`` of one ``(H, W)`` slice, or ``None`` if it is (nearly) empty."""
    top = float(image.max()) if image.size else 0.0
    if top <= 0:
        return None
    fg = image[image > FOREGROUND_FRACTION * top]
    if fg.size < MIN_FOREGROUND_PX:
        return None
    return float(np.median(fg)), float(np.percentile(fg, 99))


def _channels(image: np.ndarray) -> list[np.ndarray]:
    return [image] if image.ndim == 2 else list(image)


def training_stats(images: np.ndarray) -> dict[str, Any]:
    """Statistics of training images ``(N, S, S)`` or ``(N, C, S, S) uint8`` for ``preprocessing["input_stats"]``.

    Returns ``{}`` when no slice has enough foreground (then no warning is ever given).
    """
    n = len(images)
    if n == 0:
        return {}
    idx = np.unique(np.linspace(0, n - 1, min(n, MAX_SLICES)).round().astype(int))
    n_chan = 1 if images.ndim == 3 else images.shape[1]
    per_chan: list[list[tuple[float, float]]] = [[] for _ in range(n_chan)]
    for i in idx:
        for c, ch in enumerate(_channels(np.asarray(images[i]))):
            s = slice_stats(ch)
            if s is not None:
                per_chan[c].append(s)
    if not all(per_chan):
        return {}

    def band(values: list[float]) -> list[float]:
        return [round(float(v), 2) for v in np.percentile(values, [5, 50, 95])]

    return {"fg_median": [band([s[0] for s in st]) for st in per_chan],
            "fg_p99": [band([s[1] for s in st]) for st in per_chan],
            "foreground": f"pixels > {FOREGROUND_FRACTION:.0%} of the slice maximum",
            "n_slices": int(len(per_chan[0]))}


def input_median(slices: list[np.ndarray]) -> list[float] | None:
    """Per channel, the median over ``slices`` (each ``(H, W)`` or ``(C, H, W)``) of their foreground medians."""
    per_chan: dict[int, list[float]] = {}
    for s in slices:
        for c, ch in enumerate(_channels(np.asarray(s))):
            st = slice_stats(ch)
            if st is not None:
                per_chan.setdefault(c, []).append(st[0])
    if not per_chan:
        return None
    return [float(np.median(per_chan[c])) for c in sorted(per_chan)]


def far_off(slices: list[np.ndarray], stats: dict[str, Any] | None) -> str | None:
    """A short description of how ``slices`` differ from the training ``stats``, or ``None`` when they fit.

    ``None`` too when ``stats`` is missing (older checkpoints) or the input has no foreground.
    """
    if not stats or not stats.get("fg_median"):
        return None
    got = input_median(slices)
    if got is None or len(got) != len(stats["fg_median"]):
        return None
    for c, (value, (lo, mid, hi)) in enumerate(zip(got, stats["fg_median"])):
        if not lo / FACTOR <= value <= hi * FACTOR:
            chan = f" (channel {c})" if len(got) > 1 else ""
            return (f"median foreground brightness {value:.0f}{chan}; the model's training slices: {mid:.0f} "
                    f"(5-95 % range {lo:.0f}-{hi:.0f})")
    return None


def label_levels(images: list[np.ndarray]) -> list[int] | None:
    """The grey levels of ``images`` when they look like a **mask or label map** given as a scan, else ``None``.

    ``images``: ``uint8`` arrays as the model is fed them (each ``(H, W)`` or ``(C, H, W)``; the slices of one volume,
    or one 2-D image); any other dtype gives ``None``. Label-like: 2 to :data:`MAX_LABEL_LEVELS` distinct values over
    all of them, and either the brightest is at least :data:`LABEL_BRIGHT` (a mask saved 0/255; labels that the volume
    reader spread over 0..255, BraTS 0, 1, 2, 4 -> 0, 85, 170, 255; a 0/1 mask volume -> 0, 128) or they are exactly
    0 and 1 (a 2-D mask saved 0/1). A blank input (one level) is not label-like. Real scans have far more levels:
    every figshare PNG at least 137; the fewest in the LGG TIFFs, 5-8 levels, are tumour-free end slices of dark
    noise (values 0-7), which the brightness rule leaves alone.
    """
    seen = np.zeros(256, bool)
    for image in images:
        image = np.asarray(image)
        if image.dtype != np.uint8:
            return None
        seen |= np.bincount(image.ravel(), minlength=256) > 0
        if np.count_nonzero(seen) > MAX_LABEL_LEVELS:
            return None
    levels = np.flatnonzero(seen).tolist()
    if len(levels) < 2:
        return None
    return levels if levels[-1] >= LABEL_BRIGHT or levels == [0, 1] else None
