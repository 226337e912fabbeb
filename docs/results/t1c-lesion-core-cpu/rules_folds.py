"""The t1c recipe's 5 CV fold models (each with its own calibrated threshold and clean-up, one lesion kept) on the
LGG post-contrast volumes and the BraTS 2015 T1c sample: the lesion kept by size (``lesion_core_prob`` 0, as they
store it) against the one with the most voxels of probability ≥ 0.5. From the repository root:

    python rules_folds.py CV_DIR PROBS_DIR     # PROBS_DIR/lgg-fK.npz, b15-fK.npz from probs.py with fold K's best.pt
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np

from tumorseg.inference import postprocess
from tumorseg.models.checkpoint import load_checkpoint

cv, probs = Path(sys.argv[1]), Path(sys.argv[2])
spec = importlib.util.spec_from_file_location("rules", Path(__file__).with_name("rules.py"))
R = importlib.util.module_from_spec(spec)
spec.loader.exec_module(R)
for k in range(5):
    post = postprocess.settings(load_checkpoint(cv / f"fold_{k}" / "best.pt"))
    cap = float(np.load(probs / f"lgg-f{k}.npz")["probs"].max())
    for core in (0.0, 0.5):
        p = {**post, "largest_component_3d": True, "lesion_core_prob": core}
        a, b = R.score(probs / f"lgg-f{k}.npz", p), R.score(probs / f"b15-f{k}.npz", p)
        print(f"fold {k} cap {cap:.3f} thr {post['threshold']} core {core}: LGG FP {a[0]}/{a[1]} found {a[2]}/{a[3]} "
              f"vol {a[4]:.3f} | B15 FP {b[0]}/{b[1]} found {b[2]}/{b[3]} vol {b[4]:.3f}", flush=True)
