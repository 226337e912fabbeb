"""Evaluation: per-image Dice/IoU rows, ``metrics.json``, ``per_case.csv`` and a predictions figure.

Layout written to ``out``::

    metrics.json    {"n_images", "mean_dice", "mean_iou", "median_dice", ..., "by_class": {...}}
    per_case.csv    case_id, patient, label, dice, iou, tumour_area_px, predicted_area_px
    predictions.png best, median and worst cases (Image | Ground truth | Prediction)
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tumorseg.checkpoint import load_checkpoint, model_from_checkpoint
from tumorseg.data import SliceArrays, load_slices, read_dataset
from tumorseg.device import resolve_device
from tumorseg.errors import DataError
from tumorseg.inference import predict_probabilities
from tumorseg.metrics import dice_iou
from tumorseg.plots import prediction_grid

log = logging.getLogger(__name__)


def score_arrays(
    model: nn.Module, arrays: SliceArrays, device: torch.device | str, threshold: float = 0.5, batch_size: int = 16
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Predict ``arrays`` and score each image. Returns (rows, predicted masks ``(N, S, S) bool``)."""
    probs = predict_probabilities(model, arrays.images, device, batch_size)
    preds = probs > threshold
    dice, iou = dice_iou(torch.from_numpy(preds), torch.from_numpy(arrays.masks))
    rows = []
    for i, rec in enumerate(arrays.records):
        rows.append(
            {
                "case_id": rec.case_id,
                "patient": rec.patient or "",
                "label": rec.label or "",
                "dice": float(dice[i]),
                "iou": float(iou[i]),
                "tumour_area_px": int(arrays.masks[i].sum()),
                "predicted_area_px": int(preds[i].sum()),
            }
        )
    return rows, preds


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean/median per-image Dice and IoU, counts, and the same per tumour class."""
    def stats(rs):
        d = np.array([r["dice"] for r in rs])
        i = np.array([r["iou"] for r in rs])
        return {
            "n_images": len(rs),
            "mean_dice": float(d.mean()) if len(d) else float("nan"),
            "mean_iou": float(i.mean()) if len(i) else float("nan"),
            "median_dice": float(np.median(d)) if len(d) else float("nan"),
            "std_dice": float(d.std()) if len(d) else float("nan"),
            "n_missed": int(sum(r["predicted_area_px"] == 0 and r["tumour_area_px"] > 0 for r in rs)),
        }

    out = stats(rows)
    out["n_patients"] = len({r["patient"] for r in rows if r["patient"]})
    labels = sorted({r["label"] for r in rows if r["label"]})
    if labels:
        out["by_class"] = {lab: stats([r for r in rows if r["label"] == lab]) for lab in labels}
    return out


def write_results(rows: list[dict[str, Any]], arrays: SliceArrays, preds: np.ndarray, out: Path, extra: dict | None = None) -> dict:
    """Write metrics.json, per_case.csv and predictions.png into ``out``; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = {**summarise(rows), **(extra or {})}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    with open(out / "per_case.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    order = np.argsort([r["dice"] for r in rows])
    picks = list(dict.fromkeys([order[-1], order[-2] if len(order) > 1 else order[-1], order[len(order) // 2], order[1] if len(order) > 1 else order[0], order[0]]))
    prediction_grid(
        arrays.images[picks], arrays.masks[picks], preds[picks], out / "predictions.png",
        titles=[f"{rows[i]['case_id']}  Dice {rows[i]['dice']:.2f}" for i in picks],
    )
    return summary


def evaluate(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    split: str = "test",
    data_format: str = "auto",
    device: str = "auto",
    batch_size: int = 16,
) -> dict[str, Any]:
    """Evaluate a checkpoint on a dataset.

    Args:
        split: ``"test"`` (or ``"val"``/``"train"``) uses the split stored in
            the checkpoint; ``"all"`` scores every labelled slice in ``data``.

    Raises:
        DataError: the split's cases are not in ``data`` (another dataset: use
            ``--split all``).
    """
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt, checkpoint)
    dev = resolve_device(device)
    model.to(dev)
    records = read_dataset(data, data_format)
    if split != "all":
        stored = ckpt.get("split") or {}
        if split not in stored:
            raise DataError(f"{checkpoint}: holds no '{split}' split. Use --split all to score every slice in {data}.")
        wanted = set(stored[split])
        records = [r for r in records if r.case_id in wanted]
        if not records:
            raise DataError(
                f"{data}: none of the {len(wanted)} '{split}' cases of {checkpoint} are here "
                "(another dataset?). Use --split all to score every slice."
            )
    pre = ckpt["preprocessing"]
    arrays = load_slices(records, int(pre["image_size"]))
    rows, preds = score_arrays(model, arrays, dev, float(pre.get("threshold", 0.5)), batch_size)
    summary = write_results(
        rows, arrays, preds, Path(out),
        extra={"checkpoint": str(checkpoint), "model": ckpt["model"]["name"], "data": str(data), "split": split},
    )
    log.info("mean Dice %.4f, mean IoU %.4f on %d images", summary["mean_dice"], summary["mean_iou"], summary["n_images"])
    return summary
