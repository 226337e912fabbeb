"""``tumorseg demo``: the whole pipeline on synthetic phantoms, in a few minutes on a laptop CPU."""

from __future__ import annotations

import logging
from pathlib import Path

from tumorseg.config import TrainConfig
from tumorseg.data.synthetic import make_dataset
from tumorseg.evaluation.per_case import read_per_case
from tumorseg.inference.files import predict_files
from tumorseg.training.fit import fit

log = logging.getLogger(__name__)


def demo_config(data: str | Path, out: str | Path, image_size: int = 128, epochs: int = 12, model: str = "unet",
                model_kwargs: dict | None = None, seed: int = 0, device: str = "auto") -> TrainConfig:
    """The demo's recipe: ``cpu-fast-unet``'s (AdamW, Dice + BCE, cosine with warm-up, best by val Dice,
    calibration) with a narrower U-Net (width 8, 4 levels) for small synthetic images."""
    return TrainConfig(
        data=str(data), out=str(out), model=model,
        model_kwargs=model_kwargs if model_kwargs is not None else {"width": 8, "levels": 4, "num_res_units": 1},
        epochs=epochs, batch_size=16, lr=2e-3, optimizer="adamw", weight_decay=1e-4, loss="dice-bce",
        scheduler="cosine", warmup_epochs=0.5, select_metric="val_dice", calibrate=True,
        image_size=image_size, seed=seed, device=device,
    )


def run_demo(
    out: str | Path, n_images: int = 160, image_size: int = 128, epochs: int = 12, model: str = "unet",
    model_kwargs: dict | None = None, progress: bool = True, seed: int = 0, device: str = "auto",
) -> Path:
    """Generate phantoms in ``out/data``, train into ``out/run``, predict ``out/data/images`` into ``out/predictions``.

    The run directory has every artefact a real run has (config, split,
    history, curves, grids, checkpoints, calibration, test metrics). The
    recipe is :func:`demo_config`.
    """
    out = Path(out)
    data = make_dataset(out / "data", n=n_images, size=image_size, seed=seed)
    log.info("synthetic dataset: %d slices of %d×%d in %s", n_images, image_size, image_size, data)
    cfg = demo_config(data, out / "run", image_size, epochs, model, model_kwargs, seed, device)
    run = fit(cfg, progress=progress, overwrite=True)  # a demo re-run starts afresh
    sample = [data / "images" / f"{r['case_id']}.png" for r in read_per_case(run / "test" / "per_case.csv")[:8]]
    predict_files(sample, run / "best.pt", out / "predictions", with_overlay=True, progress=progress)
    return run
