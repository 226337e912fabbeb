"""figshare val (264 slices of the bundled t1c's own val patients): bundled t1c vs this fine-tune, per class and
per size third (terciles of the true tumour fraction over these slices), missed tumours.
usage: python compare.py  (from this folder) -> prints and writes comparison.json"""
import csv, json
import numpy as np


def read(path):
    return {r["case_id"]: r for r in csv.DictReader(open(path))}


rows = {"bundled t1c": read("../t1c-negatives-cpu/bundled_fs-val_per_case.csv"),
        "fine-tune (cont)": read("cont/fs-val-per_case.csv")}
ids = sorted(rows["bundled t1c"])
assert ids == sorted(rows["fine-tune (cont)"]), "the two evaluations scored different slices"
frac = np.array([float(rows["bundled t1c"][i]["tumour_fraction"]) for i in ids])
cuts = np.quantile(frac, [1 / 3, 2 / 3])
size = np.where(frac <= cuts[0], "small", np.where(frac <= cuts[1], "medium", "large"))
label = np.array([rows["bundled t1c"][i]["label"] for i in ids])
out = {"slices": len(ids), "size_cuts_fraction": cuts.tolist()}
for name, r in rows.items():
    d = np.array([float(r[i]["dice"]) for i in ids])
    pred = np.array([float(r[i]["predicted_area_px"]) for i in ids])
    res = {"mean_dice": d.mean(), "missed (nothing predicted)": int((pred == 0).sum())}
    for g in ("glioma", "meningioma", "pituitary"):
        res[f"{g} ({(label == g).sum()})"] = d[label == g].mean()
    for s in ("small", "medium", "large"):
        res[f"{s} third"] = d[size == s].mean()
    out[name] = {k: round(float(v), 4) for k, v in res.items()}
    print(name, out[name])
json.dump(out, open("comparison.json", "w"), indent=1)
