"""`flair`'s post-processing chosen on out-of-fold patients (as nnU-Net chooses its post-processing on the
cross-validation results) instead of on each run's own 5-8 val patients: better on unseen patients?

Every CV fold model K (``RUNS/fold_K``, trained by ``run.sh``) was calibrated by ``tumorseg train`` on its own val
patients (the shipped recipe). Here, for each fold K:

1. ``cache``: fold K's model gives its probability maps (with flip TTA, as ``flair`` ships) of fold K's test
   patients — out-of-fold maps: no model ever saw the patients it maps — and of its own val patients.
2. ``nested``: settings chosen by the search of :func:`tumorseg.inference.calibrate.calibrate` (per-volume Dice,
   at most 10 % of tumour-free slices marked: the recipe's objective), narrowed to fit the CPU time at hand (TTA on;
   the volume rules re-scored on the 5 best settings per smoothing level instead of 25: :data:`TOP_K`), on the other
   four folds' maps (32 patients), written into a copy of fold K's model (``OUT/fold_K_oof.pt``); fold K's own
   test patients never take part in choosing them. The same narrowed search on fold K's own val patients gives the
   fair comparison (``OUT/fold_K_val.pt``: same search, the usual 5-8 patients). Those two, the model as trained
   (the full search on its val patients) and as shipped (that, the most confident lesion kept) are then scored on
   fold K's test patients by ``tumorseg evaluate``.
3. ``final``: the settings the narrowed search chooses on all 40 patients' maps (``OUT/final_settings.json``): what
   the shipped model would take.

    python docs/results/flair-oof-post-cpu/oof.py RUNS OUT fold_0,fold_1,final   # -> OUT/fold_K.json, OUT/fold_K-ARM/
    python docs/results/flair-oof-post-cpu/oof.py summary OUT       # -> OUT/oof.json, OUT/cv_summary.json
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tumorseg.config import TrainConfig
from tumorseg.data.dataset import SliceArrays
import tumorseg.inference.calibrate as cal
from tumorseg.inference.postprocess import DEFAULTS as POSTPROCESS_DEFAULTS, settings
from tumorseg.inference.predictor import predict_probabilities
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from tumorseg.training.cv import summarise_folds
from tumorseg.training.fit import prepare_data

LGG = ["--data", "../shared/data/lgg/kaggle_3m", "--split", "test"]


TOP_K = 5  # the narrowed search (module docstring); the library's default is 25


def out_of_fold(run: Path) -> tuple[SliceArrays, np.ndarray, SliceArrays, np.ndarray, TrainConfig]:
    """Fold ``run``'s test patients and its model's TTA maps of them; its val patients and their maps; its config."""
    cfg = TrainConfig.load(run / "config.json")
    data = prepare_data(cfg, run, split_path=run / "split.json", progress=False)
    model = model_from_checkpoint(load_checkpoint(run / "best.pt"))
    maps = {k: predict_probabilities(model, data[k].images, "cpu", 16, tta=True) for k in ("test", "val")}
    return data["test"], maps["test"], data["val"], maps["val"], cfg


def pooled(parts: list[tuple[SliceArrays, np.ndarray]]) -> tuple[SliceArrays, np.ndarray]:
    arrays = SliceArrays(np.concatenate([a.images for a, _ in parts]), np.concatenate([a.masks for a, _ in parts]),
                         [r for a, _ in parts for r in a.records])
    return arrays, np.concatenate([m for _, m in parts])


def choose(arrays: SliceArrays, maps: np.ndarray, cfg: TrainConfig) -> tuple[dict, dict]:
    """The narrowed search on ``maps`` (TTA maps: the setting is stored as ``tta`` on)."""
    cal.TOP_K = TOP_K
    found = cal.calibrate(None, arrays, objective=cfg.calibrate_objective, max_fp_rate=cfg.max_fp_rate,
                          try_tta=False, probabilities={False: maps})
    post = {**{k: found[k] for k in POSTPROCESS_DEFAULTS}, "tta": True}
    return post, {k: found[k] for k in found if k.startswith("val_")}


def score(model: Path, dest: Path) -> dict:
    subprocess.run(["tumorseg", "evaluate", "--model", str(model), *LGG, "--out", str(dest), "--no-progress"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    m = json.loads((dest / "metrics.json").read_text())
    p = m["presence"]
    return {"per_volume_dice": m["per_volume"]["mean_dice"], "mean_dice": m["mean_dice"],
            "patients": {r["patient"]: round(float(r["dice"]), 3) for r in csv.DictReader(open(dest / "per_volume.csv"))},
            "tumour_found": p["tp"], "tumour_slices": p["n_tumour"], "tumour_free_marked": p["fp"],
            "tumour_free": p["n_tumour_free"]}


def main(runs: Path, out: Path, todo: list[str]) -> None:
    """Steps 2-3 for the folds named in ``todo`` (``fold_K``, and ``final`` for step 3); each writes its JSON."""
    out.mkdir(parents=True, exist_ok=True)
    folds = sorted(p for p in runs.glob("fold_*") if p.is_dir())
    cached = {f.name: out_of_fold(f) for f in folds}
    print("cached", {k: len(v[0]) for k, v in cached.items()}, flush=True)
    for fold in [f for f in folds if f.name in todo]:
        test, test_maps, val, val_maps, cfg = cached[fold.name]
        post, scores = choose(*pooled([(c[0], c[1]) for name, c in cached.items() if name != fold.name]), cfg)
        own_narrow, own_scores = choose(val, val_maps, cfg)
        ckpt = load_checkpoint(fold / "best.pt")
        own = settings(ckpt)
        save_checkpoint({**ckpt, "postprocess": post}, out / f"{fold.name}_oof.pt")
        save_checkpoint({**ckpt, "postprocess": own_narrow}, out / f"{fold.name}_val.pt")
        save_checkpoint({**ckpt, "postprocess": {**own, "largest_component_3d": True, "lesion_core_prob": 0.95}},
                        out / f"{fold.name}_shipped.pt")
        row = {"val_chosen_postprocess": own, "val_narrow_postprocess": own_narrow, "val_narrow_scores": own_scores,
               "oof_chosen_postprocess": post, "oof_search_scores": scores}
        for arm, model in (("val_chosen", fold / "best.pt"), ("val_chosen_confident_lesion",
                                                              out / f"{fold.name}_shipped.pt"),
                           ("val_narrow", out / f"{fold.name}_val.pt"), ("oof_chosen", out / f"{fold.name}_oof.pt")):
            row[arm] = score(model, out / f"{fold.name}-{arm}")
        (out / f"{fold.name}.json").write_text(json.dumps(row, indent=1))
        print(fold.name, {k: round(v["per_volume_dice"], 4) for k, v in row.items() if "per_volume_dice" in v},
              flush=True)
    if "final" in todo:
        post, val = choose(*pooled([(c[0], c[1]) for c in cached.values()]), cached[folds[0].name][4])
        (out / "final_settings.json").write_text(json.dumps({"postprocess": post, "search_scores": val}, indent=1))
        print("final:", post, flush=True)


def summarise(out: Path) -> None:
    """``OUT/oof.json``: the three arms per fold and over the folds (mean ± sd of per-volume Dice, slices)."""
    result = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("fold_*.json"))}
    arms = ("val_chosen", "val_chosen_confident_lesion", "val_narrow", "oof_chosen")
    dice = {arm: [result[f][arm]["per_volume_dice"] for f in result] for arm in arms}
    summary = {arm: {"per_fold": [round(d, 4) for d in dice[arm]], "mean": float(np.mean(dice[arm])),
                     "sd": float(np.std(dice[arm], ddof=1)) if len(dice[arm]) > 1 else None,
                     "tumour_free_marked": sum(result[f][arm]["tumour_free_marked"] for f in result),
                     "tumour_free": sum(result[f][arm]["tumour_free"] for f in result),
                     "tumour_slices_found": sum(result[f][arm]["tumour_found"] for f in result),
                     "tumour_slices": sum(result[f][arm]["tumour_slices"] for f in result)} for arm in arms}
    (out / "oof.json").write_text(json.dumps({"summary": summary, "folds": result}, indent=1))
    print(json.dumps(summary, indent=1))
    # the out-of-fold arm as `tumorseg cv` summarises folds (what scripts/bundle_model.py --cv stores)
    folds = []
    for name, row in result.items():
        r = row["oof_chosen"]
        marked = r["tumour_free_marked"] / r["tumour_free"]
        folds.append({"fold": name, "n_images": r["tumour_slices"] + r["tumour_free"],
                      "presence": {"sensitivity": r["tumour_found"] / r["tumour_slices"], "specificity": 1 - marked,
                                   "fp_slice_rate": marked},
                      "per_volume": {"mean_dice": r["per_volume_dice"]}})
    cv = {"variant": "oof_chosen/lgg_test", **summarise_folds(folds)}
    (out / "cv_summary.json").write_text(json.dumps(cv, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "summary":
        summarise(Path(sys.argv[2]))
    else:
        main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(","))
