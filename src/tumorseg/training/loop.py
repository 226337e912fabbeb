"""The epoch loop behind :func:`tumorseg.train.fit`: DDP, mixed precision, exact resume, clean stops.

``last.pt`` (written atomically at every epoch end, every
``checkpoint_every_steps`` steps, and on SIGINT/SIGTERM) holds, besides the
model: optimizer, LR scheduler and GradScaler states; the epoch and the steps
done inside the next one; the per-step losses of that partial epoch; every
rank's RNG states; the best-epoch tracker and the history. The data order
needs no state of its own (see :mod:`tumorseg.training.state`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from tumorseg import train as T
from tumorseg.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from tumorseg.config import TrainConfig
from tumorseg.data.dataset import SliceArrays, SliceDataset, channels_of
from tumorseg.errors import CheckpointError, TumorsegError
from tumorseg.evaluate import score_arrays
from tumorseg.losses import build_loss
from tumorseg.models import build_model, input_stride, returns_logits
from tumorseg.plots import loss_curve, prediction_grid
from tumorseg.training import distributed as D
from tumorseg.training.signals import StopRequest, TrainingInterrupted
from tumorseg.training.state import AugmentedItems, EpochSampler, Selector, build_scheduler, rng_state, set_rng_state

log = logging.getLogger("tumorseg.train")


def _load_resume_state(out: Path) -> dict[str, Any]:
    ckpt = load_checkpoint(out / "last.pt")
    ts = ckpt.get("train_state")
    if not isinstance(ts, dict) or ts.get("resume_format") != T.RESUME_FORMAT:
        raise CheckpointError(f"{out / 'last.pt'}: has no resume state of this tumorseg version; start a new run.")
    return ckpt


def run(cfg: TrainConfig, env: D.DistEnv, progress: bool, resume: bool) -> T.TrainResult:
    out = Path(cfg.out)
    last = _load_resume_state(out) if resume else None
    T.seed_everything(cfg.seed)
    device = env.device
    model = build_model(cfg.model, **cfg.model_kwargs)  # validates the name before reading data
    stride = input_stride(model)
    if cfg.image_size % stride:
        raise TumorsegError(f"--image-size {cfg.image_size} is not a multiple of {stride}, which {cfg.model} needs; "
                            f"use {max(stride, round(cfg.image_size / stride) * stride)}.")
    if cfg.batch_size % env.world_size:
        raise TumorsegError(f"--batch-size {cfg.batch_size} (the global batch) is not divisible by the "
                            f"{env.world_size} processes; use {max(1, cfg.batch_size // env.world_size) * env.world_size}.")
    precision = T.resolve_precision(cfg.precision, device)
    selector = Selector(cfg.select_metric, cfg.early_stop_patience)  # validates the metric name now
    transform = None
    if cfg.augment not in ("none", "", None):
        from tumorseg.data.transforms import build_transform

        transform = build_transform(cfg.augment, cfg.image_size)
    T._on_main(env, lambda: T.check_run_dir(out, T.space_needed(model)))
    per_rank = cfg.batch_size // env.world_size
    workers = T.resolve_workers(cfg.num_workers, device, env.local_world_size)
    cfg.runtime = {"world_size": env.world_size, "backend": env.backend, "device": device.type,
                   "per_process_batch_size": per_rank, "effective_batch_size": cfg.batch_size,
                   "effective_lr": cfg.lr, "precision": precision, "num_workers": workers,
                   "pin_memory": device.type == "cuda"}
    if env.is_main:
        cfg.save(out / "config.json")
    data = T.prepare_data(cfg, out, env, split_path=out / "split.json" if resume else None, progress=progress)
    channels = channels_of(data["train"].images)
    if channels != int(cfg.model_kwargs.get("in_channels", 1)):  # e.g. LGG --channels all: 3 input channels
        cfg.model_kwargs = {**cfg.model_kwargs, "in_channels": channels}
        model = build_model(cfg.model, **cfg.model_kwargs)
    if env.is_main:
        cfg.save(out / "config.json")
    if last is not None and last["train_state"].get("finished"):
        log.info("%s: training already finished; nothing to resume", out)
        if env.is_main and not (out / "test" / "metrics.json").exists():
            T.finish(cfg, out, data, device)
        model.load_state_dict(last["state_dict"])
        return T.TrainResult(out, model, list(last["train_state"]["history"]))

    if cfg.init_from and last is None:
        _init_weights(model, cfg.init_from)
    model.to(device)
    loss_fn = build_loss(cfg.loss, returns_logits(model))
    optimizer = T._make_optimizer(cfg, model)
    train_ds = AugmentedItems(SliceDataset(data["train"]), transform, cfg.seed)
    sampler = EpochSampler(train_ds, env.world_size, env.rank, cfg.seed)
    # own generator: creating an epoch's iterator then draws its worker seed from it, not from the global
    # RNG that dropout uses (else a run resumed mid-epoch would be one draw off)
    loader = DataLoader(train_ds, batch_size=per_rank, sampler=sampler, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(cfg.seed))
    steps_per_epoch = math.ceil(sampler.num_samples / per_rank)
    scheduler = build_scheduler(cfg.scheduler, optimizer, round(cfg.warmup_epochs * steps_per_epoch),
                                cfg.epochs * steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    amp = (torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
           if precision in ("bf16", "fp16") else contextlib.nullcontext())
    net: torch.nn.Module = model
    if env.distributed:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)

    history: list[dict[str, Any]] = []
    epoch_done, step_in_epoch, global_step = 0, 0, 0
    prefix = torch.zeros(0, 2, dtype=torch.float64)  # per-step (loss sum, n) of a resumed partial epoch, all ranks
    if last is not None:
        ts = last["train_state"]
        if ts["world_size"] != env.world_size and ts["step_in_epoch"]:
            raise TumorsegError(f"{out}/last.pt was written mid-epoch by {ts['world_size']} processes; resume it with "
                                f"the same number (now {env.world_size}).")
        model.load_state_dict(last["state_dict"])
        optimizer.load_state_dict(ts["optimizer"])
        if scheduler is not None and ts.get("scheduler"):
            scheduler.load_state_dict(ts["scheduler"])
        if ts.get("scaler"):
            scaler.load_state_dict(ts["scaler"])
        selector.load_state_dict(ts["selector"])
        history = list(ts["history"])
        epoch_done, step_in_epoch, global_step = ts["epoch"], ts["step_in_epoch"], ts["global_step"]
        if env.is_main and step_in_epoch:
            prefix = ts["epoch_step_losses"].double()
        rngs = ts["rng"]
        set_rng_state(rngs[env.rank] if len(rngs) == env.world_size else rngs[0])
        log.info("resuming %s after epoch %d, step %d", out, epoch_done, step_in_epoch)
    else:
        torch.manual_seed(cfg.seed + env.rank)  # ranks draw different dropout masks; rank 0 = single process

    grid_idx = np.linspace(0, len(data["val"]) - 1, num=min(4, len(data["val"])), dtype=int)
    if env.is_main:
        (out / "grids").mkdir(exist_ok=True)
    split_ids = {k: [r.case_id for r in v.records] for k, v in data.items()}
    result = T.TrainResult(out, model, history)

    def save_last(epoch: int, steps: int, step_losses: torch.Tensor, finished: bool = False) -> None:
        rngs = D.gather_objects(env, rng_state())  # collective: every rank calls save_last together
        if not env.is_main:
            return
        ts = {"resume_format": T.RESUME_FORMAT, "epoch": epoch, "step_in_epoch": steps, "global_step": global_step,
              "epoch_step_losses": step_losses, "optimizer": optimizer.state_dict(),
              "scheduler": scheduler.state_dict() if scheduler is not None else None,
              "scaler": scaler.state_dict(), "rng": rngs, "world_size": env.world_size,
              "selector": selector.state_dict(), "history": history, "finished": finished,
              "best_val_loss": min([h["val_loss"] for h in history], default=float("inf"))}
        save_checkpoint(make_checkpoint(cfg.model, cfg.model_kwargs, model, T._preprocessing(cfg), train_state=ts,
                                        config=cfg.to_dict(), split=split_ids,
                                        metrics=({k: history[-1][k] for k in ("epoch", "val_loss", "val_dice", "val_iou")}
                                                 if history else {})), out / "last.pt")

    def stop(stopper: StopRequest, epoch: int, steps: int) -> TrainingInterrupted:
        where = f"epoch {epoch}, step {steps}" if steps else f"the end of epoch {epoch}"
        return TrainingInterrupted(
            f"stopped by {stopper.name} at {where}; checkpoint written to {out / 'last.pt'}.\n"
            f"Resume with: tumorseg train --resume {out}"
            + (f"  (under the same torchrun --nproc_per_node {env.local_world_size} ...)" if env.distributed else ""),
            stopper.signum or 15)

    with StopRequest() as stopper:
        for epoch in range(epoch_done + 1, cfg.epochs + 1):
            t0 = time.time()
            skip = step_in_epoch if epoch == epoch_done + 1 else 0
            sampler.set_epoch(epoch, skip=skip * per_rank)
            local: list[tuple[float, int]] = []
            net.train()
            bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not progress, leave=False,
                       initial=skip, total=steps_per_epoch)
            for x, y in bar:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                with amp:
                    output = net(x)
                loss = loss_fn(output.float(), y)
                scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None:
                    scheduler.step()
                global_step += 1
                value = loss.item()
                local.append((value * len(x), len(x)))
                bar.set_postfix(loss=f"{value:.4f}")
                steps = skip + len(local)
                halt = D.any_rank(env, stopper.requested)
                every = cfg.checkpoint_every_steps
                if halt or (every and global_step % every == 0 and steps < steps_per_epoch):
                    save_last(epoch - 1, steps, _step_losses(env, prefix, local, skip))
                    if halt:
                        raise stop(stopper, epoch, steps)
            per_step = _step_losses(env, prefix, local, skip)  # (steps, 2): global loss sum and count per step
            prefix = torch.zeros(0, 2, dtype=torch.float64)
            step_in_epoch = 0
            result.step_losses[epoch] = (per_step[:, 0] / per_step[:, 1]).tolist()
            val = validate(model, data["val"], loss_fn, env, cfg)
            row = {"epoch": epoch, "train_loss": float(per_step[:, 0].sum() / per_step[:, 1].sum()), **val,
                   "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - t0}
            history.append(row)
            improved = selector.update(row)
            if env.is_main:
                log.info("epoch %d/%d  train loss %.4f  val loss %.4f  val Dice %.4f  (%.0f s)",
                         epoch, cfg.epochs, row["train_loss"], row["val_loss"], row["val_dice"], row["seconds"])
                T.write_history(history, out / "history.csv")
                loss_curve(history, out / "loss_curve.png")
                if cfg.grid_every and (epoch % cfg.grid_every == 0 or epoch == cfg.epochs):
                    _grid(model, data["val"], grid_idx, device, cfg, out / "grids" / f"epoch_{epoch:03d}.png")
                if improved:
                    metrics = {k: row[k] for k in ("val_loss", "val_dice", "val_iou")} | {"epoch": epoch}
                    save_checkpoint(make_checkpoint(cfg.model, cfg.model_kwargs, model, T._preprocessing(cfg),
                                                    metrics=metrics, config=cfg.to_dict(), split=split_ids),
                                    out / "best.pt")
            result.stopped_early = selector.should_stop
            finished = epoch == cfg.epochs or result.stopped_early
            save_last(epoch, 0, torch.zeros(0, 2, dtype=torch.float64), finished=finished)
            if D.any_rank(env, stopper.requested) and not finished:
                raise stop(stopper, epoch, 0)
            if result.stopped_early:
                log.info("early stop: %s has not improved for %d epochs (best %.4f at epoch %d)",
                         cfg.select_metric, cfg.early_stop_patience, selector.best_value, selector.best_epoch)
                break
    _check_ranks_agree(env, model)
    if env.is_main:
        T.finish(cfg, out, data, device)
    return result


def _init_weights(model: torch.nn.Module, path: str) -> None:
    """Load the weights of checkpoint ``path`` (``--init-from``; ``default`` = the bundled model) into ``model``.

    Raises:
        CheckpointError: the checkpoint's network differs from ``model`` (name the model/kwargs to use).
    """
    from tumorseg.checkpoint import resolve_checkpoint

    src = resolve_checkpoint(path)
    ckpt = load_checkpoint(src)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError:
        m = ckpt.get("model", {})
        raise CheckpointError(f"{src}: --init-from needs the same network; it holds {m.get('name')} "
                              f"{m.get('kwargs')}. Train with --model {m.get('name')} --model-kwargs "
                              f"'{json.dumps(m.get('kwargs', {}))}'.") from None
    log.info("initialised weights from %s", src)


def _step_losses(env: D.DistEnv, prefix: torch.Tensor, local: list[tuple[float, int]], skip: int) -> torch.Tensor:
    """Global per-step (loss sum, count) of the epoch so far: the resumed prefix (held by rank 0) + all-reduced new steps."""
    t = torch.zeros(skip + len(local), 2, dtype=torch.float64)
    if len(prefix):
        t[:skip] = prefix
    if local:
        t[skip:] = torch.tensor(local, dtype=torch.float64)
    return D.all_reduce_sum(env, t)


@torch.no_grad()
def validate(model: torch.nn.Module, val: SliceArrays, loss_fn, env: D.DistEnv, cfg: TrainConfig) -> dict[str, float]:
    """Val loss, mean per-image Dice and IoU; each rank scores every ``world_size``-th slice, sums are all-reduced."""
    shard = val.subset(list(range(env.rank, len(val), env.world_size))) if env.distributed else val
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)  # loss·n, n, Σ Dice, Σ IoU
    for x, y in DataLoader(SliceDataset(shard), batch_size=cfg.batch_size, shuffle=False):
        x, y = x.to(env.device), y.to(env.device)
        sums[0] += loss_fn(model(x), y).item() * len(x)
        sums[1] += len(x)
    if len(shard):
        rows, _ = score_arrays(model, shard, env.device, cfg.threshold, cfg.batch_size, distances=False)
        sums[2] += sum(r["dice"] for r in rows)
        sums[3] += sum(r["iou"] for r in rows)
    model.train()
    total = D.all_reduce_sum(env, sums)
    n = max(float(total[1]), 1.0)
    return {"val_loss": float(total[0]) / n, "val_dice": float(total[2]) / n, "val_iou": float(total[3]) / n}


def _grid(model, val: SliceArrays, idx: np.ndarray, device, cfg: TrainConfig, path: Path) -> None:
    part = val.subset(idx)
    rows, preds = score_arrays(model, part, device, cfg.threshold, cfg.batch_size, distances=False)
    prediction_grid(part.images, part.masks, preds, path,
                    titles=[f"{r.case_id}  Dice {row['dice']:.2f}" for r, row in zip(part.records, rows)])


def _check_ranks_agree(env: D.DistEnv, model: torch.nn.Module) -> None:
    """DDP keeps replicas identical; a cheap checksum catches a broken set-up (e.g. unsynchronised buffers)."""
    if not env.distributed:
        return
    sums = D.gather_objects(env, float(sum(p.detach().double().sum() for p in model.state_dict().values()
                                           if p.is_floating_point())))
    if len(set(sums)) > 1:
        log.warning("ranks ended with different weights (checksums %s)", sums)
