"""What a model of neighbouring slices loses when it sees one slice alone (no neighbours: a FLAIR PNG, one upload).

Each fold model of ``RUNS_DIR/fold_K/best.pt`` on its own test patients, per slice (the volume rules off, the rest
of its calibrated post-processing on), twice: with the slices' real neighbours, and with every slice as its own
context (all channels the slice itself, as ``tumorseg predict`` feeds a single image).

    python docs/results/flair-context-cpu/single_slices.py RUNS_DIR OUT_JSON
"""

import json
import sys
from pathlib import Path

import numpy as np

from tumorseg.data import load_slices, read_dataset
from tumorseg.data.context import with_context
from tumorseg.data.dataset import SliceArrays
from tumorseg.evaluation.evaluate import cases_to_score, score_arrays
from tumorseg.inference.postprocess import settings
from tumorseg.models.checkpoint import load_checkpoint, model_from_checkpoint

LGG = "../shared/data/lgg/kaggle_3m"
runs, out = Path(sys.argv[1]), Path(sys.argv[2])
records = read_dataset(LGG, "lgg", channels="flair")
result = {}
for fold in sorted(p for p in runs.glob("fold_*") if (p / "best.pt").is_file()):
    ckpt = load_checkpoint(fold / "best.pt")
    k = int(ckpt["preprocessing"].get("context_slices", 0))
    test, _ = cases_to_score(records, ckpt, "test", fold / "best.pt", LGG)
    arrays = load_slices(test, 256, progress=False, intensity=ckpt["preprocessing"]["intensity"])
    post = {**settings(ckpt), "largest_component_3d": False, "z_smooth": 0.0, "hysteresis_prob": 0.0}
    model = model_from_checkpoint(ckpt)
    row = {}
    for arm, inputs in (("neighbours", with_context(arrays, k)),
                        ("alone", SliceArrays(np.repeat(arrays.images[:, None], 2 * k + 1, 1), arrays.masks, test))):
        rows, preds = score_arrays(model, inputs, "cpu", post=post, distances=False)
        tumour = [r for r in rows if r["tumour_area_px"] > 0]
        free = [r for r in rows if r["tumour_area_px"] == 0]
        row[arm] = {"tumour_slice_dice": round(float(np.mean([r["dice"] for r in tumour])), 4),
                    "tumour_slices_found": sum(r["predicted_area_px"] > 0 for r in tumour), "tumour_slices": len(tumour),
                    "tumour_free_marked": sum(r["predicted_area_px"] > 0 for r in free), "tumour_free": len(free)}
    result[fold.name] = row
    print(fold.name, row, flush=True)
out.write_text(json.dumps(result, indent=1))
