"""Does `lesion_core_prob` help `flair`? Each CV fold model of the shipped recipe scored on its own test patients
as calibrated, and with the one-lesion rule choosing the most confident lesion (p = 0.95, the value chosen for
`t1c`; nothing tuned here). Folds whose calibration left the one-lesion rule off get it turned on in the second
arm too (``largest_component_3d`` true), so that arm is "one lesion, the confident one".

    python docs/results/flair-lesion-core-cpu/evaluate_folds.py RUNS_DIR OUT_DIR    # RUNS_DIR/fold_K/best.pt
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
B15 = ["--data", "../shared/data/samples/brats/brats_2013_pat0001_1", "--format", "brats", "--modality", "flair",
       "--image-glob", "Flair_*", "--label-glob", "OT*", "--empty-fraction", "1", "--split", "all"]
LGG = ["--data", "../shared/data/lgg/kaggle_3m", "--split", "test"]
summary = {}
for fold in sorted(runs.glob("fold_*")):
    ckpt = load_checkpoint(fold / "best.pt")
    core = dict(ckpt)
    core["postprocess"] = {**ckpt["postprocess"], "largest_component_3d": True, "lesion_core_prob": 0.95}
    save_checkpoint(core, out / f"{fold.name}_core.pt")
    row = {"calibrated_postprocess": ckpt["postprocess"]}
    for arm, model in (("calibrated", fold / "best.pt"), ("confident_lesion", out / f"{fold.name}_core.pt")):
        for name, args in (("lgg_test", LGG), ("brats15_flair", B15)):
            dest = out / f"{fold.name}-{arm}-{name}"
            subprocess.run(["tumorseg", "evaluate", "--model", str(model), *args, "--out", str(dest), "--no-progress"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            m = json.loads((dest / "metrics.json").read_text())
            p = m["presence"]
            row[f"{arm}/{name}"] = {"per_volume_dice": m["per_volume"]["mean_dice"],
                                    "patients": {r["patient"]: round(float(r["dice"]), 3)
                                                 for r in csv.DictReader(open(dest / "per_volume.csv"))},
                                    "tumour_found": p["tp"], "tumour_slices": p["n_tumour"],
                                    "tumour_free_marked": p["fp"], "tumour_free": p["n_tumour_free"]}
    summary[fold.name] = row
    print(fold.name, {k: round(v["per_volume_dice"], 4) for k, v in row.items() if isinstance(v, dict) and "per_volume_dice" in v},
          flush=True)
(out / "folds.json").write_text(json.dumps(summary, indent=1))
