"""Typed run configuration, saved as ``config.json`` in every run and inside every checkpoint; where caches live."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Defaults reproduce the original project: ``seed-ae``, 10 epochs, Adam at
    1e-3, batch 64, 256×256, Dice loss, a 70/20/10 split.
    """

    data: str
    out: str
    model: str = "seed-ae"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data_format: str = "auto"
    # reader options of the format (channels, modality, labels, empty_fraction, image_glob, label_glob, masks_dir)
    data_options: dict[str, Any] = field(default_factory=dict)
    # filled by the Trainer from the data read: channel names, normalisation, reader options prediction must repeat
    input_spec: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10  # with time_budget_s: the most epochs
    # seconds the training may take (data reading included; calibration and test scoring come after); 0: no
    # budget. After epoch 2 the run plans how many epochs fit (at most `epochs`) and keeps to that number,
    # so the cosine schedule still ends at zero; the plan is written to config.json (runtime.time_budget)
    time_budget_s: float = 0.0
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    loss: str = "dice"
    image_size: int = 256
    intensity: str = "none"  # per-slice intensity normalisation (tumorseg.data.intensity): none, p99
    # neighbouring slices as input channels (tumorseg.data.context): k above and k below, 2k + 1 channels; 0: none
    context_slices: int = 0
    context_dropout: float = 0.0  # with context_slices: fraction of training stacks shown as their centre slice alone
    init_from: str | None = None  # start from this checkpoint's weights (fine-tuning); same model and kwargs
    # distillation (tumorseg.training.distill): also learn this checkpoint's probabilities, with this weight;
    # "{fold}" in the path: the fold's number under `tumorseg cv` (each fold its own teacher)
    teacher: str | None = None
    distill_weight: float = 0.5
    # "all": every image learns the teacher; "tumour": only images whose mask holds a tumour (a fine-tune that adds
    # tumour-free slices keeps its start's outlines there, and learns "no tumour" from the truth alone)
    distill_on: str = "all"
    seed: int = 42
    device: str = "auto"
    split_fractions: tuple[float, float, float] = (0.7, 0.2, 0.1)
    grid_every: int = 2
    num_workers: int | None = None  # DataLoader workers per process; None: 0 on CPU, a few per GPU
    threshold: float = 0.5
    evaluate_test: bool = True
    max_slices: int | None = None  # use only the first N slices (smoke tests, demos)
    calibrate: bool = False  # choose threshold/TTA/clean-up on val after training (stored in best.pt)
    max_fp_rate: float = 0.03  # calibration: most tumour-free val slices that may be marked (when val has them)
    calibrate_objective: str = "slice-dice"  # or "volume-dice": mean per-patient pooled Dice (LGG-style volumes)
    split_file: str | None = None  # a split.json to use instead of splitting (cross-validation folds)
    # training recipe (defaults: the original project's constant-LR Adam, no augmentation, best = lowest val loss)
    scheduler: str = "none"  # "none" or "cosine" (per-iteration, after a linear warm-up of warmup_epochs)
    warmup_epochs: float = 0.0
    augment: str = "none"  # tumorseg.data.augment preset (none, light, mri, strong), applied to training data only
    select_metric: str = "val_loss"  # "val_loss" (lowest is best) or "val_dice" (highest is best)
    early_stop_patience: int = 0  # stop after N epochs without a better select_metric; 0: never
    grad_clip: float = 0.0  # max global gradient norm; 0: no clipping
    # exponential moving average of the weights (torch.optim.swa_utils), updated every step: validation, best.pt,
    # calibration and test use the averaged weights; 0: off (e.g. 0.99: about the last 100 steps)
    ema_decay: float = 0.0
    # engine: precision "auto" = bf16 on CUDA where supported, else fp32; batch_size is the global batch
    precision: str = "auto"  # auto, bf16, fp16 (with a GradScaler), fp32
    compile: bool = False  # torch.compile the model
    checkpoint_every_steps: int = 0  # also write last.pt every K optimizer steps; 0: at epoch ends only
    data_path: str = "loader"  # "loader": DataLoader + per-item CPU augmentation; "device": data on the device
    cache: str | None = None  # on-disk slice cache folder ("default": ~/.cache/tumorseg); None: decode into memory
    # filled by the Trainer: world size, per-process and effective batch, effective LR, precision, loader settings
    runtime: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["split_fractions"] = list(self.split_fractions)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        if "split_fractions" in kwargs:
            kwargs["split_fractions"] = tuple(kwargs["split_fractions"])
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def cache_root() -> Path:
    """The folder of every tumorseg cache (decoded datasets for ``--cache``, ONNX exports under ``onnx/``).

    ``$TUMORSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/tumorseg``, else ``~/.cache/tumorseg``. The old name
    ``$TUMORSEG_CACHE`` (once for the dataset cache only) still works, with a warning.
    """
    value = os.environ.get("TUMORSEG_CACHE_DIR")
    if not value and os.environ.get("TUMORSEG_CACHE"):
        warnings.warn("TUMORSEG_CACHE is deprecated: set TUMORSEG_CACHE_DIR instead (it now names every tumorseg "
                      "cache).", FutureWarning, stacklevel=2)
        value = os.environ["TUMORSEG_CACHE"]
    if value:
        return Path(value).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tumorseg"
