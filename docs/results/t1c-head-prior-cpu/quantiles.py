"""Peak probability per slice (tumour / tumour-free) from the probabilities gate.py stored: OUT.{set}.npz.

    python quantiles.py gate-prior gate-base     # -> prints one JSON object per model
"""
import json, sys
import numpy as np

for stem in sys.argv[1:]:
    out = {}
    for name in ("figshare_val", "lgg", "brats15"):
        d = np.load(f"{stem}.{name}.npz")
        peak = d["probs"].astype(np.float32).reshape(len(d["probs"]), -1).max(1)
        t = d["masks"].reshape(len(peak), -1).any(1)
        out[name] = {f"{'tumour' if want else 'tumour_free'}": {f"q{int(q * 100)}": round(float(np.quantile(peak[t == want], q)), 4)
                                                                for q in (0.02, 0.1, 0.5, 0.9)}
                     for want in (True, False) if (t == want).any()}
    print(json.dumps({stem: out}))
