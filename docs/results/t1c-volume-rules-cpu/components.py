"""Step 3 of the t1c volume-rule study: which 3-D component the one-lesion rule keeps, and whether another way of
choosing it (most confident voxels instead of most voxels, ...) keeps the tumour more often.

    python docs/results/t1c-volume-rules-cpu/components.py PROBS_DIR > components.json

Per LGG patient: the kept component's slice span, its centre (0 = lowest slice of the volume, 1 = top) and whether
it touches the FLAIR mask; per choice rule: tumour-free slices marked, tumour slices found, per-volume Dice, patients
whose kept component touches the tumour — on the 40 LGG dev patients and the BraTS 2015 sample (scored, not used).
"""

import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from tumorseg.inference import postprocess

src = Path(sys.argv[1])
base = json.loads((src / "post.json").read_text())
RULES = {
    "largest (shipped)": lambda pr, cm: cm.sum(),
    "most voxels p>=0.95": lambda pr, cm: (pr[cm] >= 0.95).sum(),
    "most voxels p>=0.9": lambda pr, cm: (pr[cm] >= 0.9).sum(),
    "probability mass above threshold": lambda pr, cm: (pr[cm] - base["threshold"]).sum(),
    "highest mean probability": lambda pr, cm: pr[cm].mean(),
}


def volumes(name):
    d = np.load(src / f"{name}.npz")
    probs, masks, pats, si = d["probs"].astype(np.float32), d["masks"], d["patient"], d["slice_index"]
    for p in sorted(set(pats)):
        idx = np.flatnonzero(pats == p)
        idx = idx[np.argsort(si[idx])]
        m = postprocess.apply(probs[idx], base, probs.shape[-1])
        lab, n = ndimage.label(m, structure=np.ones((3, 3, 3)))
        yield str(p), probs[idx], masks[idx], lab, n


def run(name, rule, detail=False):
    fp = neg = found = pos = hits = 0
    vds, rows = [], []
    for p, pr, tr, lab, n in volumes(name):
        keep = lab == 1 + int(np.argmax([rule(pr, lab == c) for c in range(1, n + 1)])) if n else lab > 0
        marked, has = keep.any((1, 2)), tr.any((1, 2))
        fp += int((marked & ~has).sum()); neg += int((~has).sum())
        found += int((marked & has).sum()); pos += int(has.sum())
        hit = bool((keep & tr).any()); hits += hit
        den = int(keep.sum() + tr.sum())
        vds.append(1.0 if den == 0 else 2 * int((keep & tr).sum()) / den)
        if detail:
            zs = np.flatnonzero(marked)
            rows.append({"patient": p, "slices": len(tr), "kept_slices": len(zs),
                         "kept_centre": round(float(zs.mean()) / max(len(tr) - 1, 1), 2) if len(zs) else None,
                         "touches_tumour": hit, "components": int(n)})
    out = {"tumour_free_marked": fp, "tumour_free": neg, "tumour_found": found, "tumour_slices": pos,
           "per_volume_dice": round(float(np.mean(vds)), 4), "kept_touches_tumour": hits, "volumes": len(vds)}
    return (out, rows) if detail else out


largest, per_patient = run("lgg", RULES["largest (shipped)"], detail=True)
low = [r for r in per_patient if r["kept_centre"] is not None and r["kept_centre"] < 0.25 and not r["touches_tumour"]]
print(json.dumps({"post": base, "rules": {k: {"lgg": run("lgg", f), "b15": run("b15", f)} for k, f in RULES.items()},
                  "shipped_rule_per_patient": per_patient,
                  "kept_wrong_component_in_lowest_quarter": [r["patient"] for r in low]}, indent=1))
