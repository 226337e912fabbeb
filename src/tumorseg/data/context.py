"""Neighbouring slices as input channels ("2.5-D"): each slice seen with the ``k`` slices above and below it.

A 2-D network sees one slice; a tumour's top and bottom slices, and a bright structure that a neighbour shows to
be a vessel or the skull base, are easier to judge with the slices around them. With ``--context-slices k`` a
one-channel model is trained on ``(2k + 1, S, S)`` stacks ``[z-k, …, z, …, z+k]`` of the same volume; the network
only changes its first convolution (``in_channels`` = 2k + 1).

Neighbours are found by volume and ``slice_index`` (:class:`tumorseg.data.records.SliceRecord`; the volume is
the file for NIfTI and DICOM readers, whose patients may have several, the patient for LGG folders). Where one is
missing — past the volume's first or last slice, a 2-D source without ``slice_index``, a neighbour not in the
same array — the last slice found on that side stands in (at worst the slice itself), and the stack does not
reach past a gap. A single image (a PNG, one uploaded slice) is therefore its own context: all ``2k + 1``
channels the same. ``--context-dropout p`` shows the network a fraction ``p`` of its training stacks that way
(:func:`drop_context`), for models that should also answer well on single slices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import torch

from tumorseg.data.dataset import SliceArrays
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError
from tumorseg.models.checks import MAX_CONTEXT

T = TypeVar("T")


def volume_of(record: SliceRecord) -> tuple:
    """What identifies ``record``'s volume: its patient (the folder) for LGG slices, which are one file each;
    otherwise its file (NIfTI and DICOM readers: one volume per file or series, maybe several per patient)."""
    if record.loader == "lgg" and record.patient is not None:
        return ("patient", record.patient)
    return ("file", str(record.image), record.loader)


def gather(k: int, centre: T, lookup: Callable[[int], T | None]) -> list[T]:
    """The ``2k + 1`` items at offsets ``-k..k`` of a stack around ``centre``: ``lookup(d)`` for each ``d != 0``
    (``None`` when missing), walking out from the centre on each side; a missing item, and every one past it,
    is the last one found on that side (at worst ``centre``). ``lookup`` is not called past a gap."""
    out = {0: centre}
    for sign in (-1, 1):
        last, gap = centre, False
        for d in range(1, k + 1):
            item = None if gap else lookup(sign * d)
            gap = item is None
            last = last if gap else item
            out[sign * d] = last
    return [out[d] for d in range(-k, k + 1)]


def neighbour_index(records: Sequence[SliceRecord], k: int) -> np.ndarray:
    """``(N, 2k + 1) int64``: row ``i`` holds the positions in ``records`` of slice ``i``'s stack, centre at
    column ``k``. A missing neighbour takes the nearest position towards the centre (see :func:`gather`)."""
    where = {(volume_of(r), r.slice_index): i for i, r in enumerate(records) if r.slice_index is not None}
    out = np.empty((len(records), 2 * k + 1), dtype=np.int64)
    for i, r in enumerate(records):
        at = r.slice_index
        out[i] = gather(k, i, lambda d: None if at is None else where.get((volume_of(r), at + d)))
    return out


def with_neighbours(chosen: Sequence[SliceRecord], pool: Sequence[SliceRecord], k: int) -> list[SliceRecord]:
    """``chosen`` followed by the records of ``pool`` up to ``k`` slices from them in the same volume (each once):
    what to read so that :func:`with_context` gives the chosen slices their real neighbours (then keep the first
    ``len(chosen)`` rows)."""
    if not k:
        return list(chosen)
    where = {(volume_of(r), r.slice_index): r for r in pool if r.slice_index is not None}
    have = {r.case_id for r in chosen}
    extra = []
    for r in chosen:
        for d in range(-k, k + 1):
            n = where.get((volume_of(r), r.slice_index + d)) if r.slice_index is not None else None
            if n is not None and n.case_id not in have:
                have.add(n.case_id)
                extra.append(n)
    return list(chosen) + extra


def with_context(arrays: SliceArrays, k: int) -> SliceArrays:
    """``arrays`` with ``(N, S, S)`` images turned into ``(N, 2k + 1, S, S)`` stacks of neighbouring slices
    (``k`` = 0: unchanged). Masks and records stay those of the centre slices.

    Raises:
        DataError: ``k`` out of range, or images that already have several channels (LGG ``--channels all``).
    """
    check_context(k)
    if k == 0:
        return arrays
    if arrays.images.ndim != 3:
        raise DataError(f"--context-slices {k} needs one-channel slices, but the data have "
                        f"{arrays.images.shape[1]} channels; use one channel (e.g. --channels flair).")
    idx = neighbour_index(arrays.records, k)
    return SliceArrays(arrays.images[idx], arrays.masks, arrays.records)


def volume_stacks(slices: Sequence[np.ndarray], idx: Sequence[int], k: int) -> list[np.ndarray]:
    """Slices ``idx`` of one volume's adjacent ``(H, W)`` slices as ``(2k + 1, H, W)`` stacks (the first and last
    slices repeat at the volume's ends)."""
    n = len(slices)
    return [np.stack([slices[min(max(z + d, 0), n - 1)] for d in range(-k, k + 1)]) for z in idx]


def alone(image: np.ndarray, k: int) -> np.ndarray:
    """One ``(H, W)`` slice as its own context: ``(2k + 1, H, W)``, every channel the slice."""
    return np.repeat(image[None], 2 * k + 1, axis=0)


def centre_slices(images: np.ndarray, k: int) -> np.ndarray:
    """The slices themselves, ``(N, S, S)``, of ``(N, 2k + 1, S, S)`` stacks (``k`` = 0: ``images`` unchanged)."""
    return images[:, k] if k else images


def check_context(k: int) -> None:
    """Raises DataError unless ``0 <= k <=`` :data:`MAX_CONTEXT`."""
    if not 0 <= int(k) <= MAX_CONTEXT:
        raise DataError(f"--context-slices {k}: give 0 (one slice) to {MAX_CONTEXT}.")


def drop_context(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, C, H, W)`` stacks where, with probability ``p`` per sample, every channel becomes the centre slice
    (a slice seen alone, as a single uploaded image is). Draws nothing when ``p`` is 0."""
    if p <= 0:
        return images
    on = torch.rand(images.shape[0], generator=generator, device=images.device) < p
    c = images.shape[1]
    return torch.where(on.view(-1, 1, 1, 1), images[:, c // 2: c // 2 + 1].expand_as(images), images)


class ContextDropout:
    """Training transform of the DataLoader path: ``inner`` (augmentation) if given, then :func:`drop_context`
    on one ``(C, S, S)`` item, drawing from torch's global generator (seeded per item by the trainer)."""

    def __init__(self, inner: Callable | None, p: float):
        self.inner, self.p = inner, p

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.inner is not None:
            image, mask = self.inner(image, mask)
        return drop_context(image[None], self.p)[0], mask
