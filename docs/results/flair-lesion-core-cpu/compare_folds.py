"""A FLAIR recipe against the shipped `flair` recipe, fold by fold on the same test patients.

    python docs/results/flair-lesion-core-cpu/compare_folds.py NAME NEW_FOLDS_JSON [OUT_JSON]

NAME: the new recipe's name in the output (``flair-pretrained``, ``flair-context``).
NEW_FOLDS_JSON: written by ``docs/results/flair-lesion-core-cpu/evaluate_folds.py`` for the new fold models; the
shipped recipe's is ``docs/results/flair-lesion-core-cpu/folds.json`` (same script, same split files). Only folds
present in both are compared; the means are over those folds, so with fewer than five they are not the CV means.
"""

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).parent
name, new = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
old = json.loads((HERE / "folds.json").read_text())
folds = sorted(set(new) & set(old))
out = {"folds": folds, "arms": {}}
for arm in ("calibrated", "confident_lesion"):
    rows = {}
    for name, runs in (("flair", old), (name, new)):
        lgg = [runs[f][f"{arm}/lgg_test"] for f in folds]
        b15 = [runs[f][f"{arm}/brats15_flair"]["per_volume_dice"] for f in folds]
        vd = [r["per_volume_dice"] for r in lgg]
        rows[name] = {"per_volume_dice_per_fold": [round(v, 4) for v in vd],
                      "mean": round(statistics.mean(vd), 4),
                      "sd": round(statistics.stdev(vd), 4) if len(vd) > 1 else None,
                      "tumour_free_marked": sum(r["tumour_free_marked"] for r in lgg),
                      "tumour_free": sum(r["tumour_free"] for r in lgg),
                      "tumour_found": sum(r["tumour_found"] for r in lgg),
                      "tumour_slices": sum(r["tumour_slices"] for r in lgg),
                      "brats15_flair_per_volume_dice_per_fold": [round(v, 4) for v in b15]}
    pat_old = {p: d for f in folds for p, d in old[f][f"{arm}/lgg_test"]["patients"].items()}
    pat_new = {p: d for f in folds for p, d in new[f][f"{arm}/lgg_test"]["patients"].items()}
    rows["patients_better_same_worse"] = [sum(pat_new[p] > pat_old[p] for p in pat_old),
                                          sum(pat_new[p] == pat_old[p] for p in pat_old),
                                          sum(pat_new[p] < pat_old[p] for p in pat_old)]
    rows["largest_changes"] = sorted(((p, pat_old[p], pat_new[p]) for p in pat_old),
                                     key=lambda t: -abs(t[2] - t[1]))[:6]
    out["arms"][arm] = rows
    print(arm, json.dumps(rows, indent=1))
if len(sys.argv) > 3:
    Path(sys.argv[3]).write_text(json.dumps(out, indent=1))
