"""Per-slice max probability (TTA) of a checkpoint on: figshare val, LGG test negatives, BraTS2015 t1c, BraTS-GLI t1c."""
import sys, numpy as np, json
from tumorseg.data.formats import read_dataset
from tumorseg.data.dataset import load_slices
from tumorseg.inference.predictor import Predictor
from tumorseg.models.checkpoint import load_checkpoint
ck = sys.argv[1]; out = sys.argv[2]
p = Predictor.from_checkpoint(ck, device="cpu", backend="torch")
p.post["tta"] = True
split = load_checkpoint(ck).get("split") or {}
val = set(split.get("val", []))
S = "../shared/data"
sets = {
 "fs-val": [r for r in read_dataset(f"{S}/figshare", "paired") if r.case_id in val],
 "lgg-neg": read_dataset("/work/data/lgg-neg-test", "paired"),
 "lgg6": read_dataset("/work/data/lgg-test6", "lgg", channels="post"),
 "b15": read_dataset(f"{S}/samples/brats/brats_2013_pat0001_1", "brats", modality="t1c", image_glob="T1c_*", label_glob="OT*", labels="1,3,4", empty_fraction=1.0),
}
res = {}
for name, recs in sets.items():
    a = load_slices(recs, p.image_size, progress=False)
    imgs = [p.normalised(im) for im in a.images]
    from tumorseg.inference.predictor import predict_probabilities
    probs = predict_probabilities(p.model, np.stack(imgs), p.device, 16, tta=True)
    mx = probs.reshape(len(probs), -1).max(1)
    area = (probs > p.threshold).reshape(len(probs), -1).sum(1)
    res[name] = {"present": a.masks.any((1, 2)).tolist(), "max": mx.tolist(), "area": area.tolist()}
    pr = a.masks.any((1, 2))
    print(name, "n", len(pr), "tumour", int(pr.sum()), "max-prob pct (tumour)", np.percentile(mx[pr], [10, 50, 90]).round(3) if pr.any() else "-",
          "(free)", np.percentile(mx[~pr], [10, 50, 90]).round(3) if (~pr).any() else "-", flush=True)
json.dump(res, open(out, "w"))
