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

import logging
from pathlib import Path

import torch

from tumorseg.config import TrainConfig
from tumorseg.data import read_dataset, split_records
from tumorseg.data.checks import load_checked
from tumorseg.data.dataset import SliceArrays
from tumorseg.data.splits import grouped_by, load_split, save_split
from tumorseg.errors import DataError, TumorsegError
from tumorseg.evaluation.evaluate import score_arrays, write_results
from tumorseg.inference.calibrate import calibrate
from tumorseg.inference.postprocess import settings
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from tumorseg.training import distributed as D
from tumorseg.training.trainer import Trainer, TrainResult

log = logging.getLogger(__name__)


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
        split = load_split(split_path)
        known = {r.case_id for r in records}
        unknown = [c for ids in split.values() for c in ids if c not in known]
        if unknown:
            raise DataError(f"{split_path}: case '{unknown[0]}' (and {len(unknown) - 1} more) not in {cfg.data}.")
    else:
        split = split_records(records, cfg.split_fractions, cfg.seed)
    grouping = grouped_by(records)
    if env.is_main:
        save_split(split, out / "split.json", grouping)
    for name in ("train", "val"):
        if not split[name]:
            raise DataError(f"{cfg.data}: too few slices/patients ({len(records)}) to make a '{name}' split.")
    index = {r.case_id: i for i, r in enumerate(records)}
    log.info("data: %d slices (%s-grouped split) → train %d, val %d, test %d",
             len(records), grouping, *(len(split[k]) for k in ("train", "val", "test")))
    if cfg.cache is None:
        arrays = load_checked(records, cfg.image_size, str(cfg.data), progress=progress)  # stops with check-data's report
        return {k: arrays.subset([index[c] for c in ids]) for k, ids in split.items()}
    from tumorseg.data.cache import cached_slices, resolve_cache_dir, split_views

    cache_dir, key = resolve_cache_dir(cfg.cache), {"format": cfg.data_format, "options": cfg.data_options}
    # every node builds its own entry (a cache folder on node-local disk); a shared folder is built once: the
    # builds race harmlessly to one atomic rename
    D.on_main(env, lambda: cached_slices(records, cfg.image_size, cache_dir, key, str(cfg.data), progress), per_node=True)
    arrays = cached_slices(records, cfg.image_size, cache_dir, key, str(cfg.data), build=False)
    return {k: split_views(arrays, [index[c] for c in ids], in_memory=k != "train") for k, ids in split.items()}


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
    progress = progress and env.is_main
    try:
        trainer = Trainer(cfg, env, resume=resume, progress=progress)
        out = trainer.out
        data = prepare_data(cfg, out, env, split_path=out / "split.json" if resume else None, progress=progress)
        trainer.setup(data)
        if trainer.finished:
            log.info("%s: training already finished; nothing to resume", out)
            if env.is_main and not (out / "test" / "metrics.json").exists():
                finish(trainer.cfg, out, data, env.device)
            result = trainer.result()
        else:
            result = trainer.run()
            if env.is_main:
                finish(trainer.cfg, out, data, env.device)
        # every rank waits for rank 0's final writes (calibration, test scores) before the group is torn down:
        # a rank destroying its Gloo group while a peer is still connected can abort in C++ at exit
        D.barrier(env)
        return result
    finally:
        env.close()


def finish(cfg: TrainConfig, out: Path, data: dict[str, SliceArrays], device: torch.device) -> None:
    """After training: calibrate post-processing on val (if asked) into best.pt, then score test with it."""
    ckpt = load_checkpoint(out / "best.pt")
    best = model_from_checkpoint(ckpt).to(device)
    post = settings(ckpt)
    if cfg.calibrate and len(data["val"]):
        found = calibrate(best, data["val"], device, cfg.batch_size)
        post = {k: found[k] for k in ("threshold", "tta", "min_component_px")}
        ckpt["postprocess"] = post
        ckpt["metrics"] = {**ckpt.get("metrics", {}), "val_dice_calibrated": found["val_dice"]}
        save_checkpoint(ckpt, out / "best.pt")
    if cfg.evaluate_test and len(data["test"]):
        rows, preds = score_arrays(best, data["test"], device, batch_size=cfg.batch_size, post=post)
        summary = write_results(rows, data["test"], preds, out / "test", extra={"checkpoint": "best.pt", "split": "test"})
        log.info("test: mean Dice %.4f, mean IoU %.4f (%d images)", summary["mean_dice"], summary["mean_iou"], summary["n_images"])
