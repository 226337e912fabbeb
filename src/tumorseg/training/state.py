"""What an exact resume needs beyond weights and optimizer: RNG states, data order, LR schedule.

Exactness rests on three choices:

* The data order of epoch ``e`` is a pure function of ``(seed, e)``
  (:class:`EpochSampler`, a ``DistributedSampler``), so a run resumed after
  ``k`` steps of that epoch skips exactly the ``k`` batches it already saw.
* Augmentation of training item ``i`` in epoch ``e`` draws from a generator
  seeded by ``(seed, e, i)`` (:class:`AugmentedItems`), so it does not depend
  on worker processes, ranks, or where a run was interrupted.
* Everything else that draws random numbers (dropout) uses the global
  generators, whose states are saved in every checkpoint
  (:func:`rng_state` / :func:`set_rng_state`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from tumorseg.errors import TumorsegError

SCHEDULERS = ("none", "cosine")
SELECT_METRICS = {"val_loss": "min", "val_dice": "max"}


def rng_state() -> dict[str, Any]:
    """States of Python's, NumPy's and torch's (CPU and CUDA) generators, as plain types and tensors.

    Kept ``weights_only``-loadable: NumPy's key array is stored as a tensor.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochSampler(DistributedSampler):
    """``DistributedSampler`` (this rank's share of a ``(seed, epoch)``-seeded permutation) that

    * yields ``(epoch, index)`` pairs, so datasets in worker processes know the
      epoch without shared state, and
    * can start ``skip`` items into the epoch (a resumed mid-epoch run).

    With ``num_replicas=1`` it is also the single-process shuffler, so one and
    many processes share one code path.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        super().set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())[self.skip:]
        return iter([(self.epoch, i) for i in indices])

    def __len__(self) -> int:
        return self.num_samples - self.skip


class AugmentedItems(Dataset):
    """Training view of a dataset: item ``(epoch, i)`` is ``base[i]`` passed through ``transform``
    under a generator seeded by ``(seed, epoch, i)`` (see the module docstring).

    Without a transform it is just ``base[i]``.
    """

    def __init__(self, base: Dataset, transform: Callable | None, seed: int):
        self.base, self.transform, self.seed = base, transform, seed

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, i = key
        image, mask = self.base[i]
        if self.transform is None:
            return image, mask
        item_seed = int(np.random.SeedSequence([self.seed, epoch, i]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[]):  # the transform draws from torch's global CPU generator
            torch.manual_seed(item_seed)
            return self.transform(image, mask)


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Per-iteration LR schedule: ``None`` for ``"none"``; ``"cosine"``: linear warm-up then cosine to 0.

    Raises:
        TumorsegError: unknown name.
    """
    if name == "none":
        return None
    if name != "cosine":
        raise TumorsegError(f"unknown scheduler '{name}': use {' or '.join(SCHEDULERS)}.")
    warmup_steps = max(0, min(warmup_steps, total_steps))

    def factor(step: int) -> float:  # a plain function: LambdaLR then saves no pickled object
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Selector:
    """Tracks the best epoch by ``metric`` (``val_loss``: lowest; ``val_dice``: highest) and early stopping."""

    def __init__(self, metric: str, patience: int = 0):
        if metric not in SELECT_METRICS:
            raise TumorsegError(f"unknown select metric '{metric}': use {' or '.join(SELECT_METRICS)}.")
        self.metric, self.patience = metric, patience
        self.sign = 1.0 if SELECT_METRICS[metric] == "min" else -1.0
        self.best = math.inf
        self.best_epoch = 0
        self.stale = 0

    def update(self, row: dict[str, Any]) -> bool:
        """Record an epoch's ``row``; True when it is the best so far."""
        value = self.sign * float(row[self.metric])
        if value < self.best:
            self.best, self.best_epoch, self.stale = value, int(row["epoch"]), 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.stale >= self.patience

    @property
    def best_value(self) -> float:
        return self.sign * self.best

    def state_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "best": self.best, "best_epoch": self.best_epoch, "stale": self.stale}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.stale = float(d["best"]), int(d["best_epoch"]), int(d["stale"])
