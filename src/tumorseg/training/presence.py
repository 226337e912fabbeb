"""Training the tumour-presence gate (:class:`~tumorseg.models.presence.PresenceNet`) and choosing its threshold.

The gate answers one question per slice, "is there a tumour?", and must not cost the segmentation model its
accuracy on the data it was made for. Its operating point is therefore set on *validation* slices as the score
that keeps a given share of the reference positives (``keep``, e.g. 99 % of figshare tumour slices:
:func:`operating_threshold`); the false-positive rate on tumour-free validation slices at that point picks the
epoch (:func:`val_summary`). Test slices are never looked at here.

Inputs are ``uint8`` arrays ``(N, S, S)`` (one channel) or ``(N, C, S, S)``, scaled x/255 like the U-Net's;
augmentation is :func:`tumorseg.data.augment.augment_batch` (geometry + intensity) with an empty mask.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from tumorseg.data.augment import PRESETS, AugmentParams, augment_batch, augment_params
from tumorseg.models.presence import PresenceNet


# "mri" with wider zoom, shifts and intensity changes (sources differ in field of view and windowing far more than
# one dataset's slices do): ``--augment wide`` of scripts/train_presence_gate.py. Measured no better (t1c.md).
WIDE_AUGMENT = replace(PRESETS["mri"], p_affine=0.8, scale=0.3, translate=0.08, contrast=0.4, gamma=0.5)


@dataclass
class PresenceSet:
    """Slices for the gate. ``images`` ``(N, S, S)`` or ``(N, C, S, S) uint8``; ``present`` ``(N,) bool``
    (a tumour on the slice); ``reference`` ``(N,) bool``: positives whose share kept sets the threshold
    (e.g. the figshare slices), ignored for training."""

    images: np.ndarray
    present: np.ndarray
    reference: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def _as_input(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(batch).to(device).float().div_(255.0)
    return x.unsqueeze(1) if x.ndim == 3 else x


@torch.no_grad()
def scores(model: nn.Module, images: np.ndarray, device: torch.device | str = "cpu",
           batch_size: int = 64) -> np.ndarray:
    """Presence logits ``(N,) float32`` of ``model`` (a :class:`PresenceNet`) for ``uint8`` images."""
    was = model.training
    model.eval()
    out = np.empty(len(images), np.float32)
    try:
        for s in range(0, len(images), batch_size):
            out[s:s + batch_size] = model(_as_input(images[s:s + batch_size], torch.device(device))).float().cpu()
    finally:
        model.train(was)
    return out


def operating_threshold(reference_scores: np.ndarray, keep: float) -> float:
    """The highest threshold that keeps at least ``keep`` (0–1) of ``reference_scores`` (score >= threshold).

    Raises:
        ValueError: no reference scores.
    """
    if not len(reference_scores):
        raise ValueError("no reference positives to set the gate's threshold on")
    s = np.sort(np.asarray(reference_scores, np.float64))
    drop = int(np.floor((1.0 - keep) * len(s) + 1e-9))  # how many may fall below
    return float(s[min(drop, len(s) - 1)])


def val_summary(logits: np.ndarray, data: PresenceSet, keep: float) -> dict[str, Any]:
    """Threshold from ``data.reference`` positives (:func:`operating_threshold`) and, at it, the share of
    tumour-free slices marked (``fp_rate``), of non-reference positives kept (``other_pos_kept``) and the
    ROC AUC over all slices."""
    from sklearn.metrics import roc_auc_score

    ref, neg, other = data.reference & data.present, ~data.present, data.present & ~data.reference
    thr = operating_threshold(logits[ref], keep)
    on = logits >= thr
    return {"threshold": thr, "ref_kept": float(on[ref].mean()),
            "fp_rate": float(on[neg].mean()) if neg.any() else float("nan"),
            "other_pos_kept": float(on[other].mean()) if other.any() else float("nan"),
            "auc": float(roc_auc_score(data.present, logits)) if neg.any() and data.present.any() else float("nan")}


def train_presence(train: PresenceSet, val: PresenceSet, *, in_channels: int = 1, width: int = 8,
                   levels: int = 5, num_res_units: int = 1, init_encoder: dict[str, torch.Tensor] | None = None,
                   epochs: int = 8, batch_size: int = 32, lr: float = 1e-3, keep: float = 0.99,
                   augment: str | AugmentParams = "mri", standardise: bool = False, seed: int = 0,
                   device: str = "cpu", progress: bool = True) -> tuple[PresenceNet, list[dict[str, Any]]]:
    """Train a :class:`PresenceNet` with class-balanced BCE (AdamW, cosine decay), one pass over ``train`` per
    epoch, and keep the epoch with the lowest validation ``fp_rate`` at ``keep`` (ties: higher AUC).

    Returns ``(model in eval mode, history)``: one :func:`val_summary` dict per epoch plus ``epoch`` and
    ``loss``; the best epoch's dict has ``best: True``.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    model = PresenceNet(in_channels, width, levels, num_res_units, standardise).to(dev)
    if init_encoder is not None:
        model.encoder.load_state_dict(init_encoder)
    pos = float(train.present.mean())
    pos_weight = torch.tensor((1 - pos) / max(pos, 1e-6), device=dev)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(train) / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    params = augment if isinstance(augment, AugmentParams) else augment_params(augment)
    gen = torch.Generator(dev).manual_seed(seed)
    history: list[dict[str, Any]] = []
    best, best_key, best_epoch = None, None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        bar = tqdm(range(0, len(order), batch_size), desc=f"gate epoch {epoch}/{epochs}", disable=not progress,
                   leave=False, unit="batch")
        for s in bar:
            idx = order[s:s + batch_size]
            x = _as_input(train.images[idx], dev)
            y = torch.from_numpy(train.present[idx].astype(np.float32)).to(dev)
            x, _ = augment_batch(x, torch.zeros_like(x[:, :1]), params, gen)
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        summary = val_summary(scores(model, val.images, dev), val, keep)
        summary.update(epoch=epoch, loss=total / len(train))
        history.append(summary)
        key = (summary["fp_rate"], -summary["auc"])
        if best_key is None or key < best_key:
            best, best_key, best_epoch = copy.deepcopy(model.state_dict()), key, epoch
        if progress:
            tqdm.write(f"gate epoch {epoch}: loss {summary['loss']:.4f}, val AUC {summary['auc']:.3f}, "
                       f"tumour-free marked {summary['fp_rate']:.3f} at {keep:.0%} of reference kept")
    model.load_state_dict(best)
    for h in history:
        h["best"] = h["epoch"] == best_epoch
    return model.eval(), history
