"""Per-item training augmentation for the DataLoader path: :func:`tumorseg.data.augment.augment_batch` on one item.

``build_transform(name, image_size)`` returns a callable
``(image (C, S, S) float in [0, 1], mask (1, S, S) float in {0, 1}) -> (image, mask)``.

The batched implementation in :mod:`tumorseg.data.augment` is the only one:
this wraps it for a batch of one, so the DataLoader path (CPU workers, one item
at a time) and the device path (whole batches on the GPU) augment alike.

Why not MONAI's ``Rand*d`` transforms: each keeps its own NumPy RandomState,
which the trainer's checkpoint does not capture, so a resumed run would see
different augmentations. These draw only from torch's global CPU generator,
which :class:`tumorseg.training.state.AugmentedItems` seeds per item with
``(seed, epoch, index)``. Presets:

* ``"light"``: horizontal flip, small rotation (±10°) and scale (0.9–1.1),
  brightness/contrast/gamma jitter, Gaussian noise.
* ``"mri"``: as light, plus vertical flips, ±15°, scale 0.85–1.15, stronger
  intensity jitter.
* ``"strong"``: as mri, plus ±5 % translation and elastic deformation.

Geometry is applied to image (bilinear) and mask (nearest) with the same
sampling grid, so labels never become fractional.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tumorseg.data.augment import PRESETS, AugmentParams, augment_batch, augment_params, one_thread

Transform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

__all__ = ["PRESETS", "Augment", "Transform", "build_transform"]


class Augment:
    """``params`` (an :class:`~tumorseg.data.augment.AugmentParams`) applied to one ``(C, S, S)`` item,
    drawing from torch's global generator."""

    def __init__(self, params: AugmentParams):
        self.params = params

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # one slice gains nothing from intra-op threads (DataLoader workers have one anyway; this is for
        # augmentation in the training process, num_workers=0)
        with one_thread(image.device):
            images, masks = augment_batch(image[None], mask[None], self.params)
        return images[0], masks[0]


def build_transform(name: str, image_size: int | None = None) -> Transform | None:
    """The augmentation called ``name`` (``"none"`` → ``None``).

    Raises:
        TumorsegError: unknown name (with the closest known one).
    """
    params = augment_params(name)
    return None if params is None else Augment(params)
