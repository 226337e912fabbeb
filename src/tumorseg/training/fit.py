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
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from tumorseg.config import TrainConfig
from tumorseg.data import read_dataset, split_records
from tumorseg.data.checks import load_checked
from tumorseg.data.context import with_context
from tumorseg.data.dataset import SliceArrays
from tumorseg.data.splits import grouped_by, load_split, save_split
from tumorseg.errors import DataError, TumorsegError
from tumorseg.evaluation.evaluate import score_arrays, write_results
from tumorseg.inference.calibrate import calibrate
from tumorseg.inference.field_of_view import FOV_MM, volume_windows
from tumorseg.inference.postprocess import DEFAULTS as POSTPROCESS_DEFAULTS, settings
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from tumorseg.training import distributed as D
from tumorseg.training import rundir
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
    for name in ("train", "val"):
        if not split[name]:
            raise DataError(f"{cfg.data}: too few slices/patients ({len(records)}) to make a '{name}' split.")
    index = {r.case_id: i for i, r in enumerate(records)}
    log.info("data: %d slices (%s-grouped split) → train %d, val %d, test %d",
             len(records), grouping, *(len(split[k]) for k in ("train", "val", "test")))
    window_of = volume_windows()  # volumes at the field of view predict gives them (none for 2-D slices)
    if cfg.cache is None:
        arrays = load_checked(records, cfg.image_size, str(cfg.data), progress=progress, intensity=cfg.intensity,
                              window_of=window_of)  # stops with check-data's report
        arrays = with_context(arrays, cfg.context_slices)  # whole patients per split: same stacks as per part
        data = {k: arrays.subset([index[c] for c in ids]) for k, ids in split.items()}
    else:
        from tumorseg.data.cache import cached_slices, resolve_cache_dir, split_views

        cache_dir, key = resolve_cache_dir(cfg.cache), {"format": cfg.data_format, "options": cfg.data_options,
                                                         "intensity": cfg.intensity, "field_of_view_mm": FOV_MM}
        # every node builds its own entry (a cache folder on node-local disk); a shared folder is built once: the
        # builds race harmlessly to one atomic rename
        D.on_main(env, lambda: cached_slices(records, cfg.image_size, cache_dir, key, str(cfg.data), progress,
                                             window_of=window_of), per_node=True)
        arrays = cached_slices(records, cfg.image_size, cache_dir, key, str(cfg.data), build=False)
        data = {k: split_views(arrays, [index[c] for c in ids], in_memory=k != "train") for k, ids in split.items()}
        if cfg.context_slices:  # the stacks are made in memory (2k + 1 times the slices)
            data = {k: with_context(v, cfg.context_slices) for k, v in data.items()}
    if env.is_main:  # written only now that the data is known to be good
        save_split(split, out / "split.json", grouping)
    return data


def fit(cfg: TrainConfig, progress: bool = True, resume: bool = False, overwrite: bool = False) -> Path:
    """Train ``cfg.model`` on ``cfg.data``; returns the run directory (``cfg.out``).

    Under ``torchrun`` this trains with DistributedDataParallel. With
    ``resume=True`` it continues from ``cfg.out/last.pt``. A new run refuses
    an ``out`` that already holds one unless ``overwrite`` (see
    :mod:`tumorseg.training.rundir`); nothing is written into ``out`` before
    the data is read and checked, and a run that fails before its first
    ``last.pt`` leaves nothing behind.

    Raises:
        TumorsegError: ``out`` holds a run (without ``overwrite``), bad options or data.
        TrainingInterrupted: SIGINT/SIGTERM arrived; ``last.pt`` was written first.
    """
    return train(cfg, progress, resume, overwrite).out


def resume(run_dir: str | Path, progress: bool = True) -> Path:
    """Continue the run in ``run_dir`` from its ``last.pt``, with the config it was started with."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise TumorsegError(f"{run_dir}: no config.json; --resume needs a run directory written by 'tumorseg train'.")
    if not (run_dir / "last.pt").is_file():
        raise TumorsegError(f"{run_dir}: has no last.pt (the run stopped before its first checkpoint), so there is "
                            f"nothing to resume; start it again with 'tumorseg train --out {run_dir} --overwrite ...'.")
    cfg = TrainConfig.load(run_dir / "config.json")
    cfg.out = str(run_dir)
    return fit(cfg, progress=progress, resume=True)


def recalibrate(run_dir: str | Path, max_fp_rate: float | None = None, progress: bool = True,
                objective: str | None = None) -> dict[str, Any]:
    """Choose the post-processing of ``run_dir/best.pt`` again on the run's own val split (no retraining), e.g.
    for another operating point (``max_fp_rate``) or ``objective`` (``"slice-dice"``/``"volume-dice"``), then
    re-score its test split. Returns the new settings (stored in ``best.pt``).

    Raises:
        TumorsegError: ``run_dir`` is not a finished run (no config.json/split.json/best.pt).
    """
    run_dir = Path(run_dir)
    missing = [f for f in ("config.json", "split.json", "best.pt") if not (run_dir / f).is_file()]
    if missing:
        raise TumorsegError(f"{run_dir}: no {missing[0]}; calibrate needs a run directory that 'tumorseg train' "
                            "finished.")
    cfg = TrainConfig.load(run_dir / "config.json")
    cfg = replace(cfg, out=str(run_dir), calibrate=True,
                  max_fp_rate=cfg.max_fp_rate if max_fp_rate is None else max_fp_rate,
                  calibrate_objective=cfg.calibrate_objective if objective is None else objective)
    if not 0 <= cfg.max_fp_rate <= 1:
        raise TumorsegError(f"--max-fp-rate {cfg.max_fp_rate}: give a fraction between 0 and 1 (e.g. 0.05).")
    from tumorseg.device import resolve_device

    device = resolve_device(cfg.device)
    data = prepare_data(cfg, run_dir, split_path=run_dir / "split.json", progress=progress)
    finish(cfg, run_dir, data, device, progress)
    return settings(load_checkpoint(run_dir / "best.pt"))


def train(cfg: TrainConfig, progress: bool = True, resume: bool = False, overwrite: bool = False) -> TrainResult:
    """:func:`fit`, returning this process's model and history as well (tests, notebooks)."""
    env = D.setup(cfg.device)
    progress = progress and env.is_main
    try:
        if not resume:
            D.on_main(env, lambda: rundir.claim(cfg.out, overwrite))
        with rundir.cleanup_on_failure(cfg.out, enabled=env.is_main and not resume):
            return _train(cfg, env, progress, resume)
    finally:
        env.close()


def _train(cfg: TrainConfig, env: D.DistEnv, progress: bool, resume: bool) -> TrainResult:
    """Read and check the data, then train (or finish a finished run); the body of :func:`train`."""
    trainer = Trainer(cfg, env, resume=resume, progress=progress)
    out = trainer.out
    data = prepare_data(cfg, out, env, split_path=out / "split.json" if resume else None, progress=progress)
    trainer.setup(data)
    if trainer.finished:
        log.info("%s: training already finished; nothing to resume", out)
        if env.is_main and not (out / "test" / "metrics.json").exists():
            finish(trainer.cfg, out, data, env.device, progress)
        result = trainer.result()
    else:
        result = trainer.run()
        if env.is_main:
            finish(trainer.cfg, out, data, env.device, progress)
    # every rank waits for rank 0's final writes (calibration, test scores) before the group is torn down:
    # a rank destroying its Gloo group while a peer is still connected can abort in C++ at exit
    D.barrier(env)
    return result


def finish(cfg: TrainConfig, out: Path, data: dict[str, SliceArrays], device: torch.device,
           progress: bool = False) -> None:
    """After training: calibrate post-processing on val (if asked) into best.pt, then score test with it;
    ``progress``: a bar over the calibration's steps."""
    ckpt = load_checkpoint(out / "best.pt")
    best = model_from_checkpoint(ckpt).to(device)
    post = settings(ckpt)
    if cfg.calibrate and len(data["val"]):
        found = calibrate(best, data["val"], device, cfg.batch_size, max_fp_rate=cfg.max_fp_rate,
                          objective=cfg.calibrate_objective, progress=progress)
        post = {k: found[k] for k in POSTPROCESS_DEFAULTS}  # the settings, not the val scores
        ckpt["postprocess"] = post
        ckpt["metrics"] = {**ckpt.get("metrics", {}), "val_dice_calibrated": found["val_dice"],
                           "val_fp_rate_calibrated": found["val_fp_rate"], "val_detection_calibrated": found["val_detection"],
                           "calibrate_objective": found["objective"],
                           **({"val_volume_dice_calibrated": found["val_volume_dice"]} if "val_volume_dice" in found else {})}
        save_checkpoint(ckpt, out / "best.pt")
    if cfg.evaluate_test and len(data["test"]):
        rows, preds = score_arrays(best, data["test"], device, batch_size=cfg.batch_size, post=post)
        summary = write_results(rows, data["test"], preds, out / "test", extra={"checkpoint": "best.pt", "split": "test"})
        log.info("test: mean Dice %.4f, mean IoU %.4f (%d images)", summary["mean_dice"], summary["mean_iou"], summary["n_images"])
