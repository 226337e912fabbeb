"""Step 2 of the t1c volume-rule study: which volume-only post-processing leaves tumour-free slices of LGG
post-contrast volumes empty, chosen and scored by patient-grouped CV over the 40 LGG dev patients.

Only rules that act on volumes are searched (``z_smooth``, ``hysteresis_prob``, ``largest_component_3d`` of
`tumorseg.inference.postprocess`): a single slice (every figshare image) comes out exactly as before, so figshare
accuracy cannot change. The per-slice settings (threshold, TTA, clean-up) stay the shipped model's.

    python docs/results/t1c-volume-rules-cpu/search.py PROBS_DIR [--max-fp 0.03] > result.json

5 folds of 8 patients (sorted patient ids, every 5th): for each fold the setting is chosen on the other 32
patients — the most tumour slices found among settings that mark at most ``--max-fp`` of their tumour-free
slices (ties: per-volume Dice) — and scored on the fold's 8. The BraTS 2015 sample is only scored, never used to
choose.
"""

import argparse
import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tumorseg.inference import postprocess

ap = argparse.ArgumentParser()
ap.add_argument("probs", type=Path)
ap.add_argument("--max-fp", type=float, default=0.03)
a = ap.parse_args()
base = json.loads((a.probs / "post.json").read_text())

GRID = [dict(z_smooth=z, hysteresis_prob=h, largest_component_3d=l)
        for z, h, l in itertools.product((0.0, 0.2, 0.33), (0.0, 0.9, 0.95, 0.98, 0.99, 0.995), (False, True))]


def load(name):
    d = np.load(a.probs / f"{name}.npz")
    records = [SimpleNamespace(patient=str(p), slice_index=int(s), loader="lgg", image=None, option=lambda k: None)
               for p, s in zip(d["patient"], d["slice_index"])]
    return d["probs"].astype(np.float32), d["masks"], records


def per_slice(probs, masks, records, setting):
    """(patient, has tumour, marked, intersection px, predicted px, true px) per slice."""
    pred = postprocess.apply_records(probs, {**base, **setting}, records)
    truth_px = masks.reshape(len(masks), -1).sum(1)
    pred_px = pred.reshape(len(pred), -1).sum(1)
    inter = (pred & masks).reshape(len(pred), -1).sum(1)
    return [(r.patient, t > 0, p > 0, i, p, t) for r, t, p, i in zip(records, truth_px, pred_px, inter)]


def score(rows, patients=None):
    rows = [r for r in rows if patients is None or r[0] in patients]
    neg = [r for r in rows if not r[1]]
    pos = [r for r in rows if r[1]]
    vols = {}
    for p, _, _, i, pp, t in rows:
        v = vols.setdefault(p, [0, 0, 0])
        v[0] += int(i); v[1] += int(pp); v[2] += int(t)
    vd = [1.0 if v[1] + v[2] == 0 else 2 * v[0] / (v[1] + v[2]) for v in vols.values()]
    return {"tumour_free_marked": int(sum(r[2] for r in neg)), "tumour_free": len(neg),
            "fp_rate": float(sum(r[2] for r in neg)) / max(len(neg), 1),
            "tumour_found": int(sum(r[2] for r in pos)), "tumour_slices": len(pos),
            "per_volume_dice": float(np.mean(vd)) if vd else float("nan"), "volumes": len(vd)}


lgg = load("lgg")
b15 = load("b15")
rows = {i: per_slice(*lgg, s) for i, s in enumerate(GRID)}
rows_b15 = {i: per_slice(*b15, s) for i, s in enumerate(GRID)}
patients = sorted({r.patient for r in lgg[2]})
folds = [set(patients[k::5]) for k in range(5)]
out = {"base_post": base, "max_fp": a.max_fp, "grid": GRID,
       "all_settings": [{**GRID[i], "lgg_all_40": score(rows[i]), "b15": score(rows_b15[i])} for i in rows],
       "folds": []}
test_rows = []
for k, test in enumerate(folds):
    train = set(patients) - test
    scored = {i: score(rows[i], train) for i in rows}
    ok = [i for i in scored if scored[i]["fp_rate"] <= a.max_fp] or sorted(scored, key=lambda i: scored[i]["fp_rate"])[:1]
    best = max(ok, key=lambda i: (scored[i]["tumour_found"], scored[i]["per_volume_dice"]))
    test_rows += [r for r in rows[best] if r[0] in test]
    out["folds"].append({"fold": k, "test_patients": sorted(test), "chosen": GRID[best], "train": scored[best],
                         "test": score(rows[best], test), "b15": score(rows_b15[best])})
out["cv_test_pooled"] = score(test_rows)
print(json.dumps(out, indent=1))
