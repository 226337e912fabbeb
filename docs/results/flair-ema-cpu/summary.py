"""The `flair` recipe with `--ema 0.98` against the same recipe without it (today's code, folds 0 and 2) and against
the shipped recipe's recorded fold results (../flair-strip-cpu/fold_K/test_metrics.json: its calibration then;
../flair-lesion-core-cpu/folds.json: with the most confident lesion kept, as shipped), on the same split files.
Per-volume Dice of each fold's test patients from each run's own test/metrics.json and test/per_volume.csv (its
calibrated post-processing), BraTS 2015 FLAIR sample per-volume Dice from `evaluate` of each fold model.

    python docs/results/flair-ema-cpu/summary.py EMA_RUNS BASE_RUNS BRATS_EVALS   # -> summary.json beside this file
"""

import csv
import json
import statistics
import sys
from pathlib import Path

from tumorseg.models.checkpoint import load_checkpoint

HERE = Path(__file__).parent
RESULTS = HERE.parent
ema_runs, base_runs, brats = (Path(p) for p in sys.argv[1:4])
shipped_core = json.loads((RESULTS / "flair-lesion-core-cpu" / "folds.json").read_text())


def run_summary(run: Path) -> dict:
    m = json.loads((run / "test" / "metrics.json").read_text())
    p = m["presence"]
    config = json.loads((run / "config.json").read_text())
    out = {"per_volume_dice": round(m["per_volume"]["mean_dice"], 4),
           "patients": {r["patient"]: round(float(r["dice"]), 3) for r in csv.DictReader(open(run / "test" / "per_volume.csv"))},
           "tumour_found": p["tp"], "tumour_slices": p["n_tumour"], "tumour_free_marked": p["fp"],
           "tumour_free": p["n_tumour_free"], "ema_decay": config.get("ema_decay", 0.0)}
    out["postprocess"] = load_checkpoint(run / "best.pt")["postprocess"]
    b = brats / f"{run.parent.name}-{run.name}" / "metrics.json"
    if b.exists():
        out["brats15_flair_per_volume_dice"] = round(json.loads(b.read_text())["per_volume"]["mean_dice"], 4)
    return out


folds = {}
for k in range(5):
    row = {}
    if (ema_runs / f"fold_{k}" / "test" / "metrics.json").exists():
        row["ema"] = run_summary(ema_runs / f"fold_{k}")
    if (base_runs / f"fold_{k}" / "test" / "metrics.json").exists():
        row["no_ema_today"] = run_summary(base_runs / f"fold_{k}")
    shipped = json.loads((RESULTS / "flair-strip-cpu" / f"fold_{k}" / "test_metrics.json").read_text())
    row["shipped_recipe_as_calibrated_then"] = round(shipped["per_volume"]["mean_dice"], 4)
    row["shipped_recipe_most_confident_lesion"] = round(shipped_core[f"fold_{k}"]["confident_lesion/lgg_test"]["per_volume_dice"], 4)
    folds[f"fold_{k}"] = row


def over(key, sub=None):
    vals = [(r[key][sub] if sub else r[key]) for r in folds.values() if key in r]
    return {"folds": len(vals), "mean": round(statistics.mean(vals), 4),
            "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else None} if vals else None


summary = {"folds": folds,
           "ema": over("ema", "per_volume_dice"),
           "no_ema_today": over("no_ema_today", "per_volume_dice"),
           "shipped_recipe_as_calibrated_then": over("shipped_recipe_as_calibrated_then"),
           "shipped_recipe_most_confident_lesion": over("shipped_recipe_most_confident_lesion")}
marked = [folds[f]["ema"]["tumour_free_marked"] for f in folds if "ema" in folds[f]]
free = [folds[f]["ema"]["tumour_free"] for f in folds if "ema" in folds[f]]
summary["ema_tumour_free_marked"] = f"{sum(marked)} / {sum(free)}"
(HERE / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps({k: v for k, v in summary.items() if k != "folds"}, indent=1))
