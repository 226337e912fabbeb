"""flair recipe vs + mri-strip, seed 42, same folds: LGG CV test metrics and the BraTS 2015 FLAIR sample per fold."""
import json, os, sys
import numpy as np
R = os.environ.get("RUNS", "runs")  # the folder that holds fstrip/ and zs2-cv1-flair/
out = {"folds": {}}
for k in range(5):
    row = {}
    for name, d in (("flair", f"{R}/zs2-cv1-flair/fold_{k}"), ("flair+mri-strip", f"{R}/fstrip/fold_{k}")):
        if not os.path.exists(f"{d}/test/metrics.json"):
            continue
        j = json.load(open(f"{d}/test/metrics.json"))
        pr = j["presence"]
        r = {"lgg_per_volume_dice": j["per_volume"]["mean_dice"], "lgg_fp_slice_rate": pr["fp_slice_rate"],
             "lgg_tumour_slices_found": pr["sensitivity"], "lgg_tp": pr["tp"], "lgg_fp": pr["fp"],
             "lgg_n_tumour": pr["n_tumour"], "lgg_n_free": pr["n_tumour_free"]}
        b = f"{R}/fstrip/b15f-fold_{k}-{'fstrip' if 'fstrip' in d else 'zs2-cv1-flair'}/metrics.json"
        if os.path.exists(b):
            bj = json.load(open(b))
            r.update(brats_flair_per_volume_dice=bj["per_volume"]["mean_dice"],
                     brats_tumour_slices_found=bj["presence"]["tp"], brats_free_marked=bj["presence"]["fp"])
        row[name] = r
    out["folds"][k] = row
for name in ("flair", "flair+mri-strip"):
    rows = [out["folds"][k][name] for k in out["folds"] if name in out["folds"][k]]
    s = {"n_folds": len(rows)}
    for key in ("lgg_per_volume_dice", "brats_flair_per_volume_dice"):
        v = [r[key] for r in rows if key in r]
        s[key] = [float(np.mean(v)), float(np.std(v))] if v else None
    for key in ("lgg_tp", "lgg_fp", "lgg_n_tumour", "lgg_n_free"):
        s[key] = int(sum(r[key] for r in rows))
    out[name] = s
json.dump(out, open(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdout", "w"), indent=1)
for k, row in out["folds"].items():
    print(k, {n: (round(r["lgg_per_volume_dice"], 3), round(r.get("brats_flair_per_volume_dice", -1), 3)) for n, r in row.items()})
for n in ("flair", "flair+mri-strip"):
    print(n, out[n])
