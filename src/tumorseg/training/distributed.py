"""DistributedDataParallel set-up from torchrun's environment, and the few collectives training needs.

``torchrun --nproc_per_node N -m tumorseg train ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without
them training is one ordinary process and every helper here is a no-op.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from tumorseg.device import resolve_device
from tumorseg.errors import TumorsegError

log = logging.getLogger(__name__)


@dataclass
class DistEnv:
    """Where this process sits: ``rank`` of ``world_size``, its ``device``, the ``backend`` (``None`` alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None
    owns_group: bool = False  # we initialised the process group, so we destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def close(self) -> None:
        """Destroy the process group (if we created it). That frees it, joining its worker threads, only when
        nothing else holds it: see :func:`import_group_users`."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def import_group_users() -> None:
    """Import, before the process group exists, the torch modules that would otherwise keep it alive for good.

    ``torch.distributed.nn.functional`` binds ``group.WORLD`` as a default argument of ten functions when it is
    first imported, and DistributedDataParallel's constructor imports it (through ``torch._dynamo``). Imported
    after ``init_process_group`` it holds the default group forever, so ``destroy_process_group`` cannot free it:
    Gloo's worker threads then outlive it into interpreter shutdown, where one that drops its last finished
    collective (a tensor, whose release takes the GIL) is killed by ``pthread_exit`` inside a destructor, and the
    process aborts with "terminate called without an active exception". Imported now, they bind ``None``.
    """
    import torch.distributed.nn.functional  # noqa: F401


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device_name: str = "auto") -> DistEnv:
    """Resolve the device and, under torchrun, join the process group.

    Backend: ``nccl`` when the device is CUDA, ``gloo`` otherwise. Each
    process of a node takes GPU ``LOCAL_RANK``.

    Raises:
        TumorsegError: more processes on a node than GPUs.
    """
    device = resolve_device(device_name)
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return DistEnv(device=device)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise TumorsegError(
                f"torchrun started {local_world} processes on this node but only {torch.cuda.device_count()} GPUs "
                f"are visible: use --nproc_per_node {torch.cuda.device_count()}."
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    owns = not dist.is_initialized()
    if owns:
        import_group_users()
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    log.info("rank %d/%d on %s (%s)", rank, world, device, backend)
    return DistEnv(rank, world, local_rank, local_world, device, backend, owns)


def all_reduce_sum(env: DistEnv, values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks (float64 on the training device; returned on the CPU)."""
    if not env.distributed:
        return values.double().cpu()
    t = values.double().to(env.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def any_rank(env: DistEnv, flag: bool) -> bool:
    """True on every rank when ``flag`` is true on at least one (so all ranks stop at the same step)."""
    if not env.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_objects(env: DistEnv, obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (pickled: only for small, trusted state)."""
    if not env.distributed:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def on_main(env: DistEnv, fn, per_node: bool = False) -> None:
    """Run ``fn`` on rank 0 (``per_node``: on local rank 0 of every node) only; a TumorsegError it raises
    is raised on every rank, so no rank waits forever for one that failed."""
    message = None
    if (env.local_rank if per_node else env.rank) == 0:
        try:
            fn()
        except TumorsegError as exc:
            if not env.distributed:
                raise
            message = str(exc)
    failed = [m for m in gather_objects(env, message) if m]
    if failed:
        raise TumorsegError(failed[0])
