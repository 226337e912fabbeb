"""Patient-grouped K-fold cross-validation: ``run_cv(config, folds) -> summary``.

For fold k the test part is fold k's patients; the other patients are split
into train/val by patient (val picks the checkpoint and calibrates
post-processing); the test part is only ever scored. Run again into the same ``OUT``, a CV skips the folds
it finished and resumes a fold stopped mid-training from its ``last.pt`` (exactly, as ``train --resume`` does) when
the recipe is the same (:func:`unfinished_run_differs`); with another recipe that fold starts over. Layout::

    OUT/fold_0/ ... fold_{K-1}/   ordinary run directories (split.json is the fold's)
    OUT/cv_per_case.csv           every dev image once, scored by the fold that held it out
    OUT/cv_summary.json           mean ± std across folds of the fold means (Dice, IoU, ...,
                                  presence sensitivity/specificity/false-positive slice rate,
                                  per-volume Dice), plus pooled per-class, per-size-tercile,
                                  presence and per-volume breakdowns
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tumorseg.config import TrainConfig
from tumorseg.data import read_dataset
from tumorseg.data.splits import grouped_by, kfold_split, save_split
from tumorseg.evaluation.evaluate import SCORES, summarise
from tumorseg.evaluation.per_case import read_per_case, write_per_case
from tumorseg.training.fit import fit, resume

log = logging.getLogger(__name__)


def fold_splits(cfg: TrainConfig, folds: int, out: Path) -> list[Path]:
    """Write ``OUT/splits/fold_k.json`` for every fold; return their paths."""
    records = read_dataset(cfg.data, cfg.data_format, **cfg.data_options)
    if cfg.max_slices:
        records = records[: cfg.max_slices]
    paths = []
    (out / "splits").mkdir(parents=True, exist_ok=True)
    for k in range(folds):
        path = out / "splits" / f"fold_{k}.json"
        save_split(kfold_split(records, folds, k, cfg.seed), path, grouped_by(records))
        paths.append(path)
    return paths


def run_cv(cfg: TrainConfig, folds: int = 5, only: list[int] | None = None, progress: bool = True) -> dict[str, Any]:
    """Train and test every fold (or the folds in ``only``), then aggregate what exists."""
    out = Path(cfg.out)
    paths = fold_splits(cfg, folds, out)
    for k in only if only is not None else range(folds):
        fold_dir = out / f"fold_{k}"
        if (fold_dir / "test" / "metrics.json").exists():
            log.info("fold %d already done, skipping (delete %s to redo it)", k, fold_dir)
            continue
        log.info("=== fold %d/%d ===", k + 1, folds)
        teacher = cfg.teacher.replace("{fold}", str(k)) if cfg.teacher else None  # each fold its own teacher
        fold_cfg = replace(cfg, out=str(fold_dir), split_file=str(paths[k]), evaluate_test=True, teacher=teacher)
        why = unfinished_run_differs(fold_dir, fold_cfg)
        if why is None:  # a fold stopped mid-training (killed, Ctrl-C, a crash): go on from its last.pt
            log.info("fold %d: resuming its unfinished run from %s", k, fold_dir / "last.pt")
            resume(fold_dir, progress=progress)
            continue
        if why:
            log.warning("fold %d: its unfinished run in %s %s; starting the fold over", k, fold_dir, why)
        fit(fold_cfg, progress=progress, overwrite=True)  # overwrite: fit clears an unfinished fold's files
    return aggregate(out)


NOT_RECIPE = ("out", "runtime", "input_spec", "device", "num_workers", "cache")
"""Config fields that do not change what a fold trains (where it runs and what the run derived), so an unfinished
fold run that differs only in them is resumed."""


def unfinished_run_differs(fold_dir: Path, cfg: TrainConfig) -> str | None:
    """Whether an unfinished fold run can be resumed: ``None`` when ``fold_dir`` holds a ``last.pt`` and a
    ``config.json`` of the same recipe as ``cfg`` (every field but :data:`NOT_RECIPE`); else why not — ``""``
    when there is no such run (nothing to say), or a phrase naming the first field that differs (the recipe
    changed since: resuming would mix two recipes)."""
    if not (fold_dir / "last.pt").is_file() or not (fold_dir / "config.json").is_file():
        return ""
    try:
        saved = TrainConfig.load(fold_dir / "config.json").to_dict()
    except (OSError, ValueError, TypeError) as exc:
        return f"has an unreadable config.json ({exc.__class__.__name__})"
    wanted = cfg.to_dict()
    for key in wanted:
        if key not in NOT_RECIPE and saved.get(key) != wanted[key]:
            return f"was started with {key} = {saved.get(key)!r}, this cv gives {wanted[key]!r}"
    return None


def aggregate(out: str | Path) -> dict[str, Any]:
    """Combine ``fold_*/test/per_case.csv`` into ``cv_per_case.csv`` and ``cv_summary.json``."""
    out = Path(out)
    rows, per_fold = [], []
    for fold_dir in sorted(out.glob("fold_*")):
        f = fold_dir / "test" / "per_case.csv"
        if not f.exists():
            continue
        fold_rows = read_per_case(f)
        for r in fold_rows:
            r["fold"] = fold_dir.name
        rows += fold_rows
        per_fold.append({"fold": fold_dir.name, **summarise(fold_rows)})
    if not rows:
        raise FileNotFoundError(f"{out}: no fold_*/test/per_case.csv yet")
    summary = summarise_folds(per_fold)
    summary["pooled"] = summarise(rows)
    summary["per_fold"] = per_fold
    (out / "cv_summary.json").write_text(json.dumps(summary, indent=2))
    write_per_case(rows, out / "cv_per_case.csv")
    return summary


def summarise_folds(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sd over folds of each fold's test summary (``summarise`` output plus a ``fold`` name).

    Returns ``folds_done``, ``n_images`` (all folds) and ``<score>_mean_over_folds`` / ``_std_over_folds`` for the
    per-image scores, presence sensitivity, specificity, false-positive slice rate and per-volume Dice; sd is 0
    for one fold; a key that no fold has (say, no tumour-free slices anywhere) is left out."""
    summary: dict[str, Any] = {"folds_done": [f["fold"] for f in per_fold],
                               "n_images": int(sum(f["n_images"] for f in per_fold))}
    for key in SCORES:
        name = f"mean_{key}"
        if name in per_fold[0]:
            v = np.array([f[name] for f in per_fold])
            summary[f"{key}_mean_over_folds"] = float(v.mean())
            summary[f"{key}_std_over_folds"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    for key, get in (("sensitivity", lambda f: f["presence"]["sensitivity"]),
                     ("specificity", lambda f: f["presence"]["specificity"]),
                     ("fp_slice_rate", lambda f: f["presence"]["fp_slice_rate"]),
                     ("volume_dice", lambda f: (f.get("per_volume") or {}).get("mean_dice"))):
        v = np.array([x for x in map(get, per_fold) if x is not None])  # None: no such slices in that fold
        if len(v):
            summary[f"{key}_mean_over_folds"] = float(v.mean())
            summary[f"{key}_std_over_folds"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return summary
