"""Per-slice features of the cascade's two members, from ``../t1c-agree-cpu/search.py``'s probability caches.

usage: python docs/results/t1c-decide-rules-cpu/features.py CACHE_DIR OUT_DIR K [K ...]

CACHE_DIR holds the search's ``fold_K.json`` and ``probs_K_{val,test}.npz`` (A = the drawing member, B = the deciding
member, three flips each, float16 (3, N, 256, 256)); writes ``OUT_DIR/feat_K_{val,test}.npz`` with, per slice:
``pos`` (tumour in the truth), ``dice_a`` (Dice of A's post-processed mask), ``area_a`` (its px), ``peak_a``,
``b_marks`` (B's own post-processed output is not empty: the shipped cascade's decision), ``peak_b``,
``peak_b_in_a`` / ``mean_b_in_a`` (B's highest / mean flip-averaged probability inside A's mask; 0 when A's mask is
empty).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from tumorseg.evaluation.metrics import dice_iou
from tumorseg.inference.postprocess import apply


def features(cache: Path, k: int, part: str) -> dict[str, np.ndarray]:
    r = json.loads((cache / f"fold_{k}.json").read_text())
    ids = json.loads(Path(r["split"]).read_text())[part]
    z = np.load(cache / f"probs_{k}_{part}.npz")
    truth = z["truth"]
    pa = z["pa"].astype(np.float32).mean(0)
    pb = z["pb"].astype(np.float32).mean(0)
    ma, mb = apply(pa, r["post_a"]), apply(pb, r["post_b"])
    d, _ = dice_iou(torch.from_numpy(ma), torch.from_numpy(truth))
    n = len(ids)
    flat = ma.reshape(n, -1)
    in_a = np.where(ma, pb, 0).reshape(n, -1)
    return dict(ids=np.array(ids), pos=truth.reshape(n, -1).any(1), dice_a=np.asarray(d), area_a=flat.sum(1),
                peak_a=pa.reshape(n, -1).max(1), b_marks=mb.reshape(n, -1).any(1), peak_b=pb.reshape(n, -1).max(1),
                peak_b_in_a=in_a.max(1), mean_b_in_a=in_a.sum(1) / np.maximum(flat.sum(1), 1))


if __name__ == "__main__":
    cache, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for k in map(int, sys.argv[3:]):
        for part in ("val", "test"):
            np.savez(out / f"feat_{k}_{part}.npz", **features(cache, k, part))
            print(k, part, flush=True)
