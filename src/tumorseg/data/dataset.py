"""In-memory slice arrays and the torch ``Dataset`` over them.

The whole figshare dev set at 256×256 is 2639 × 64 KiB ≈ 173 MB as ``uint8``,
so slices are decoded once, kept as ``uint8``/``bool`` and turned into
``float32`` in [0, 1] only per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from tumorseg.data.imageio import resize_image, resize_mask
from tumorseg.data.intensity import normalise
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError


@dataclass
class SliceArrays:
    """Decoded slices.

    Attributes:
        images: ``(N, S, S) uint8`` for one-channel input, ``(N, C, S, S) uint8``
            for ``C > 1`` channels (e.g. LGG ``--channels all``).
        masks: ``(N, S, S) bool`` (all ``False`` rows for unlabelled records).
        records: the N records, in the same order.
    """

    images: np.ndarray
    masks: np.ndarray
    records: list[SliceRecord]

    def __len__(self) -> int:
        return len(self.records)

    def subset(self, indices: Sequence[int]) -> "SliceArrays":
        idx = np.asarray(indices, dtype=np.int64)
        return SliceArrays(self.images[idx], self.masks[idx], [self.records[i] for i in idx])


# a record's padding / cropping of its slice and mask to the field of view predict gives its volume
# (tumorseg.inference.field_of_view.volume_windows), or None for as read
WindowOf = Callable[[SliceRecord], Callable[[np.ndarray], np.ndarray] | None]

def resize_channels(img: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``(H, W)`` or ``(C, H, W) uint8`` to ``(S, S)`` / ``(C, S, S)``."""
    if img.ndim == 2:
        return resize_image(img, size)
    return np.stack([resize_image(c, size) for c in img])


def load_slice(record: SliceRecord, image_size: int, intensity: str = "none",
               window: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read one record at ``image_size``: ``((S, S) or (C, S, S) uint8, (S, S) bool)``.

    Any format (plain image files, ``.mat``, TIFF stacks, NIfTI volumes) goes
    through :func:`tumorseg.data.formats.load_record`, which applies that
    format's scaling to 8 bits; ``window`` (``None``: none), given the ``(..., H, W)`` image and the mask, pads or
    crops both (:meth:`tumorseg.inference.field_of_view.Window.apply`); ``intensity`` (a mode of
    :mod:`tumorseg.data.intensity`) is then applied at the native size.

    Raises:
        DataError: unreadable file, non-binary mask, or mask of another size
            than its image.
    """
    from tumorseg.data.formats import load_record

    loaded = load_record(record)
    return prepare_slice(loaded.image, loaded.mask, image_size, intensity, window)


def prepare_slice(image: np.ndarray, mask: np.ndarray, image_size: int, intensity: str = "none",
                  window: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A slice as read (``(H, W)`` or ``(C, H, W) uint8``, its ``(H, W)`` mask) as the model sees it: padded or
    cropped by ``window``, normalised with ``intensity``, resized to ``image_size`` (:func:`load_slice`)."""
    if window is not None:
        image, mask = window(image), window(mask)
    return resize_channels(normalise(image, intensity), image_size), resize_mask(mask, image_size)


def channels_of(images: np.ndarray) -> int:
    """Channel count of ``(N, S, S)`` (1) or ``(N, C, S, S)`` (C) slice arrays."""
    return 1 if images.ndim == 3 else int(images.shape[1])


def load_slices(records: Sequence[SliceRecord], image_size: int, progress: bool = True,
                intensity: str = "none",
                window_of: WindowOf | None = None,
                ) -> SliceArrays:
    """Decode ``records`` into :class:`SliceArrays` at ``image_size`` × ``image_size``.

    The channel count is taken from the first record; all must agree. ``window_of``: a record's padding or
    cropping, which :func:`load_slice` applies before resizing (``None``: none for any record).
    """
    n = len(records)
    masks = np.empty((n, image_size, image_size), dtype=bool)
    images = None
    for i, rec in enumerate(tqdm(records, desc="reading slices", unit="img", disable=not progress, leave=False)):
        img, masks[i] = load_slice(rec, image_size, intensity, window_of(rec) if window_of is not None else None)
        if images is None:
            images = np.empty((n, *img.shape), dtype=np.uint8)
        if img.shape != images.shape[1:]:
            raise DataError(f"{rec.image}: has {img.shape} channels×size after reading, unlike the first slice's "
                            f"{images.shape[1:]}; every slice needs the same channels.")
        images[i] = img
    if images is None:
        images = np.empty((0, image_size, image_size), dtype=np.uint8)
    return SliceArrays(images, masks, list(records))


class SliceDataset(Dataset):
    """Torch view of :class:`SliceArrays`.

    Items are ``(image, mask)`` with ``image`` ``(C, S, S) float32`` in [0, 1]
    (``C`` = 1 for ``(N, S, S)`` arrays) and ``mask`` ``(1, S, S) float32`` in {0, 1}. ``transform``, when given,
    maps that pair to another pair (augmentation).
    """

    def __init__(self, arrays: SliceArrays, transform: Callable | None = None):
        self.arrays = arrays
        self.transform = transform

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.from_numpy(self.arrays.images[i]).float().div_(255.0)
        if image.ndim == 2:
            image = image.unsqueeze(0)  # (S, S) -> (1, S, S)
        mask = torch.from_numpy(self.arrays.masks[i]).float().unsqueeze(0)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask
