"""Does a t1c model's confidence tell tumour-free slices from tumour slices? For a fold model: its probabilities (TTA
as calibrated) on its figshare val slices, the 40 LGG post-contrast volumes and the BraTS 2015 T1c sample; then a
presence gate (slice kept only if its peak probability >= g) chosen on the figshare val slices alone — the highest g
that keeps >= KEEP of them found — and its effect on LGG / BraTS, one slice at a time and as volumes (one-lesion rule).

    python docs/results/t1c-head-prior-cpu/gate.py RUN_DIR OUT.json [KEEP=0.98]
"""
import json, sys
import numpy as np
from tumorseg.data.formats import read_dataset
from tumorseg.data.dataset import load_slices
from tumorseg.data.splits import load_split
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint
from tumorseg.inference.predictor import predict_probabilities
from tumorseg.inference import postprocess
from pathlib import Path

run, out = Path(sys.argv[1]), sys.argv[2]
keep = float(sys.argv[3]) if len(sys.argv) > 3 else 0.98
ck = load_checkpoint(run / "best.pt"); m = model_from_checkpoint(ck, run / "best.pt")
post = postprocess.settings(ck)
size = int(ck["preprocessing"]["image_size"])
val_ids = set(load_split(run / "split.json")["val"])
sets = {
    "figshare_val": [r for r in read_dataset("../shared/data/figshare", "auto") if r.case_id in val_ids],
    "lgg": read_dataset("../shared/data/lgg/kaggle_3m", "lgg", channels="post"),
    "brats15": read_dataset("../shared/data/samples/brats/brats_2013_pat0001_1", "brats", modality="t1c",
                            image_glob="T1c_*", label_glob="OT*", labels="1,3,4", empty_fraction=1.0),
}
data = {}
for name, recs in sets.items():
    arr = load_slices(recs, size, progress=False)
    probs = predict_probabilities(m, arr.images, "cpu", 16, tta=bool(post["tta"]))
    data[name] = (probs, arr.masks, arr.records)
    np.savez_compressed(Path(out).with_suffix(f".{name}.npz"), probs=probs.astype(np.float16), masks=arr.masks)


def score(name, settings, volumes):
    probs, masks, recs = data[name]
    s = {**settings, "largest_component_3d": bool(volumes)}
    preds = postprocess.apply_records(probs, s, recs) if volumes else postprocess.apply_records(
        probs, {**s, "largest_component_3d": False}, recs)
    t = masks.reshape(len(masks), -1).any(1); p = preds.reshape(len(preds), -1).any(1)
    res = {"tumour_found": int((p & t).sum()), "tumour_slices": int(t.sum()),
           "tumour_free_marked": int((p & ~t).sum()), "tumour_free": int((~t).sum())}
    if volumes:
        dice = []
        pats = np.array([r.patient for r in recs])
        for q in np.unique(pats):
            i = pats == q
            den = preds[i].sum() + masks[i].sum()
            dice.append(float(2 * (preds[i] & masks[i]).sum() / den) if den else 1.0)
        res["per_volume_dice"] = float(np.mean(dice))
    return res


peaks = {n: data[n][0].reshape(len(data[n][0]), -1).max(1) for n in data}
report = {"run": str(run), "keep": keep, "postprocess": post,
          "peak_quantiles": {}}
for n, v in peaks.items():  # peak probability of tumour / tumour-free slices
    t = data[n][1].reshape(len(v), -1).any(1)
    report["peak_quantiles"][n] = {f"{'tumour' if want else 'tumour_free'}_q{int(q * 100)}": float(np.quantile(v[t == want], q))
                                   for want in (True, False) if (t == want).any() for q in (0.02, 0.1, 0.5, 0.9)}
grid = [0.0] + [round(g, 3) for g in np.arange(0.5, 1.0, 0.01)] + [0.995, 0.999]
chosen = 0.0
for g in grid:
    r = score("figshare_val", {**post, "presence_prob": max(g, post.get("presence_prob", 0.0))}, False)
    if r["tumour_found"] >= keep * r["tumour_slices"]:
        chosen = g
report["gate"] = chosen
for label, g in (("as_calibrated", post.get("presence_prob", 0.0)), ("gated", chosen)):
    s = {**post, "presence_prob": max(g, post.get("presence_prob", 0.0))}
    report[label] = {"figshare_val_slices": score("figshare_val", s, False),
                     "lgg_slices": score("lgg", s, False), "lgg_volumes": score("lgg", s, True),
                     "brats15_volume": score("brats15", s, True)}
Path(out).write_text(json.dumps(report, indent=1))
print(json.dumps(report, indent=1))
