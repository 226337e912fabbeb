"""The device data path (``TrainConfig.data_path = "device"``): training data resident on the GPU, augmented there.

The DataLoader path decodes nothing per step either (slices are ``uint8``
arrays in memory), but it still converts, augments and collates every item on
a few CPU cores and copies each batch to the GPU, and the trainer reads each
step's loss back (``.item()``, a host sync). A small U-Net on an H100 then
waits on the CPU most of the time. Here instead:

* the training arrays are copied to the device once, as ``uint8``
  (the figshare dev set at 256² is 173 MB);
* each batch is gathered there by index, converted to float and augmented
  batched (:func:`tumorseg.data.augment.augment_batch`), channels-last on CUDA;
* per-step losses stay on the device (:class:`StepLosses`) until the trainer
  reads them at a logging interval, a checkpoint or the end of the epoch.

Order and randomness match the DataLoader path's guarantees (see
:mod:`tumorseg.training.state`): epoch ``e`` visits the same
``EpochSampler`` permutation of ``(seed, e)``, this rank's share of it, and
batch ``k`` of epoch ``e`` is augmented with a generator seeded by
``(seed, e, k, rank)``, so a run resumed mid-epoch continues exactly. Unlike
the DataLoader path's per-item seeds, these depend on the number of processes:
the same run under torchrun with another process count sees other (equally
distributed) augmentations. Without augmentation both paths give identical
batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from tumorseg.data.augment import AugmentParams, augment_batch, one_thread
from tumorseg.data.context import drop_context
from tumorseg.data.dataset import SliceArrays
from tumorseg.errors import TumorsegError
from tumorseg.training.state import EpochSampler

DATA_PATHS = ("loader", "device")


def check_data_path(name: str) -> str:
    """``name`` if it is a known data path, else a one-line error naming the choices."""
    if name not in DATA_PATHS:
        raise TumorsegError(f"unknown data path '{name}': use loader (DataLoader, per-item CPU augmentation) "
                            "or device (data kept on the training device, augmented there in batches).")
    return name


def derived_seed(*keys: int) -> int:
    """A 32-bit seed that is a pure function of ``keys`` (NumPy's ``SeedSequence``: well mixed, no collisions of
    nearby keys)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def resident(arrays: SliceArrays, device: torch.device, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """``arrays`` copied to ``device`` once: images ``(N, C, S, S) uint8``, masks ``(N, 1, S, S) uint8`` (0/1).

    Copied ``chunk`` rows at a time, so memory-mapped (``--cache``) arrays never sit in host memory whole.
    """
    n, shape = len(arrays), arrays.images.shape
    channels, size = (1, shape[1:]) if len(shape) == 3 else (shape[1], shape[2:])
    images = torch.empty((n, channels, *size), dtype=torch.uint8, device=device)
    masks = torch.empty((n, 1, *size), dtype=torch.uint8, device=device)
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        part = torch.from_numpy(np.ascontiguousarray(np.asarray(arrays.images[rows], dtype=np.uint8)))
        images[rows] = part.view(-1, channels, *size)  # (k, S, S) or (k, C, S, S) -> (k, C, S, S)
        masks[rows] = torch.from_numpy(np.ascontiguousarray(np.asarray(arrays.masks[rows], dtype=np.uint8)))[:, None]
    return images, masks


def to_float(images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``uint8`` batches → what :class:`tumorseg.data.dataset.SliceDataset` yields: images in [0, 1] (the same
    ``x / 255`` floats), masks in {0, 1}."""
    return images.float().div_(255.0), masks.float()


class DeviceBatches:
    """Training batches of ``batch_size`` from arrays held on ``device``; iterate once per epoch.

    Use like the DataLoader and its :class:`~tumorseg.training.state.EpochSampler`: ``set_epoch(epoch, skip)``
    (``skip`` items already seen this epoch, a multiple of ``batch_size``), then iterate to get
    ``(images (B, C, S, S) float, masks (B, 1, S, S) float)`` on ``device`` — the last batch may be smaller.

    Args:
        arrays: the training slices.
        device: where they live and batches are made.
        batch_size: this process's batch (the global batch / world size).
        seed: the run's seed (order and augmentation).
        augment: the recipe, or ``None`` for none.
        num_replicas, rank: this process's share of each epoch under DDP.
        channels_last: return images in channels-last memory format (faster convolutions on CUDA).
        context_dropout: fraction of stacks of neighbouring slices shown as their centre slice alone
            (:func:`tumorseg.data.context.drop_context`); 0 draws nothing.
    """

    def __init__(self, arrays: SliceArrays, device: torch.device, batch_size: int, seed: int,
                 augment: AugmentParams | None, num_replicas: int = 1, rank: int = 0, channels_last: bool = False,
                 context_dropout: float = 0.0):
        if batch_size < 1:
            raise TumorsegError(f"batch size must be at least 1, got {batch_size}")
        self.device, self.batch_size, self.seed, self.augment = torch.device(device), batch_size, seed, augment
        self.rank, self.channels_last, self.context_dropout = rank, channels_last, context_dropout
        self.images, self.masks = resident(arrays, self.device)
        self.sampler = EpochSampler(range(len(arrays)), num_replicas, rank, seed)  # type: ignore[arg-type]
        self.generator = torch.Generator(device=self.device)
        self.epoch, self.first_batch = 0, 0
        self._order = torch.zeros(0, dtype=torch.long, device=self.device)

    @property
    def num_samples(self) -> int:
        """Items this rank sees per full epoch (as ``EpochSampler.num_samples``)."""
        return self.sampler.num_samples

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Start ``epoch`` ``skip`` items in (a resumed mid-epoch run); one small host→device copy of the order."""
        if skip % self.batch_size:
            raise ValueError(f"skip ({skip}) must be a whole number of batches of {self.batch_size}")
        self.sampler.set_epoch(epoch, skip=skip)
        self.epoch, self.first_batch = epoch, skip // self.batch_size
        order = torch.tensor([i for _, i in self.sampler], dtype=torch.long)
        self._order = order.to(self.device, non_blocking=True)

    def __len__(self) -> int:
        return -(-len(self._order) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for k in range(len(self)):
            idx = self._order[k * self.batch_size:(k + 1) * self.batch_size]
            yield self.batch(idx, self.first_batch + k)

    def batch(self, idx: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Items ``idx`` (a device tensor) as the ``step``-th batch of the current epoch: gathered, made float,
        augmented with the generator of ``(seed, epoch, step, rank)``."""
        with one_thread(self.device):  # on a CPU: cheap element-wise ops that threads only slow down when busy
            images, masks = to_float(self.images.index_select(0, idx), self.masks.index_select(0, idx))
            if self.augment is not None or self.context_dropout:
                self.generator.manual_seed(derived_seed(self.seed, self.epoch, step, self.rank))
            if self.augment is not None:
                images, masks = augment_batch(images, masks, self.augment, self.generator)
            images = drop_context(images, self.context_dropout, self.generator)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, masks


def sequential_batches(arrays: SliceArrays, device: torch.device,
                       batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Unaugmented batches of ``arrays`` in order, copied to ``device`` as ``uint8`` one batch at a time (a
    quarter of the float bytes) and converted there; the values :class:`~tumorseg.data.dataset.SliceDataset`
    gives."""
    for start in range(0, len(arrays), batch_size):
        part = arrays.subset(range(start, min(start + batch_size, len(arrays))))
        yield to_float(*resident(part, device))


class StepLosses:
    """Per-step ``(loss × batch size, batch size)`` of one epoch, kept on the loss's device.

    ``add`` never syncs with the host; :meth:`cpu` reads everything back in one copy. The values are
    bit-identical to ``loss.item() * n`` computed on the host (float32 loss, products in float64).
    """

    def __init__(self, capacity: int, device: torch.device):
        self.values = torch.zeros(max(capacity, 1), 2, dtype=torch.float64, device=device)
        self.count = 0

    def add(self, loss: torch.Tensor, n: int) -> None:
        if self.count == len(self.values):  # more steps than planned (should not happen): grow
            self.values = torch.cat([self.values, torch.zeros_like(self.values)])
        self.values[self.count, 0] = loss.detach().double() * n
        self.values[self.count, 1] = n
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def cpu(self) -> torch.Tensor:
        """``(steps, 2) float64`` on the CPU (one host sync)."""
        return self.values[: self.count].cpu()
