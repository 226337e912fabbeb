"""Named training recipes (``tumorseg train --preset NAME``); explicit flags override them.

* ``original``: the seed project exactly (seed-ae, Adam 1e-3, Dice loss, batch 64, 10 epochs, 256²).
* ``cpu-fast``: a residual U-Net sized for a 2-core laptop CPU within ~30 minutes
  of training on the figshare dev set: width 16, 4 levels... see the values.
* ``best``: the strongest recipe for a GPU: larger residual U-Net at 384²,
  longer schedule, stronger augmentation.
"""

from __future__ import annotations

from typing import Any

from tumorseg.errors import TumorsegError, did_you_mean

PRESETS: dict[str, dict[str, Any]] = {
    "original": dict(model="seed-ae", model_kwargs={}, epochs=10, batch_size=64, lr=1e-3, optimizer="adam",
                     loss="dice", image_size=256, augment="none", scheduler="none"),
    "cpu-fast": dict(model="unet", model_kwargs={"width": 16, "levels": 5, "num_res_units": 1}, epochs=12,
                     batch_size=16, lr=2e-3, weight_decay=1e-4, optimizer="adamw", loss="dice-bce", image_size=256,
                     augment="light", scheduler="cosine", warmup_epochs=0.5, select_metric="val_dice",
                     early_stop_patience=4, calibrate=True),
    "best": dict(model="unet", model_kwargs={"width": 32, "levels": 6, "num_res_units": 2}, epochs=150,
                 batch_size=32, lr=1e-3, weight_decay=1e-4, optimizer="adamw", loss="dice-bce", image_size=384,
                 augment="mri", scheduler="cosine", warmup_epochs=3, select_metric="val_dice",
                 early_stop_patience=30, precision="bf16", calibrate=True),
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise TumorsegError(f"unknown preset '{name}'.{did_you_mean(name, PRESETS)} Known: {', '.join(PRESETS)}.")
    return dict(PRESETS[name])
