"""Seed-7 repeat of the mri-strip flair CV: seed7/cv_summary.json and seed7/comparison.json.

Reads fold_K/{test_metrics,brats15_flair_metrics}.json of both seeds (copied from runs/fstrip*/, see run.sh) and
writes per-fold LGG and BraTS 2015 numbers side by side, plus the per-fold mean of the two seeds.
Run from the repository root: python docs/results/flair-strip-cpu/seed7_summary.py
"""
import json, numpy as np
from pathlib import Path
from tumorseg.training.cv import summarise_folds
D = Path("docs/results/flair-strip-cpu")
rows = {}
for seed, d in (("42", D), ("7", D / "seed7")):
    folds = [{"fold": f.name, **json.loads((f / "test_metrics.json").read_text())} for f in sorted(d.glob("fold_*"))]
    b = [json.loads((f / "brats15_flair_metrics.json").read_text()) for f in sorted(d.glob("fold_*"))]
    rows[seed] = {"lgg_per_volume_dice": [round(f["per_volume"]["mean_dice"], 4) for f in folds],
                  "brats15_per_volume_dice": [round(x["per_volume"]["mean_dice"], 4) for x in b],
                  "brats15_found": [x["presence"]["tp"] for x in b], "brats15_free_marked": [x["presence"]["fp"] for x in b],
                  "lgg_found": sum(f["presence"]["tp"] for f in folds), "lgg_marked": sum(f["presence"]["fp"] for f in folds)}
    if seed == "7":
        s = summarise_folds(folds)
        (D / "seed7" / "cv_summary.json").write_text(json.dumps(s, indent=2) + "\n")
for seed, r in rows.items():
    v = np.array(r["lgg_per_volume_dice"]); r["lgg_mean_sd"] = [round(v.mean(), 4), round(v.std(ddof=1), 4)]
if len(rows["7"]["lgg_per_volume_dice"]) == len(rows["42"]["lgg_per_volume_dice"]):
    both = (np.array(rows["7"]["lgg_per_volume_dice"]) + np.array(rows["42"]["lgg_per_volume_dice"])) / 2
    rows["mean of the two seeds, per fold"] = [round(x, 4) for x in both] + [round(both.mean(), 4)]
(D / "seed7" / "comparison.json").write_text(json.dumps(rows, indent=1) + "\n")
print(json.dumps(rows, indent=1))
