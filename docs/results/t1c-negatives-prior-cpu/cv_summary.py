"""The CV of ``--preset t1c-negatives`` as ``tumorseg models`` reads it (``cv/cv_summary.json``, via
``scripts/bundle_model.py --cv``): per fold, mean Dice / IoU over the figshare test slices (the 526 of the previous
recipe's fold) and presence specificity over the fold's tumour-free LGG test slices (unseen patients, one slice at a
time). ``cv/splits/`` holds the 5 planned folds' split files, so a partial CV reads "k of 5 CV folds".

usage: cv_summary.py OUT_DIR RUN_DIR [RUN_DIR ...]     (RUN_DIR: a fine-tuned fold, e.g. /work/mixprior/ft_0, or its
       copy here, docs/results/t1c-negatives-prior-cpu/ft_0; or an evaluate folder. Folds are named after their
       folder, with its parent's name when two folders share a name: fold_0/cascade)
"""
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from tumorseg.training.cv import summarise_folds

out, runs = Path(sys.argv[1]), [Path(r) for r in sys.argv[2:]]
(out / "splits").mkdir(parents=True, exist_ok=True)
per_fold = []
plain = len({r.name for r in runs}) == len(runs)  # else fold names with their parent (fold_0/cascade, ...)
for run in runs:
    # a run folder, its copy here (ft_K/test_per_case.csv) or an evaluate folder (per_case.csv)
    per_case = next(p for p in (run / "test" / "per_case.csv", run / "test_per_case.csv", run / "per_case.csv")
                    if p.exists())
    rows = list(csv.DictReader(open(per_case)))
    fig = [r for r in rows if not r["case_id"].startswith("TCGA")]
    free = [r for r in rows if r["case_id"].startswith("TCGA") and int(r["tumour_area_px"]) == 0]
    marked = sum(int(r["predicted_area_px"]) > 0 for r in free)
    found = sum(int(r["intersection_px"]) > 0 for r in fig)
    per_fold.append({"fold": run.name if plain else f"{run.parent.name}/{run.name}", "n_images": len(fig),
                     "mean_dice": float(np.mean([float(r["dice"]) for r in fig])),
                     "mean_iou": float(np.mean([float(r["iou"]) for r in fig])),
                     "presence": {"sensitivity": sum(int(r["predicted_area_px"]) > 0 for r in fig) / len(fig),
                                  "specificity": 1 - marked / len(free), "fp_slice_rate": marked / len(free)},
                     "n_tumour_free": len(free), "tumour_free_marked": marked, "tumour_overlapped": found})
summary = summarise_folds(per_fold) | {"per_fold": per_fold}
(out / "cv_summary.json").write_text(json.dumps(summary, indent=2))
data = Path("/tmp/t1c-data/folds/mixed")
for f in sorted(data.glob("fold_*.json")):
    shutil.copyfile(f, out / "splits" / f.name)
print(json.dumps({k: v for k, v in summary.items() if k != "per_fold"}, indent=1))
