"""The `--ema` fold models with the shipped `flair`'s lesion rule forced (`largest_component_3d`, `lesion_core_prob`
0.95), as ../flair-lesion-core-cpu/evaluate_folds.py scored the shipped recipe's fold models; only the folds whose
own calibration left the rule off (for the others it is their calibrated result). Their LGG test patients.

    python docs/results/flair-ema-cpu/confident_lesion.py EMA_RUNS OUT K [K ...]   # -> OUT/fold_K/metrics.json
"""

import subprocess
import sys
from pathlib import Path

from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
procs = []
for k in sys.argv[3:]:
    ckpt = load_checkpoint(runs / f"fold_{k}" / "best.pt")
    ckpt["postprocess"] = {**ckpt["postprocess"], "largest_component_3d": True, "lesion_core_prob": 0.95}
    save_checkpoint(ckpt, out / f"fold_{k}_core.pt")
    procs.append(subprocess.Popen(["tumorseg", "evaluate", "--model", str(out / f"fold_{k}_core.pt"), "--data",
                                   "../shared/data/lgg/kaggle_3m", "--split", "test", "--out", str(out / f"fold_{k}"),
                                   "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
for p in procs:
    p.wait()
