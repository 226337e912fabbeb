"""A t1c model's probabilities (as ``evaluate`` computes them: TTA as stored) on the 40 LGG post-contrast volumes or
the BraTS 2015 T1c sample, saved with the truth and the model's own masks, from the repository root:

    python probs.py ../shared/data/lgg/kaggle_3m OUT/lgg.npz lgg [CHECKPOINT]     # default: the bundled t1c
    python probs.py ../shared/data/samples/brats/brats_2013_pat0001_1 OUT/b15.npz brats [CHECKPOINT]
"""
import sys, numpy as np, torch
from tumorseg.data.formats import read_dataset
from tumorseg.data.dataset import load_slices
from tumorseg.models.checkpoint import load_checkpoint, resolve_checkpoint, model_from_checkpoint
from tumorseg.inference.predictor import predict_probabilities
from tumorseg.inference import postprocess
data, out = sys.argv[1], sys.argv[2]
fmt = sys.argv[3] if len(sys.argv) > 3 else "lgg"
opts = {"channels": "post"} if fmt == "lgg" else dict(modality="t1c", image_glob="T1c_*", label_glob="OT*", labels="1,3,4", empty_fraction=1.0)
path = resolve_checkpoint(sys.argv[4] if len(sys.argv) > 4 else "t1c"); ck = load_checkpoint(path); m = model_from_checkpoint(ck, path)
recs = read_dataset(data, fmt, **opts)
arr = load_slices(recs, int(ck["preprocessing"]["image_size"]), progress=False)
post = postprocess.settings(ck)
probs = predict_probabilities(m, arr.images, "cpu", 16, tta=bool(post["tta"]))
preds = postprocess.apply_records(probs, post, arr.records)
np.savez_compressed(out, probs=probs.astype(np.float16), masks=arr.masks, preds=preds,
                    patient=np.array([r.patient for r in arr.records]), z=np.array([r.slice_index for r in arr.records]))
t = arr.masks.reshape(len(preds), -1).any(1); p = preds.reshape(len(preds), -1).any(1)
print("slices", len(preds), "tumour-free marked", int((p & ~t).sum()), "of", int((~t).sum()), "tumour found", int((p & t).sum()), "of", int(t.sum()))
