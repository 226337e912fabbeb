"""Multi-scale test-time augmentation on the t1c recipe's CV fold models (figshare test folds): the network run on the
256² slice upsampled to S (bilinear), probabilities resized back, averaged with the usual flip TTA at 256²
(each scale with the fold's flip TTA too). Per-image Dice with each fold's calibrated post-processing. From the
repository root:

    python docs/results/t1c-multiscale-tta-cpu/mstta.py CV_DIR 224,288 0 OUT.json     # CV_DIR/fold_K/{best.pt,split.json}
"""
import json, sys, time, numpy as np, torch
import torch.nn.functional as F
from tumorseg.data.formats import read_dataset
from tumorseg.data.dataset import load_slices
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint
from tumorseg.inference.predictor import predict_probabilities
from tumorseg.inference import postprocess

torch.set_num_threads(2)
cv = sys.argv[1]; scales = [int(s) for s in sys.argv[2].split(",")]; folds = [int(k) for k in sys.argv[3].split(",")]
recs = read_dataset("../shared/data/figshare", "paired")
by_id = {r.case_id: r for r in recs}
out = {}
for k in folds:
    path = f"{cv}/fold_{k}/best.pt"; ck = load_checkpoint(path); m = model_from_checkpoint(ck, path)
    post = postprocess.settings(ck)
    test = [by_id[i] for i in json.load(open(f"{cv}/fold_{k}/split.json"))["test"]]
    arr = load_slices(test, 256, progress=False)
    t0 = time.time()
    probs = {256: predict_probabilities(m, arr.images, "cpu", 16, tta=bool(post["tta"]))}
    for s in scales:
        x = torch.from_numpy(arr.images).float().unsqueeze(1)
        up = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False).round().clamp(0, 255).byte().squeeze(1).numpy()
        p = predict_probabilities(m, up, "cpu", 16, tta=bool(post["tta"]))
        probs[s] = F.interpolate(torch.from_numpy(p).unsqueeze(1), size=(256, 256), mode="bilinear", align_corners=False).squeeze(1).numpy()
    truth = arr.masks
    cls = np.array([r.label for r in test]); area = truth.reshape(len(truth), -1).sum(1)
    def dice(pr):
        pred = postprocess.apply(pr, post)
        inter = (pred & truth).reshape(len(pred), -1).sum(1); s = pred.reshape(len(pred), -1).sum(1) + area
        return np.where(s > 0, 2 * inter / np.maximum(s, 1), 1.0)
    variants = {"base": probs[256]}
    for s in scales:
        variants[f"only{s}"] = probs[s]
        variants[f"base+{s}"] = (probs[256] + probs[s]) / 2
    if len(scales) > 1:
        variants["all"] = sum(probs.values()) / len(probs)
    row = {}
    for name, pr in variants.items():
        d = dice(pr); row[name] = {"dice": float(d.mean()), **{c: float(d[cls == c].mean()) for c in np.unique(cls)}}
    out[k] = row
    print(k, f"{time.time() - t0:.0f}s", {n: round(v["dice"], 4) for n, v in row.items()}, flush=True)
    json.dump(out, open(sys.argv[4], "w"), indent=1)
names = list(out[folds[0]])
for n in names:
    ds = [out[k][n]["dice"] for k in folds]
    print(n, "mean over folds", round(float(np.mean(ds)), 4), [round(x, 4) for x in ds])
