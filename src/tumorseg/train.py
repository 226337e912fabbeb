"""Training: ``fit(config) -> run directory``.

A run directory holds::

    config.json        the resolved TrainConfig
    split.json         case ids of train/val/test (grouped by patient when known)
    history.csv        epoch, train_loss, val_loss, val_dice, val_iou, lr, seconds
    loss_curve.png     train/val loss (and val Dice) per epoch
    grids/epoch_NNN.png  Image | Ground truth | Prediction on fixed val slices
    best.pt            lowest validation loss so far
    last.pt            end of the latest epoch, with optimizer state and history
    test/              metrics.json, per_case.csv, predictions.png of best.pt
"""

from __future__ import annotations

import csv
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from tumorseg.checkpoint import make_checkpoint, save_checkpoint
from tumorseg.config import TrainConfig
from tumorseg.data import load_slices, read_dataset, split_records
from tumorseg.data.dataset import SliceArrays, SliceDataset
from tumorseg.data.splits import save_split
from tumorseg.device import resolve_device
from tumorseg.errors import DataError, TumorsegError
from tumorseg.evaluate import score_arrays, write_results
from tumorseg.losses import build_loss
from tumorseg.models import build_model, input_stride, returns_logits
from tumorseg.plots import loss_curve, prediction_grid

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_run_dir(out: Path) -> None:
    """Fail now, not after an hour of training, if ``out`` cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"x" * 1024)
        probe.unlink()
    except OSError as exc:
        raise TumorsegError(f"{out}: cannot write the run directory ({exc.strerror}). Choose another --out.") from None


def prepare_data(cfg: TrainConfig, out: Path) -> dict[str, SliceArrays]:
    """Read, split (saving split.json) and decode the dataset into train/val/test arrays."""
    records = read_dataset(cfg.data, cfg.data_format)
    if cfg.max_slices:
        records = records[: cfg.max_slices]
    if cfg.split_file:
        from tumorseg.data.splits import load_split

        split = load_split(cfg.split_file)
        known = {r.case_id for r in records}
        unknown = [c for ids in split.values() for c in ids if c not in known]
        if unknown:
            raise DataError(f"{cfg.split_file}: case '{unknown[0]}' (and {len(unknown) - 1} more) not in {cfg.data}.")
    else:
        split = split_records(records, cfg.split_fractions, cfg.seed)
    grouped_by = "patient" if all(r.patient for r in records) else "slice"
    save_split(split, out / "split.json", grouped_by)
    for name in ("train", "val"):
        if not split[name]:
            raise DataError(f"{cfg.data}: too few slices/patients ({len(records)}) to make a '{name}' split.")
    arrays = load_slices(records, cfg.image_size)
    index = {r.case_id: i for i, r in enumerate(records)}
    log.info(
        "data: %d slices (%s-grouped split) → train %d, val %d, test %d",
        len(records), grouped_by, *(len(split[k]) for k in ("train", "val", "test")),
    )
    return {k: arrays.subset([index[c] for c in ids]) for k, ids in split.items()}


def _preprocessing(cfg: TrainConfig) -> dict[str, Any]:
    return {"image_size": cfg.image_size, "in_channels": 1, "scale": "x/255", "threshold": cfg.threshold}


def _make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise TumorsegError(f"unknown optimizer '{cfg.optimizer}': use adam or adamw.")


def fit(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train ``cfg.model`` on ``cfg.data``; returns the run directory (``cfg.out``)."""
    out = Path(cfg.out)
    check_run_dir(out)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    model = build_model(cfg.model, **cfg.model_kwargs)  # validates the name before reading data
    stride = input_stride(model)
    if cfg.image_size % stride:
        raise TumorsegError(
            f"--image-size {cfg.image_size} is not a multiple of {stride}, which {cfg.model} needs; "
            f"use {max(stride, round(cfg.image_size / stride) * stride)}."
        )
    cfg.save(out / "config.json")
    data = prepare_data(cfg, out)
    model.to(device)
    loss_fn = build_loss(cfg.loss, returns_logits(model))
    optimizer = _make_optimizer(cfg, model)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_loader = DataLoader(
        SliceDataset(data["train"]), batch_size=cfg.batch_size, shuffle=True, generator=gen,
        num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
    )
    val_loader = DataLoader(SliceDataset(data["val"]), batch_size=cfg.batch_size, shuffle=False)
    grid_idx = np.linspace(0, len(data["val"]) - 1, num=min(4, len(data["val"])), dtype=int)
    (out / "grids").mkdir(exist_ok=True)

    history: list[dict[str, Any]] = []
    best_val = float("inf")
    split_ids = {k: [r.case_id for r in v.records] for k, v in data.items()}
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.time()
        model.train()
        running, seen = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not progress, leave=False)
        for x, y in bar:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            running += loss.item() * len(x)
            seen += len(x)
            bar.set_postfix(loss=f"{running / seen:.4f}")
        train_loss = running / max(seen, 1)
        val_loss = _mean_loss(model, val_loader, loss_fn, device)
        rows, preds = score_arrays(model, data["val"], device, cfg.threshold, cfg.batch_size, distances=False)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_dice": float(np.mean([r["dice"] for r in rows])),
            "val_iou": float(np.mean([r["iou"] for r in rows])),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.time() - t0,
        }
        history.append(row)
        log.info(
            "epoch %d/%d  train loss %.4f  val loss %.4f  val Dice %.4f  (%.0f s)",
            epoch, cfg.epochs, train_loss, val_loss, row["val_dice"], row["seconds"],
        )
        _write_history(history, out / "history.csv")
        loss_curve(history, out / "loss_curve.png")
        if cfg.grid_every and (epoch % cfg.grid_every == 0 or epoch == cfg.epochs):
            v = data["val"]
            prediction_grid(
                v.images[grid_idx], v.masks[grid_idx], preds[grid_idx], out / "grids" / f"epoch_{epoch:03d}.png",
                titles=[f"{v.records[i].case_id}  Dice {rows[i]['dice']:.2f}" for i in grid_idx],
            )
        metrics = {k: row[k] for k in ("val_loss", "val_dice", "val_iou")} | {"epoch": epoch}
        common = dict(metrics=metrics, config=cfg.to_dict(), split=split_ids)
        if val_loss < best_val:
            best_val = val_loss
            save_checkpoint(make_checkpoint(cfg.model, cfg.model_kwargs, model, _preprocessing(cfg), **common), out / "best.pt")
        train_state = {"epoch": epoch, "optimizer": optimizer.state_dict(), "history": history, "best_val_loss": best_val}
        save_checkpoint(
            make_checkpoint(cfg.model, cfg.model_kwargs, model, _preprocessing(cfg), train_state=train_state, **common),
            out / "last.pt",
        )

    finish(cfg, out, data, device)
    return out


def finish(cfg: TrainConfig, out: Path, data: dict[str, SliceArrays], device: torch.device) -> None:
    """After training: calibrate post-processing on val (if asked) into best.pt, then score test with it."""
    from tumorseg.calibrate import calibrate
    from tumorseg.checkpoint import load_checkpoint, model_from_checkpoint
    from tumorseg.postprocess import settings

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


@torch.no_grad()
def _mean_loss(model: torch.nn.Module, loader: DataLoader, loss_fn, device: torch.device) -> float:
    model.eval()
    total, n = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        total += loss_fn(model(x), y).item() * len(x)
        n += len(x)
    model.train()
    return total / max(n, 1)


def _write_history(history: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
