"""The `t1c` cascade with BOTH members trained with `--augment mri-turn` on CV fold 0 (A: `check.py`'s run; B: its
`t1c-negatives` fine-tune with `mri-turn`), against the layout it is given. Builds the cascade as the product does
(`tumorseg ensemble A B --combine decide`), then:

1. the fold's mixed test slices (526 figshare tumour slices, 194 tumour-free LGG post-contrast slices no member
   trained or validated on) through `tumorseg evaluate --split all`, as ../t1c-longer-a-cpu/fold_0/cascade scored
   the same fold's cascade of `mri` members (`evaluate/` here: metrics.json, per_case.csv);
2. the same slices as stored, transposed, turned 90 degrees and flipped up-down, one at a time through
   `tumorseg.api` (figshare: mean per-image Dice; LGG: tumour-free slices marked);
3. the labelled BraTS 2015 T1c sample (tumour core) read as stored and in the radiological view, with the shipped
   `t1c`'s one-lesion rule (`largest_component_3d`), per-volume Dice by `evaluate` (every brain slice), against
   cascade.json's shipped numbers.

    python docs/results/t1c-turn-cpu/cascade_turned.py A_RUN B_RUN MIXED_DATA WORKDIR   # -> cascade_turned.json
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import tumorseg.api as api
from tumorseg.evaluation.evaluate import evaluate
from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
a_run, b_run, mixed, work = (Path(p) for p in sys.argv[1:5])
work.mkdir(parents=True, exist_ok=True)
cascade = work / "cascade.pt"
subprocess.run(["tumorseg", "ensemble", str(a_run / "best.pt"), str(b_run / "best.pt"), "--combine", "decide",
                "--out", str(cascade)], check=True)
results = {"a_run": str(a_run), "b_run": str(b_run)}

# 1. the fold's test slices through the product
summary = evaluate(cascade, mixed, work / "evaluate", split="all", progress=False)
rows = list(csv.DictReader(open(work / "evaluate" / "per_case.csv")))
fig = [r for r in rows if not r["case_id"].startswith("TCGA")]
lgg = [r for r in rows if r["case_id"].startswith("TCGA")]
results["fold0_test_through_evaluate"] = {
    "figshare_slices": len(fig), "figshare_mean_dice": round(float(np.mean([float(r["dice"]) for r in fig])), 4),
    "figshare_left_empty": sum(int(r["predicted_area_px"]) == 0 for r in fig),
    "by_class": {c: round(float(np.mean([float(r["dice"]) for r in fig if r.get("label") == c])), 4)
                 for c in ("meningioma", "glioma", "pituitary")},
    "lgg_tumour_free_slices": len(lgg), "lgg_tumour_free_marked": sum(int(r["predicted_area_px"]) > 0 for r in lgg)}
print("evaluate", results["fold0_test_through_evaluate"], flush=True)

# 2. the same slices in every layout, one at a time
ops = {"as stored": (lambda x: x, lambda x: x), "transposed": (lambda x: x.T, lambda x: x.T),
       "rotated 90 degrees": (np.rot90, lambda x: np.rot90(x, -1)), "flipped up-down": (np.flipud, np.flipud)}
seg = api.load(str(cascade))
turned = {k: {"figshare_dice": [], "lgg_marked": 0} for k in ops}
for r in rows:
    image = np.asarray(Image.open(mixed / "images" / f"{r['case_id']}.png").convert("L"))
    mask = np.asarray(Image.open(mixed / "masks" / f"{r['case_id']}.png").convert("L")) > 127
    for k, (f, back) in ops.items():
        pred = back(seg.segment(np.ascontiguousarray(f(image)))) > 0
        if r["case_id"].startswith("TCGA"):
            turned[k]["lgg_marked"] += int(pred.any())
        else:
            total = pred.sum() + mask.sum()
            turned[k]["figshare_dice"].append(1.0 if total == 0 else 2 * (pred & mask).sum() / total)
results["fold0_test_turned"] = {k: {"figshare_mean_dice": round(float(np.mean(v["figshare_dice"])), 4),
                                    "lgg_tumour_free_marked": v["lgg_marked"]} for k, v in turned.items()}
print("turned", results["fold0_test_turned"], flush=True)

# 3. BraTS 2015 T1c, as stored and in the radiological view, with the shipped one-lesion rule
results["brats15_t1c_core"] = {}
for view in ("stored", "display"):
    ckpt = load_checkpoint(cascade)
    ckpt["preprocessing"]["view"] = view
    ckpt["postprocess"] = {**ckpt.get("postprocess", {}), "largest_component_3d": True}
    path = work / f"cascade_{view}.pt"
    save_checkpoint(ckpt, path)
    s = evaluate(path, DATA / "samples" / "brats" / "brats_2013_pat0001_1", work / f"brats15_{view}",
                 data_format="brats", split="all", progress=False,
                 data_options={"modality": "t1c", "labels": "1,3,4", "empty_fraction": 1.0})
    name = "as stored" if view == "stored" else "radiological view"
    results["brats15_t1c_core"][name] = {"per_volume_dice": round(s["per_volume"]["mean_dice"], 4),
                                         "sensitivity": s["presence"]["sensitivity"],
                                         "specificity": s["presence"]["specificity"]}
    print("brats15", name, results["brats15_t1c_core"][name], flush=True)
(Path(__file__).parent / "cascade_turned.json").write_text(json.dumps(results, indent=1) + "\n")
