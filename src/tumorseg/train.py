"""Training: ``fit(config) -> run directory``, on one process or many (``torchrun``).

A run directory holds::

    config.json        the resolved TrainConfig (``runtime``: world size, effective batch and LR, precision)
    split.json         case ids of train/val/test (grouped by patient when known)
    history.csv        epoch, train_loss, val_loss, val_dice, val_iou, lr, seconds
    loss_curve.png     train/val loss (and val Dice) per epoch
    grids/epoch_NNN.png  Image | Ground truth | Prediction on fixed val slices
    best.pt            best epoch by ``select_metric`` (lowest val loss by default)
    last.pt            latest epoch end (or every K steps), with everything an exact resume needs
    test/              metrics.json, per_case.csv, predictions.png of best.pt

Under torchrun every rank trains on its shard (``DistributedSampler``) of each
global batch (``batch_size`` is the global batch, so results do not depend on
the number of processes), validation sums are all-reduced, and rank 0 alone
writes files. See :mod:`tumorseg.training` for the pieces.
"""

from __future__ import annotations

import csv
import logging
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tumorseg.checkpoint import load_checkpoint, save_checkpoint
from tumorseg.config import TrainConfig
from tumorseg.data import read_dataset, split_records
from tumorseg.data.dataset import SliceArrays
from tumorseg.data.formats import describe_records
from tumorseg.data.splits import save_split
from tumorseg.datacheck import load_checked
from tumorseg.errors import DataError, TumorsegError
from tumorseg.evaluate import score_arrays, write_results
from tumorseg.training import distributed as D

log = logging.getLogger(__name__)

RESUME_FORMAT = 2  # layout of ``train_state`` in last.pt
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_run_dir(out: Path, need_bytes: int = 0) -> None:
    """Fail now, not after an hour of training, if ``out`` cannot be written or lacks ``need_bytes`` free."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"x" * 1024)
        probe.unlink()
        free = shutil.disk_usage(out).free
    except OSError as exc:
        raise TumorsegError(f"{out}: cannot write the run directory ({exc.strerror}). Choose another --out.") from None
    if free < need_bytes:
        raise TumorsegError(
            f"{out}: only {free / 2**20:.0f} MiB free on its disk; this run's checkpoints and plots need about "
            f"{need_bytes / 2**20:.0f} MiB. Free some space or choose another --out."
        )


def space_needed(model: torch.nn.Module) -> int:
    """Bytes a run needs: best + last (weights + Adam moments) + one temporary copy of each, plus plots."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return 8 * weights + 64 * 2**20


def prepare_data(cfg: TrainConfig, out: Path, env: D.DistEnv | None = None, split_path: Path | None = None,
                 progress: bool = True) -> dict[str, SliceArrays]:
    """Read, split (rank 0 saves split.json) and decode the dataset into train/val/test arrays.

    ``split_path`` (or ``cfg.split_file``) replaces splitting. With ``cfg.cache`` the slices come
    from the on-disk cache and the training set stays memory-mapped.
    """
    env = env or D.DistEnv()
    records = read_dataset(cfg.data, cfg.data_format, **cfg.data_options)
    if cfg.max_slices:
        records = records[: cfg.max_slices]
    split_path = split_path or (Path(cfg.split_file) if cfg.split_file else None)
    if split_path:
        from tumorseg.data.splits import load_split

        split = load_split(split_path)
        known = {r.case_id for r in records}
        unknown = [c for ids in split.values() for c in ids if c not in known]
        if unknown:
            raise DataError(f"{split_path}: case '{unknown[0]}' (and {len(unknown) - 1} more) not in {cfg.data}.")
    else:
        split = split_records(records, cfg.split_fractions, cfg.seed)
    grouped_by = "patient" if all(r.patient for r in records) else "slice"
    if env.is_main:
        save_split(split, out / "split.json", grouped_by)
    for name in ("train", "val"):
        if not split[name]:
            raise DataError(f"{cfg.data}: too few slices/patients ({len(records)}) to make a '{name}' split.")
    index = {r.case_id: i for i, r in enumerate(records)}
    cfg.input_spec = describe_records(records)
    log.info("data: %d slices (%s-grouped split) → train %d, val %d, test %d",
             len(records), grouped_by, *(len(split[k]) for k in ("train", "val", "test")))
    if cfg.cache is None:
        arrays = load_checked(records, cfg.image_size, str(cfg.data), progress=progress, intensity=cfg.intensity)  # stops with check-data's report
        return {k: arrays.subset([index[c] for c in ids]) for k, ids in split.items()}
    from tumorseg.data.cache import cached_slices, resolve_cache_dir, split_views

    cache_dir, key = resolve_cache_dir(cfg.cache), {"format": cfg.data_format, "options": cfg.data_options,
                                                     "intensity": cfg.intensity}
    # every node builds its own entry (a cache folder on node-local disk); a shared folder is built once: the
    # builds race harmlessly to one atomic rename
    _on_main(env, lambda: cached_slices(records, cfg.image_size, cache_dir, key, str(cfg.data), progress), per_node=True)
    arrays = cached_slices(records, cfg.image_size, cache_dir, key, str(cfg.data), build=False)
    return {k: split_views(arrays, [index[c] for c in ids], in_memory=k != "train") for k, ids in split.items()}


def _on_main(env: D.DistEnv, fn, per_node: bool = False) -> None:
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
    failed = [m for m in D.gather_objects(env, message) if m]
    if failed:
        raise TumorsegError(failed[0])


def _preprocessing(cfg: TrainConfig) -> dict[str, Any]:
    return {"image_size": cfg.image_size, "in_channels": int(cfg.model_kwargs.get("in_channels", 1)), "scale": "x/255",
            "threshold": cfg.threshold, "intensity": cfg.intensity, **cfg.input_spec}


def _make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise TumorsegError(f"unknown optimizer '{cfg.optimizer}': use adam or adamw.")


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` → ``bf16`` on a CUDA GPU that supports it, else ``fp32``; ``fp16`` needs CUDA."""
    if name not in PRECISIONS:
        raise TumorsegError(f"unknown precision '{name}': use {', '.join(PRECISIONS)}.")
    if name == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise TumorsegError("--precision fp16 needs a CUDA GPU (its GradScaler is CUDA-only); use bf16 or fp32 on CPU.")
    return name


def resolve_workers(requested: int | None, device: torch.device, local_world: int) -> int:
    """DataLoader workers per process: as asked, else 0 on CPU (the cores are busy computing; items are
    cheap slices of an in-memory or mapped array) and up to 4 per GPU process without oversubscribing."""
    if requested is not None:
        return requested
    if device.type != "cuda":
        return 0
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(4, cores // max(1, local_world) - 1))


@dataclass
class TrainResult:
    """What :func:`train` returns: the run directory, this rank's model and the history."""

    out: Path
    model: torch.nn.Module
    history: list[dict[str, Any]] = field(default_factory=list)
    step_losses: dict[int, list[float]] = field(default_factory=dict)  # epoch -> global mean loss of each step
    stopped_early: bool = False


def fit(cfg: TrainConfig, progress: bool = True, resume: bool = False) -> Path:
    """Train ``cfg.model`` on ``cfg.data``; returns the run directory (``cfg.out``).

    Under ``torchrun`` this trains with DistributedDataParallel. With
    ``resume=True`` it continues from ``cfg.out/last.pt``.

    Raises:
        TrainingInterrupted: SIGINT/SIGTERM arrived; ``last.pt`` was written first.
    """
    return train(cfg, progress, resume).out


def resume(run_dir: str | Path, progress: bool = True) -> Path:
    """Continue the run in ``run_dir`` from its ``last.pt``, with the config it was started with."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise TumorsegError(f"{run_dir}: no config.json; --resume needs a run directory written by 'tumorseg train'.")
    cfg = TrainConfig.load(run_dir / "config.json")
    cfg.out = str(run_dir)
    return fit(cfg, progress=progress, resume=True)


def train(cfg: TrainConfig, progress: bool = True, resume: bool = False) -> TrainResult:
    """:func:`fit`, returning this process's model and history as well (tests, notebooks)."""
    env = D.setup(cfg.device)
    try:
        from tumorseg.training.loop import run

        result = run(cfg, env, progress=progress and env.is_main, resume=resume)
        # every rank waits for rank 0's final writes (calibration, test scores) before the group is torn down:
        # a rank destroying its Gloo group while a peer is still connected can abort in C++ at exit
        D.barrier(env)
        return result
    finally:
        env.close()


def finish(cfg: TrainConfig, out: Path, data: dict[str, SliceArrays], device: torch.device) -> None:
    """After training: calibrate post-processing on val (if asked) into best.pt, then score test with it."""
    from tumorseg.calibrate import calibrate
    from tumorseg.checkpoint import model_from_checkpoint
    from tumorseg.postprocess import settings

    ckpt = load_checkpoint(out / "best.pt")
    best = model_from_checkpoint(ckpt).to(device)
    post = settings(ckpt)
    if cfg.calibrate and len(data["val"]):
        found = calibrate(best, data["val"], device, cfg.batch_size)
        post = {k: found[k] for k in ("threshold", "tta", "min_component_px", "presence_prob", "presence_px")}
        ckpt["postprocess"] = post
        ckpt["metrics"] = {**ckpt.get("metrics", {}), "val_dice_calibrated": found["val_dice"],
                           "val_fp_rate_calibrated": found["val_fp_rate"], "val_detection_calibrated": found["val_detection"]}
        save_checkpoint(ckpt, out / "best.pt")
    if cfg.evaluate_test and len(data["test"]):
        rows, preds = score_arrays(best, data["test"], device, batch_size=cfg.batch_size, post=post)
        summary = write_results(rows, data["test"], preds, out / "test", extra={"checkpoint": "best.pt", "split": "test"})
        log.info("test: mean Dice %.4f, mean IoU %.4f (%d images)", summary["mean_dice"], summary["mean_iou"], summary["n_images"])


def write_history(history: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)


_write_history = write_history  # old name
