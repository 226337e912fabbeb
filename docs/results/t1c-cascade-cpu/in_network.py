"""The in-network version of "B decides": ``Ensemble(combine="agree")`` with radius 255 (anywhere in the slice) and
B's own calibrated threshold, from the probabilities ``../t1c-agree-cpu/search.py --cache`` kept (each TTA flip gated
by that flip's B, then averaged, then A's post-processing). Prints val and test scores per fold.

usage: python docs/results/t1c-cascade-cpu/in_network.py W     (W: the search's folder, fold_K.json + probs_K_*.npz)
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "t1c-agree-cpu"))
from search import combine, score  # noqa: E402

from tumorseg.inference.postprocess import apply  # noqa: E402

w = Path(sys.argv[1])
for k in (2, 3, 4):
    r = json.loads((w / f"fold_{k}.json").read_text())
    thr = r["post_b"]["threshold"]
    for part in ("val", "test"):
        z = np.load(w / f"probs_{k}_{part}.npz")
        s = score(apply(combine(z["pa"], z["pb"], thr, 255), r["post_a"]), z["truth"])
        print(k, part, "B threshold", thr, {a: round(b, 4) if isinstance(b, float) else b for a, b in s.items()})
