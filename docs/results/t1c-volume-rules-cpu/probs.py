"""Step 1 of the t1c volume-rule study: the bundled `t1c` model's probabilities (model size, its own TTA setting)
for every slice of the 40 LGG dev patients (post-contrast channel) and the BraTS 2015 sample T1c volume, saved as
float16 with the masks and volume grouping, so that step 2 (`search.py`) can try post-processing rules offline.

    python docs/results/t1c-volume-rules-cpu/probs.py OUT_DIR    # ~3 min on the 2-core VM
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from tumorseg.data import load_slices, read_dataset
from tumorseg.inference import postprocess
from tumorseg.inference.predictor import predict_probabilities
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint

DATA = Path("../shared/data")
SOURCES = {
    "lgg": (DATA / "lgg/kaggle_3m", "lgg", {"channels": "post"}),
    "b15": (DATA / "samples/brats/brats_2013_pat0001_1", "brats",
            {"modality": "t1c", "labels": "1,3,4", "empty_fraction": 1.0, "image_glob": "T1c_*", "label_glob": "OT*"}),
}

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(2)
path = resolve_checkpoint("t1c")
ckpt = load_checkpoint(path)
model = model_from_checkpoint(ckpt, path).eval()
post = postprocess.settings(ckpt)
size = int(ckpt["preprocessing"]["image_size"])
for name, (data, fmt, opts) in SOURCES.items():
    records = read_dataset(data, fmt, **opts)
    arrays = load_slices(records, size, intensity=ckpt["preprocessing"].get("intensity", "none"))
    with torch.inference_mode():
        probs = predict_probabilities(model, arrays.images, "cpu", 32, tta=bool(post["tta"]))
    np.savez_compressed(out / f"{name}.npz", probs=probs.astype(np.float16), masks=arrays.masks,
                        patient=np.array([r.patient for r in records]),
                        slice_index=np.array([-1 if r.slice_index is None else r.slice_index for r in records]))
    print(name, len(records), "slices", int(arrays.masks.reshape(len(records), -1).any(1).sum()), "with tumour")
(out / "post.json").write_text(json.dumps(post, indent=1))
