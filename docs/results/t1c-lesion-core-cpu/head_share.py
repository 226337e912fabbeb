"""How much of the head's cross-section do t1c's marks cover, against real tumours? On figshare (truth), the 40 LGG
post-contrast volumes and the BraTS 2015 T1c sample (the shipped t1c's marks from probs.py's stored probabilities;
head = the filled silhouette of pixels brighter than postprocess.SIGNAL_LEVEL at 256²). From the repository root:

    python docs/results/t1c-lesion-core-cpu/head_share.py OUT           # volumes, with the shipped volume rules
    python docs/results/t1c-lesion-core-cpu/head_share.py OUT single    # each slice on its own
(OUT: where probs.py wrote lgg.npz and b15.npz)
"""
import sys, numpy as np
from scipy import ndimage
from tumorseg.inference import postprocess
from tumorseg.models.checkpoint import load_checkpoint, resolve_checkpoint
from tumorseg.data.formats import read_dataset
from tumorseg.data.dataset import load_slices

def head(img):
    fg = img > postprocess.SIGNAL_LEVEL
    return ndimage.binary_fill_holes(fg)

post = postprocess.settings(load_checkpoint(resolve_checkpoint("t1c")))
if len(sys.argv) > 2: post["largest_component_3d"] = False
q = lambda a: np.percentile(a, [50, 90, 99, 100]).round(3) if len(a) else []
# figshare truth
recs = read_dataset("../shared/data/figshare", "paired")
arr = load_slices(recs, 256, progress=False)
r = np.array([m.sum() / max(head(im).sum(), 1) for im, m in zip(arr.images, arr.masks)])
print("figshare truth/head", q(r), "n>0.3", (r > 0.3).sum(), "n>0.4", (r > 0.4).sum(), "n>0.5", (r > 0.5).sum(), len(r))
for name, npz, data, fmt, opts in (("lgg", f"{sys.argv[1]}/lgg.npz", "../shared/data/lgg/kaggle_3m", "lgg", {"channels": "post"}),
                                   ("b15", f"{sys.argv[1]}/b15.npz", "../shared/data/samples/brats/brats_2013_pat0001_1", "brats",
                                    dict(modality="t1c", image_glob="T1c_*", label_glob="OT*", labels="1,3,4", empty_fraction=1.0))):
    d = np.load(npz); recs = read_dataset(data, fmt, **opts); arr = load_slices(recs, 256, progress=False)
    assert [x.patient for x in arr.records] == list(d["patient"])
    pred = postprocess.apply_records(d["probs"].astype(np.float32), post, arr.records)
    t = arr.masks.reshape(len(pred), -1).any(1); p = pred.reshape(len(pred), -1).any(1)
    hs = np.array([head(im).sum() for im in arr.images])
    ratio = pred.reshape(len(pred), -1).sum(1) / np.maximum(hs, 1)
    tr = arr.masks.reshape(len(pred), -1).sum(1) / np.maximum(hs, 1)
    print(name, "pred/head on FP slices", q(ratio[p & ~t]), "on TP slices", q(ratio[p & t]), "truth/head", q(tr[t]))
    for f in (0.3, 0.4, 0.5, 0.6):
        print(f"  drop slices with pred/head > {f}: FP removed {int(((ratio > f) & p & ~t).sum())} of {int((p & ~t).sum())}, TP removed {int(((ratio > f) & p & t).sum())} of {int((p & t).sum())}")
