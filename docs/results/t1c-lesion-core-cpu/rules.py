"""The shipped t1c's volume rules on stored probabilities (probs.py): LGG post-contrast volumes (all 40 patients and
two seeded halves of 20) and the BraTS 2015 T1c sample, for several ``lesion_core_prob`` values.

    python rules.py PROBS_DIR/lgg.npz PROBS_DIR/b15.npz      # from the repository root
"""
import sys, numpy as np
from tumorseg.inference import postprocess
from tumorseg.models.checkpoint import load_checkpoint, resolve_checkpoint

base = postprocess.settings(load_checkpoint(resolve_checkpoint("t1c")))

from tumorseg.data.formats import read_dataset
RECS = {"lgg": read_dataset("../shared/data/lgg/kaggle_3m", "lgg", channels="post"),
        "b15": read_dataset("../shared/data/samples/brats/brats_2013_pat0001_1", "brats", modality="t1c", image_glob="T1c_*",
                            label_glob="OT*", labels="1,3,4", empty_fraction=1.0)}

def score(npz, post, keep=None):
    d = np.load(npz); allrecs = RECS["b15" if "b15" in str(npz) else "lgg"]; probs = d["probs"].astype(np.float32); masks = d["masks"]; pat = d["patient"]; z = d["z"]
    sel = np.ones(len(pat), bool) if keep is None else np.isin(pat, keep)
    assert [r.patient for r in allrecs] == list(pat)
    recs = [r for r, k in zip(allrecs, sel) if k]
    preds = postprocess.apply_records(probs[sel], post, recs)
    m = masks[sel]; t = m.reshape(len(m), -1).any(1); p = preds.reshape(len(preds), -1).any(1)
    vols = []
    for q in np.unique(pat[sel]):
        i = pat[sel] == q
        inter = (preds[i] & m[i]).sum(); s = preds[i].sum() + m[i].sum()
        vols.append(2 * inter / s if s else 1.0)
    return int((p & ~t).sum()), int((~t).sum()), int((p & t).sum()), int(t.sum()), float(np.mean(vols))

if __name__ == "__main__":
    lgg, b15 = sys.argv[1], sys.argv[2]
    pats = np.unique(np.load(lgg)["patient"]); rng = np.random.default_rng(0); rng.shuffle(pats)
    halves = {"A": pats[:20], "B": pats[20:]}
    for core in (0.0, 0.45, 0.5, 0.55, 0.57, 0.58, 0.585, 0.589, 0.95):
        post = {**base, "lesion_core_prob": core}
        row = [f"core {core:5.3f}"]
        for h, keep in halves.items():
            fp, nf, tp, nt, vd = score(lgg, post, keep); row.append(f"LGG-{h}: FP {fp}/{nf} found {tp}/{nt} vol {vd:.3f}")
        fp, nf, tp, nt, vd = score(lgg, post); row.append(f"LGG-all: FP {fp}/{nf} found {tp}/{nt} vol {vd:.3f}")
        fp, nf, tp, nt, vd = score(b15, post); row.append(f"B15: FP {fp}/{nf} found {tp}/{nt} vol {vd:.3f}")
        print(" | ".join(row), flush=True)
