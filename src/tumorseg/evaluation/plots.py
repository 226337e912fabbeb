"""Figures: loss curves and Image | Ground truth | Prediction grids (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def loss_curve(history: Sequence[dict], path: str | Path) -> None:
    """Plot train/val loss (and val Dice when present) per epoch."""
    epochs = [h["epoch"] for h in history]
    has_dice = any("val_dice" in h for h in history)
    fig, axes = plt.subplots(1, 2 if has_dice else 1, figsize=(10 if has_dice else 5.5, 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if has_dice:
        ax = axes[0, 1]
        ax.plot(epochs, [h.get("val_dice", np.nan) for h in history], "o-", color="C2")
        ax.set(xlabel="epoch", ylabel="mean per-image Dice", title="Validation Dice", ylim=(0, 1))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def prediction_grid(
    images: np.ndarray,
    truths: np.ndarray,
    preds: np.ndarray,
    path: str | Path,
    titles: Sequence[str] | None = None,
) -> None:
    """Rows of Image | Ground truth | Prediction (prediction drawn over the image).

    Args:
        images: ``(N, H, W)`` or ``(N, C, H, W)`` in [0, 1] or uint8.
        truths, preds: ``(N, H, W)`` bool.
        titles: optional per-row label (e.g. case id and Dice).
    """
    if images.ndim == 4:  # (N, C, H, W): show the middle channel (FLAIR of LGG's pre/FLAIR/post)
        images = images[:, images.shape[1] // 2]
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(7.5, 2.5 * n), squeeze=False)
    for i in range(n):
        row = axes[i]
        row[0].imshow(images[i], cmap="gray")
        row[1].imshow(truths[i], cmap="gray", vmin=0, vmax=1)
        row[2].imshow(images[i], cmap="gray")
        row[2].imshow(np.ma.masked_where(~preds[i], preds[i]), cmap="autumn", alpha=0.55, vmin=0, vmax=1)
        if truths[i].any():
            row[2].contour(truths[i], levels=[0.5], colors="lime", linewidths=0.8)
        if i == 0:
            for ax, t in zip(row, ["Image", "Ground truth", "Prediction (green: truth outline)"]):
                ax.set_title(t, fontsize=9)
        if titles is not None:
            row[0].set_ylabel(titles[i], fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
