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

from tumorseg.data.imageio import read_gray, read_mask, resize_image, resize_mask
from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError


@dataclass
class SliceArrays:
    """Decoded slices.

    Attributes:
        images: ``(N, S, S) uint8``.
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


def load_slice(record: SliceRecord, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one record at ``image_size``: ``((S, S) uint8, (S, S) bool)``.

    Raises:
        DataError: unreadable file, non-binary mask, or mask of another size
            than its image.
    """
    img = read_gray(record.image)
    if record.mask is None:
        mask = np.zeros(img.shape, dtype=bool)
    else:
        mask = read_mask(record.mask)
        if mask.shape != img.shape:
            raise DataError(
                f"{record.mask}: mask is {mask.shape[1]}×{mask.shape[0]} but its image {record.image} is "
                f"{img.shape[1]}×{img.shape[0]}. Masks must have their image's size."
            )
    return resize_image(img, image_size), resize_mask(mask, image_size)


def load_slices(records: Sequence[SliceRecord], image_size: int, progress: bool = True) -> SliceArrays:
    """Decode ``records`` into :class:`SliceArrays` at ``image_size`` × ``image_size``."""
    n = len(records)
    images = np.empty((n, image_size, image_size), dtype=np.uint8)
    masks = np.empty((n, image_size, image_size), dtype=bool)
    for i, rec in enumerate(tqdm(records, desc="reading slices", unit="img", disable=not progress, leave=False)):
        images[i], masks[i] = load_slice(rec, image_size)
    return SliceArrays(images, masks, list(records))


class SliceDataset(Dataset):
    """Torch view of :class:`SliceArrays`.

    Items are ``(image, mask)`` with ``image`` ``(1, S, S) float32`` in [0, 1]
    and ``mask`` ``(1, S, S) float32`` in {0, 1}. ``transform``, when given,
    maps that pair to another pair (augmentation).
    """

    def __init__(self, arrays: SliceArrays, transform: Callable | None = None):
        self.arrays = arrays
        self.transform = transform

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.from_numpy(self.arrays.images[i]).float().div_(255.0).unsqueeze(0)
        mask = torch.from_numpy(self.arrays.masks[i]).float().unsqueeze(0)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask
