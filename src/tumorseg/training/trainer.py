"""The :class:`Trainer` behind :func:`tumorseg.training.fit.fit`: DDP, mixed precision, exact resume, clean stops.

``last.pt`` (written atomically at every epoch end, every
``checkpoint_every_steps`` steps, and on SIGINT/SIGTERM) holds, besides the
model: optimizer, LR scheduler and GradScaler states; the epoch and the steps
done inside the next one; the per-step losses of that partial epoch; every
rank's RNG states; the best-epoch tracker and the history. The data order
needs no state of its own (see :mod:`tumorseg.training.state`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from tumorseg.config import TrainConfig
from tumorseg.data.augment import augment_params
from tumorseg.data.context import centre_slices
from tumorseg.data.dataset import SliceArrays, SliceDataset, channels_of
from tumorseg.data.formats import describe_records
from tumorseg.data.input_stats import training_stats
from tumorseg.errors import CheckpointError, TumorsegError
from tumorseg.evaluation.evaluate import score_arrays
from tumorseg.evaluation.metrics import dice_iou_tensors
from tumorseg.evaluation.plots import loss_curve, prediction_grid
from tumorseg.models import build_model, input_stride, returns_logits, to_probabilities
from tumorseg.models.checkpoint import load_checkpoint, make_checkpoint, resolve_checkpoint, save_checkpoint
from tumorseg.training import distributed as D
from tumorseg.training.device_data import DeviceBatches, StepLosses, check_data_path, sequential_batches
from tumorseg.training.distill import DistillLoss, Teacher, check_student, load_teacher
from tumorseg.training.losses import build_loss
from tumorseg.training.signals import StopRequest, TrainingInterrupted
from tumorseg.training.state import AugmentedItems, EpochSampler, Selector, build_scheduler, rng_state, set_rng_state

log = logging.getLogger(__name__)

RESUME_FORMAT = 2  # layout of ``train_state`` in last.pt
PLAN_AFTER_EPOCH = 2  # --time-budget plans from this epoch's time (epoch 1 also pays for start-up)
LOG_EVERY = 25  # steps between reads of the loss (progress bar) and, under DDP on the device path, stop checks
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_run_dir(out: Path, need_bytes: int = 0) -> None:
    """Fail now, not after an hour of training, if ``out`` cannot be written or lacks ``need_bytes`` free
    (creates nothing: see :func:`tumorseg.training.rundir.check_writable`)."""
    from tumorseg.training.rundir import check_writable

    check_writable(out, need_bytes)


def space_needed(model: torch.nn.Module) -> int:
    """Bytes a run needs: best + last (weights + Adam moments) + one temporary copy of each, plus plots."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return 8 * weights + 64 * 2**20


def _preprocessing(cfg: TrainConfig) -> dict[str, Any]:
    return {"image_size": cfg.image_size, "in_channels": int(cfg.model_kwargs.get("in_channels", 1)), "scale": "x/255",
            "threshold": cfg.threshold, "intensity": cfg.intensity, "context_slices": cfg.context_slices,
            **cfg.input_spec}


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
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(4, cores // max(1, local_world) - 1))


@dataclass
class TrainResult:
    """What :func:`tumorseg.training.fit.train` returns: the run directory, this rank's model and the history."""

    out: Path
    model: torch.nn.Module
    history: list[dict[str, Any]] = field(default_factory=list)
    step_losses: dict[int, list[float]] = field(default_factory=dict)  # epoch -> global mean loss of each step
    stopped_early: bool = False


def inflate_input_channels(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``source`` weights made to fit a network that takes more input channels: every 4-D convolution weight
    ``(O, C_src, k, k)`` whose target is ``(O, C, k, k)`` with ``C`` a multiple of ``C_src`` is repeated over the
    new channels and scaled by ``C_src / C`` (so a slice given in all ``C`` channels gives the same output as
    before). Everything else is returned unchanged, so any other mismatch still fails in ``load_state_dict``.
    """
    out = dict(source)
    for key, w in source.items():
        t = target.get(key)
        if (t is not None and w.ndim == 4 and t.ndim == 4 and w.shape[0] == t.shape[0] and w.shape[2:] == t.shape[2:]
                and t.shape[1] != w.shape[1] and t.shape[1] % w.shape[1] == 0):
            reps = t.shape[1] // w.shape[1]
            out[key] = w.repeat(1, reps, 1, 1) / reps
            log.info("--init-from: %s inflated from %d to %d input channels", key, w.shape[1], t.shape[1])
    return out


def init_weights(model: torch.nn.Module, path: str) -> None:
    """Load the weights of checkpoint ``path`` (``--init-from``; ``default`` = the bundled model) into ``model``.
    A one-channel checkpoint can start a multi-channel network (:func:`inflate_input_channels`), e.g. the ``t1c``
    model starting the 3-channel LGG network.

    Raises:
        CheckpointError: the checkpoint's network differs from ``model`` (the message names the model and
            kwargs to train with).
    """
    src = resolve_checkpoint(path)
    ckpt = load_checkpoint(src)
    try:
        model.load_state_dict(inflate_input_channels(ckpt["state_dict"], model.state_dict()))
    except RuntimeError:
        m = ckpt.get("model", {})
        raise CheckpointError(f"{src}: --init-from needs the same network; it holds {m.get('name')} "
                              f"{m.get('kwargs')}. Train with --model {m.get('name')} --model-kwargs "
                              f"'{json.dumps(m.get('kwargs', {}))}'.") from None
    log.info("initialised weights from %s", src)


def ema_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model's ``state_dict`` held in an :class:`~torch.optim.swa_utils.AveragedModel`'s (its ``module.``
    entries; ``n_averaged`` dropped)."""
    return {k[len("module."):]: v for k, v in state.items() if k.startswith("module.")}


def write_history(history: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)


def load_resume_state(out: Path) -> dict[str, Any]:
    """``out/last.pt``, refused unless it holds a resume state this version can continue."""
    ckpt = load_checkpoint(out / "last.pt")
    ts = ckpt.get("train_state")
    if not isinstance(ts, dict) or ts.get("resume_format") != RESUME_FORMAT:
        raise CheckpointError(f"{out / 'last.pt'}: has no resume state of this tumorseg version; start a new run.")
    return ckpt


# models assembled from trained checkpoints, and how
BUILT_FROM_CHECKPOINTS = {
    "gated-unet": "train a 'unet', then add the presence gate with scripts/train_presence_gate.py --unet RUN/best.pt.",
    "ensemble": "train its members, then combine them with 'tumorseg ensemble A.pt B.pt ... --out ENS.pt'.",
}


class Trainer:
    """One training run: a short loop over named steps, with every piece of state on the object.

    What :func:`tumorseg.training.fit.train` does with it::

        trainer = Trainer(cfg, env, resume)     # checks that need no data: model name, sizes, run directory
        trainer.setup(prepare_data(...))        # network for the data's channels, config.json, optimizer, loader
        trainer.run()                           # per epoch: train_epoch -> validate -> on_epoch_end

    :meth:`save` writes ``last.pt`` with everything an exact resume needs and
    :meth:`restore` reads it back: a resume is ``restore`` plus the same loop.
    Under torchrun every rank holds a Trainer; :meth:`save`, :meth:`validate`
    and the stop checks are collective (all ranks call them together).
    """

    def __init__(self, cfg: TrainConfig, env: D.DistEnv, resume: bool = False, progress: bool = True):
        self.cfg, self.env, self.device, self.progress = cfg, env, env.device, progress
        self.started = time.time()  # --time-budget counts from here (data reading included)
        self.out = Path(cfg.out)
        self.last = load_resume_state(self.out) if resume else None  # refuse a bad last.pt before reading data
        seed_everything(cfg.seed)
        if cfg.model in BUILT_FROM_CHECKPOINTS:
            raise TumorsegError(f"--model {cfg.model} is not trained directly: {BUILT_FROM_CHECKPOINTS[cfg.model]}")
        self.model = build_model(cfg.model, **cfg.model_kwargs)  # validates the name before reading data
        stride = input_stride(self.model)
        if cfg.image_size % stride:
            raise TumorsegError(f"--image-size {cfg.image_size} is not a multiple of {stride}, which {cfg.model} needs; "
                                f"use {max(stride, round(cfg.image_size / stride) * stride)}.")
        instance_norm = any(isinstance(m, torch.nn.modules.instancenorm._InstanceNorm) for m in self.model.modules())
        if instance_norm and cfg.image_size // stride < 2:  # instance norm needs more than one value per channel
            raise TumorsegError(f"--image-size {cfg.image_size} leaves 1×1 pixel at the deepest level of {cfg.model} "
                                f"{cfg.model_kwargs}; use at least {2 * stride} or fewer levels.")
        if cfg.batch_size % env.world_size:
            raise TumorsegError(f"--batch-size {cfg.batch_size} (the global batch) is not divisible by the "
                                f"{env.world_size} processes; use {max(1, cfg.batch_size // env.world_size) * env.world_size}.")
        self.precision = resolve_precision(cfg.precision, self.device)
        if not 0.0 <= cfg.ema_decay < 1.0:
            raise TumorsegError(f"--ema {cfg.ema_decay}: give a decay between 0 (off) and 1 (e.g. 0.99).")
        self.ema: AveragedModel | None = None  # the weights' moving average (setup), when cfg.ema_decay > 0
        self.selector = Selector(cfg.select_metric, cfg.early_stop_patience)  # validates the metric name now
        self.on_device = check_data_path(cfg.data_path) == "device"
        from tumorseg.data.transforms import build_transform

        self.transform = build_transform(cfg.augment, cfg.image_size)  # validates the name; None for "none"
        if cfg.context_slices and cfg.context_dropout:  # some stacks of neighbouring slices seen as one slice
            from tumorseg.data.context import ContextDropout

            if not 0 <= cfg.context_dropout <= 1:
                raise TumorsegError(f"--context-dropout {cfg.context_dropout}: give a fraction between 0 and 1.")
            self.transform = ContextDropout(self.transform, cfg.context_dropout)
        D.on_main(env, lambda: check_run_dir(self.out, space_needed(self.model)))
        self.per_rank = cfg.batch_size // env.world_size
        self.workers = 0 if self.on_device else resolve_workers(cfg.num_workers, self.device, env.local_world_size)
        # progress, set by setup/restore and the loop
        self.history: list[dict[str, Any]] = []
        self.step_in_epoch = 0  # steps of the next epoch already done (a run resumed mid-epoch)
        self.global_step = 0
        self.epoch_done = 0
        self.prefix = torch.zeros(0, 2, dtype=torch.float64)  # per-step (loss sum, n) of a resumed partial epoch
        self.step_losses: dict[int, list[float]] = {}
        self.stopped_early = False
        self.finished = False
        self.stopper: StopRequest | None = None

    # -- set-up ---------------------------------------------------------------------------------------------

    def setup(self, data: dict[str, SliceArrays]) -> None:
        """Complete the config from the data and the machine (written once, as ``config.json``), then build
        everything the loop needs, and :meth:`restore` a resumed run. A resumed run that had finished gets
        only its weights back (``finished`` is then True and :meth:`run` has nothing to do)."""
        cfg, env = self.cfg, self.env
        self.data = data
        kwargs = dict(cfg.model_kwargs)
        channels = channels_of(data["train"].images)
        if channels != int(kwargs.get("in_channels", 1)):  # e.g. LGG --channels all: 3 input channels
            kwargs["in_channels"] = channels
            self.model = build_model(cfg.model, **kwargs)
        self.cfg = cfg = replace(
            cfg, model_kwargs=kwargs,
            input_spec={**describe_records(data["train"].records),  # + brightness stats: predict warns when far off
                        "input_stats": training_stats(centre_slices(data["train"].images, cfg.context_slices))},
            runtime={"world_size": env.world_size, "backend": env.backend, "device": self.device.type,
                     "per_process_batch_size": self.per_rank, "effective_batch_size": cfg.batch_size,
                     "effective_lr": cfg.lr, "precision": self.precision, "num_workers": self.workers,
                     "pin_memory": self.device.type == "cuda" and not self.on_device, "data_path": cfg.data_path,
                     # a resumed run keeps the epochs its time budget planned
                     **{k: cfg.runtime[k] for k in ("time_budget",) if k in cfg.runtime}})
        if env.is_main:  # the first file of the run: the data has been read and checked by now
            self.out.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out / "config.json")
        self.split_ids = {k: [r.case_id for r in v.records] for k, v in data.items()}
        # who each case id belongs to, so evaluate can tell this dataset's slices from another's with the same names
        self.split_patients = {r.case_id: r.patient for v in data.values() for r in v.records if r.patient}
        if self.last is not None and self.last["train_state"].get("finished"):
            ema = self.last["train_state"].get("ema") if cfg.ema_decay else None  # what the run validated and shipped
            self.model.load_state_dict(ema_weights(ema) if ema else self.last["state_dict"])
            self.history = list(self.last["train_state"]["history"])
            self.finished = True
            return

        self.model.to(self.device)
        if cfg.ema_decay:  # a copy of the weights; its first update copies them (after --init-from or a resume)
            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
        self.loss_fn = build_loss(cfg.loss, returns_logits(self.model))
        self.teacher: Teacher | None = None
        if cfg.teacher:  # distillation: the teacher's probabilities are a second target
            check_student(self.model)
            self.teacher = load_teacher(cfg.teacher, _preprocessing(cfg), self.device, self.split_ids.get("test", []))
            self.distill = DistillLoss(self.loss_fn, cfg.distill_weight, tumour_only=cfg.distill_on == "tumour")
            log.info("distilling from %s (weight %.2f, on %s images)", cfg.teacher, cfg.distill_weight,
                     "tumour" if cfg.distill_on == "tumour" else "all")
        self.optimizer = _make_optimizer(cfg, self.model)
        if self.on_device:  # batches made and augmented on the device; it is its own sampler
            self.loader = self.sampler = DeviceBatches(
                data["train"], self.device, self.per_rank, cfg.seed, augment_params(cfg.augment),
                env.world_size, env.rank, channels_last=self.device.type == "cuda",
                context_dropout=cfg.context_dropout if cfg.context_slices else 0.0)
        else:
            train_ds = AugmentedItems(SliceDataset(data["train"]), self.transform, cfg.seed)
            self.sampler = EpochSampler(train_ds, env.world_size, env.rank, cfg.seed)
            # own generator: creating an epoch's iterator then draws its worker seed from it, not from the global
            # RNG that dropout uses (else a run resumed mid-epoch would be one draw off)
            self.loader = DataLoader(train_ds, batch_size=self.per_rank, sampler=self.sampler,
                                     num_workers=self.workers, pin_memory=self.device.type == "cuda",
                                     persistent_workers=self.workers > 0, generator=torch.Generator().manual_seed(cfg.seed))
        self.steps_per_epoch = math.ceil(self.sampler.num_samples / self.per_rank)
        self.scheduler = build_scheduler(cfg.scheduler, self.optimizer, round(cfg.warmup_epochs * self.steps_per_epoch),
                                         cfg.epochs * self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        self.amp = (torch.autocast(self.device.type, dtype=torch.bfloat16 if self.precision == "bf16" else torch.float16)
                    if self.precision in ("bf16", "fp16") else contextlib.nullcontext())
        self.net: torch.nn.Module = self.model
        if env.distributed:
            self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if cfg.compile:
            self.net = torch.compile(self.net)
        if self.last is not None:
            self.restore(self.last)
        else:
            if cfg.init_from:
                init_weights(self.model, cfg.init_from)
            torch.manual_seed(cfg.seed + env.rank)  # ranks draw different dropout masks; rank 0 = single process
        val = data["val"]
        self.grid_idx = np.linspace(0, len(val) - 1, num=min(4, len(val)), dtype=int)
        if env.is_main:
            (self.out / "grids").mkdir(exist_ok=True)

    # -- the loop -------------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train the epochs not yet done; stops early when the selector says so."""
        with StopRequest() as self.stopper:
            for epoch in range(self.epoch_done + 1, self.cfg.epochs + 1):
                if self.finished:
                    break
                t0, skipped = time.time(), self.step_in_epoch
                per_step = self.train_epoch(epoch)  # (steps, 2): global loss sum and count of each step
                self.step_losses[epoch] = (per_step[:, 0] / per_step[:, 1]).tolist()
                row = {"epoch": epoch, "train_loss": float(per_step[:, 0].sum() / per_step[:, 1].sum()),
                       **self.validate(), "lr": self.optimizer.param_groups[0]["lr"], "seconds": time.time() - t0}
                if self.cfg.time_budget_s and "time_budget" not in self.cfg.runtime:
                    self.plan_epochs(epoch, row["seconds"] * self.steps_per_epoch / max(1, self.steps_per_epoch - skipped))
                self.on_epoch_end(epoch, row)
        self._check_ranks_agree()
        return self.result()

    def plan_epochs(self, epoch: int, epoch_s: float) -> int | None:
        """Fit the run into ``cfg.time_budget_s``, given that ``epoch`` just ended and took ``epoch_s`` seconds.

        The plan is made once, at the end of epoch :data:`PLAN_AFTER_EPOCH` (the first epoch also pays for
        start-up: on a shared H200 it took 3–8 times a later one), or at the end of epoch 1 when the budget is
        already spent (the run then stops there). It is ``epoch + floor(0.95 × time left / epoch_s)`` epochs, at
        most ``cfg.epochs`` (under DDP every rank plans from the slowest one). The LR schedule is rebuilt over
        the planned epochs with the learning rate of the next step unchanged (with the default 2 warm-up epochs
        the plan comes exactly where the cosine begins; with a shorter warm-up the cosine's position shifts,
        a small step in the learning rate). The plan goes to ``config.json`` (``runtime.time_budget``), which a
        resumed run keeps (a run stopped before its plan counts its budget again from the resume). Returns the
        planned epochs, or ``None`` when it is too early to plan.
        """
        cfg, env = self.cfg, self.env
        measured = D.gather_objects(env, (cfg.time_budget_s - (time.time() - self.started), epoch_s))
        left, epoch_s = min(m[0] for m in measured), max(m[1] for m in measured)
        if epoch < min(PLAN_AFTER_EPOCH, cfg.epochs) and left > 0:
            return None
        planned = min(cfg.epochs, epoch + math.floor(0.95 * max(left, 0.0) / max(epoch_s, 1e-6)))
        plan = {"budget_s": cfg.time_budget_s, "planned_after_epoch": epoch, "epoch_s": round(epoch_s, 2),
                "left_s": round(left, 1), "epochs_asked": cfg.epochs, "epochs_planned": planned}
        self.cfg = replace(cfg, epochs=planned, runtime={**cfg.runtime, "time_budget": plan})
        if self.scheduler is not None and planned != cfg.epochs:
            lrs, state = [g["lr"] for g in self.optimizer.param_groups], self.scheduler.state_dict()
            self.scheduler = build_scheduler(cfg.scheduler, self.optimizer,
                                             round(cfg.warmup_epochs * self.steps_per_epoch),
                                             planned * self.steps_per_epoch)
            self.scheduler.load_state_dict(state)
            for g, lr in zip(self.optimizer.param_groups, lrs):
                g["lr"] = lr
        if env.is_main:
            self.cfg.save(self.out / "config.json")
            log.info("time budget %.0f s: epoch %d took %.1f s with %.0f s left, so %d of at most %d epochs",
                     cfg.time_budget_s, epoch, epoch_s, left, planned, cfg.epochs)
        return planned

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimizer step on a batch ``x (B, C, S, S)``, ``y (B, 1, S, S)``; returns its mean loss as a 0-d
        tensor on the device (reading it is a host sync: the loop does so only every ``LOG_EVERY`` steps)."""
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with self.amp:
            output = self.net(x)
            soft = self.teacher(x) if self.teacher is not None else None
        loss = self.loss_fn(output.float(), y) if soft is None else self.distill(output.float(), y, soft.float())
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.global_step += 1
        return loss.detach()

    def train_epoch(self, epoch: int) -> torch.Tensor:
        """The training steps of ``epoch`` (the rest of them for a run resumed mid-epoch), checkpointing every
        ``checkpoint_every_steps`` and on a stop request. Returns the global ``(steps, 2)`` (loss sum, count)
        of every step of the epoch."""
        cfg, env = self.cfg, self.env
        skip = self.step_in_epoch
        self.sampler.set_epoch(epoch, skip=skip * self.per_rank)
        local = StepLosses(self.steps_per_epoch - skip, self.device)  # on the device: no host sync per step
        self.net.train()
        bar = tqdm(self.loader, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not self.progress,
                   leave=False, initial=skip, total=self.steps_per_epoch)
        # stop requests are checked every step; under DDP that is an all-reduce, so the device path does it
        # every LOG_EVERY steps (a stop then comes a few steps later; the checkpoint says where)
        check_every = LOG_EVERY if self.on_device and env.distributed else 1
        for x, y in bar:
            loss = self.train_step(x, y)
            local.add(loss, len(x))
            if self.progress and len(local) % LOG_EVERY == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
            steps = skip + len(local)
            halt = D.any_rank(env, self.stopper.requested) if len(local) % check_every == 0 else False
            every = cfg.checkpoint_every_steps
            if halt or (every and self.global_step % every == 0 and steps < self.steps_per_epoch):
                self.save(epoch - 1, steps, self._step_losses(local, skip))
                if halt:
                    raise self._stopped(epoch, steps)
        per_step = self._step_losses(local, skip)
        self.prefix = torch.zeros(0, 2, dtype=torch.float64)
        self.step_in_epoch = 0
        return per_step

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Val loss and mean per-image Dice and IoU (at ``cfg.threshold``), all from one forward pass per batch.

        Each rank scores every ``world_size``-th slice; the sums stay on the device and are all-reduced once.
        """
        env, cfg, model = self.env, self.cfg, self.shipped
        val = self.data["val"]
        shard = val.subset(list(range(env.rank, len(val), env.world_size))) if env.distributed else val
        model.eval()
        sums = torch.zeros(4, dtype=torch.float64, device=self.device)  # loss·n, n, Σ Dice, Σ IoU
        batches = (sequential_batches(shard, self.device, cfg.batch_size) if self.on_device
                   else DataLoader(SliceDataset(shard), batch_size=cfg.batch_size, shuffle=False))
        for x, y in batches:
            x, y = x.to(self.device), y.to(self.device)
            output = model(x)
            dice, iou = dice_iou_tensors(to_probabilities(model, output) > cfg.threshold, y > 0.5)
            sums += torch.stack([self.loss_fn(output, y).double() * len(x),
                                 torch.tensor(len(x), dtype=torch.float64, device=self.device), dice.sum(), iou.sum()])
        model.train()
        total = D.all_reduce_sum(env, sums.cpu())
        n = max(float(total[1]), 1.0)
        return {"val_loss": float(total[0]) / n, "val_dice": float(total[2]) / n, "val_iou": float(total[3]) / n}

    def on_epoch_end(self, epoch: int, row: dict[str, Any]) -> None:
        """Record the epoch: history, plots and best.pt (rank 0), then last.pt; stop early or on request."""
        cfg, env = self.cfg, self.env
        self.history.append(row)
        self.epoch_done = epoch
        improved = self.selector.update(row)
        if env.is_main:
            log.info("epoch %d/%d  train loss %.4f  val loss %.4f  val Dice %.4f  (%.0f s)",
                     epoch, cfg.epochs, row["train_loss"], row["val_loss"], row["val_dice"], row["seconds"])
            write_history(self.history, self.out / "history.csv")
            loss_curve(self.history, self.out / "loss_curve.png")
            if cfg.grid_every and (epoch % cfg.grid_every == 0 or epoch == cfg.epochs):
                self._grid(self.out / "grids" / f"epoch_{epoch:03d}.png")
            if improved:
                self.save_best(row)
        self.stopped_early = self.selector.should_stop
        self.finished = epoch == cfg.epochs or self.stopped_early
        self.save(epoch, 0, torch.zeros(0, 2, dtype=torch.float64), finished=self.finished)
        if D.any_rank(env, self.stopper.requested) and not self.finished:
            raise self._stopped(epoch, 0)
        if self.stopped_early:
            log.info("early stop: %s has not improved for %d epochs (best %.4f at epoch %d)",
                     cfg.select_metric, cfg.early_stop_patience, self.selector.best_value, self.selector.best_epoch)

    def result(self) -> TrainResult:
        return TrainResult(self.out, self.shipped, self.history, self.step_losses, self.stopped_early)

    @property
    def shipped(self) -> torch.nn.Module:
        """The weights validated, selected and written to ``best.pt``: the moving average with ``--ema``, else the
        trained weights themselves."""
        return self.ema.module if self.ema is not None else self.model

    # -- checkpoints ----------------------------------------------------------------------------------------

    def save(self, epoch: int, steps: int, step_losses: torch.Tensor, finished: bool = False) -> None:
        """Write ``last.pt`` after ``epoch`` full epochs and ``steps`` steps of the next (collective: every rank
        calls it together; rank 0 writes)."""
        env = self.env
        rngs = D.gather_objects(env, rng_state())
        if not env.is_main:
            return
        ts = {"resume_format": RESUME_FORMAT, "epoch": epoch, "step_in_epoch": steps, "global_step": self.global_step,
              "epoch_step_losses": step_losses, "optimizer": self.optimizer.state_dict(),
              "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
              "scaler": self.scaler.state_dict(), "rng": rngs, "world_size": env.world_size,
              "selector": self.selector.state_dict(), "history": self.history, "finished": finished,
              "best_val_loss": min([h["val_loss"] for h in self.history], default=float("inf")),
              "ema": self.ema.state_dict() if self.ema is not None else None}
        metrics = {k: self.history[-1][k] for k in ("epoch", "val_loss", "val_dice", "val_iou")} if self.history else {}
        self._write_checkpoint(self.out / "last.pt", metrics, train_state=ts)

    def save_best(self, row: dict[str, Any]) -> None:
        self._write_checkpoint(self.out / "best.pt", {k: row[k] for k in ("val_loss", "val_dice", "val_iou")}
                               | {"epoch": row["epoch"]}, model=self.shipped)

    def _write_checkpoint(self, path: Path, metrics: dict[str, Any], model: torch.nn.Module | None = None,
                          **extra: Any) -> None:
        """``model``: whose weights (default: the trained ones, as ``last.pt`` holds them for a resume)."""
        cfg = self.cfg
        save_checkpoint(make_checkpoint(cfg.model, cfg.model_kwargs, model if model is not None else self.model,
                                        _preprocessing(cfg), metrics=metrics,
                                        config=cfg.to_dict(), split=self.split_ids,
                                        split_patients=self.split_patients, **extra), path)

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue from a ``last.pt``: weights, optimizer/scheduler/scaler, selector, history, step counters,
        this rank's RNG states."""
        env, ts = self.env, ckpt["train_state"]
        if ts["world_size"] != env.world_size and ts["step_in_epoch"]:
            raise TumorsegError(f"{self.out}/last.pt was written mid-epoch by {ts['world_size']} processes; resume it "
                                f"with the same number (now {env.world_size}).")
        self.model.load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ts["optimizer"])
        if self.scheduler is not None and ts.get("scheduler"):
            self.scheduler.load_state_dict(ts["scheduler"])
        if ts.get("scaler"):
            self.scaler.load_state_dict(ts["scaler"])
        self.selector.load_state_dict(ts["selector"])
        if self.ema is not None and ts.get("ema"):
            self.ema.load_state_dict(ts["ema"])
        self.history = list(ts["history"])
        self.epoch_done, self.step_in_epoch, self.global_step = ts["epoch"], ts["step_in_epoch"], ts["global_step"]
        if env.is_main and self.step_in_epoch:
            self.prefix = ts["epoch_step_losses"].double()
        rngs = ts["rng"]
        set_rng_state(rngs[env.rank] if len(rngs) == env.world_size else rngs[0])
        log.info("resuming %s after epoch %d, step %d", self.out, self.epoch_done, self.step_in_epoch)

    # -- helpers --------------------------------------------------------------------------------------------

    def _step_losses(self, local: StepLosses, skip: int) -> torch.Tensor:
        """Global per-step (loss sum, count) of the epoch so far: the resumed prefix (held by rank 0) plus the
        all-reduced new steps (read from the device here: one host sync)."""
        t = torch.zeros(skip + len(local), 2, dtype=torch.float64)
        if len(self.prefix):
            t[:skip] = self.prefix
        if len(local):
            t[skip:] = local.cpu()
        return D.all_reduce_sum(self.env, t)

    def _stopped(self, epoch: int, steps: int) -> TrainingInterrupted:
        where = f"epoch {epoch}, step {steps}" if steps else f"the end of epoch {epoch}"
        env = self.env
        return TrainingInterrupted(
            f"stopped by {self.stopper.name} at {where}; checkpoint written to {self.out / 'last.pt'}.\n"
            f"Resume with: tumorseg train --resume {self.out}"
            + (f"  (under the same torchrun --nproc_per_node {env.local_world_size} ...)" if env.distributed else ""),
            self.stopper.signum or 15)

    def _grid(self, path: Path) -> None:
        part = self.data["val"].subset(self.grid_idx)
        rows, preds = score_arrays(self.shipped, part, self.device, self.cfg.threshold, self.cfg.batch_size,
                                   distances=False)
        prediction_grid(part.images, part.masks, preds, path,
                        titles=[f"{r.case_id}  Dice {row['dice']:.2f}" for r, row in zip(part.records, rows)])

    def _check_ranks_agree(self) -> None:
        """DDP keeps replicas identical; a cheap checksum catches a broken set-up (e.g. unsynchronised buffers)."""
        if not self.env.distributed:
            return
        sums = D.gather_objects(self.env, float(sum(p.detach().double().sum() for p in self.model.state_dict().values()
                                                    if p.is_floating_point())))
        if len(set(sums)) > 1:
            log.warning("ranks ended with different weights (checksums %s)", sums)
