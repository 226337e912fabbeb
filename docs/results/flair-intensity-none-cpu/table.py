"""The intensity-none folds against the shipped recipe's (``../flair-lesion-core-cpu/folds.json``, same folds,
same evaluation script): per-volume Dice on each fold's LGG test patients and on the BraTS 2013 FLAIR sample.

    python docs/results/flair-intensity-none-cpu/table.py /work/exp    # reads /work/exp/fnone-evalK/folds.json
"""

import json
import sys
from pathlib import Path
from statistics import mean, stdev

here = Path(__file__).parent
root = Path(sys.argv[1])
new = {}
for k in range(5):
    found = root / f"fnone-eval{k}" / "folds.json"
    if found.exists():
        new.update(json.loads(found.read_text()))
(here / "folds.json").write_text(json.dumps(new, indent=1))
shipped = json.loads((here.parent / "flair-lesion-core-cpu" / "folds.json").read_text())
arm = "confident_lesion"  # the shipped post-processing: calibrated, plus the most confident 3-D lesion
rows = {}
for what in ("lgg_test", "brats15_flair"):
    a = [shipped[f][f"{arm}/{what}"]["per_volume_dice"] for f in sorted(new)]
    b = [new[f][f"{arm}/{what}"]["per_volume_dice"] for f in sorted(new)]
    rows[what] = {"folds": sorted(new), "shipped_p99": [round(x, 4) for x in a], "intensity_none": [round(x, 4) for x in b],
                  "mean_shipped": round(mean(a), 4), "mean_none": round(mean(b), 4),
                  "sd_shipped": round(stdev(a), 4) if len(a) > 1 else None,
                  "sd_none": round(stdev(b), 4) if len(b) > 1 else None,
                  "folds_better": sum(y > x for x, y in zip(a, b))}
for what, key in (("tumour_free_marked", "tumour_free_marked"), ("tumour_found", "tumour_found")):
    rows[what] = {"shipped_p99": sum(shipped[f][f"{arm}/lgg_test"][key] for f in new),
                  "intensity_none": sum(new[f][f"{arm}/lgg_test"][key] for f in new)}
(here / "comparison.json").write_text(json.dumps(rows, indent=1))
print(json.dumps(rows, indent=1))
