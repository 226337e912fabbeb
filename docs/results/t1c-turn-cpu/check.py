"""Checks of a `t1c` drawing member (A) trained with 90-degree turns and transposes (`--augment mri-turn`) on CV fold
0, against the same recipe with `mri` (docs/results/t1c-longer-a-cpu/fold_0/a9, its checkpoint not kept):

1. its fold-0 figshare test slices (526, patients it never saw) as stored, transposed, turned 90 degrees and
   flipped up-down: mean per-image Dice through `tumorseg.api` (the checkpoint's calibrated post-processing; the
   shipped `t1c` under the same turns: ../orientation-cpu/results.json);
2. the labelled BraTS 2015 T1c sample (tumour core, labels 1, 3, 4) read as stored (NIfTI: x = L, y = P) and in the
   radiological view (`preprocessing["view"] = "display"`), per-volume Dice by `evaluate` (every brain slice).

    python docs/results/t1c-turn-cpu/check.py RUN_DIR WORKDIR     # -> results.json beside this file
"""

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import tumorseg.api as api
from tumorseg.evaluation.evaluate import evaluate
from tumorseg.models.checkpoint import load_checkpoint, save_checkpoint

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
run, work = Path(sys.argv[1]), Path(sys.argv[2])
work.mkdir(parents=True, exist_ok=True)
split = json.loads((run / "split.json").read_text()) if (run / "split.json").exists() else None
test = split["test"] if split else json.loads(Path("/work/exp/turn/fold_0.json").read_text())["test"]
ops = {"as stored": (lambda x: x, lambda x: x), "transposed": (lambda x: x.T, lambda x: x.T),
       "rotated 90 degrees": (np.rot90, lambda x: np.rot90(x, -1)), "flipped up-down": (np.flipud, np.flipud)}
results = {"run": str(run), "test_slices": len(test), "figshare_fold0_test": {}, "brats15_t1c_core": {}}
for name, model in (("mri-turn A (fold 0)", run / "best.pt"),):
    seg = api.load(str(model))
    scores = {k: [] for k in ops}
    for case in test:
        image = np.asarray(Image.open(DATA / "figshare" / "images" / f"{case}.png").convert("L"))
        mask = np.asarray(Image.open(DATA / "figshare" / "masks" / f"{case}.png").convert("L")) > 127
        for k, (f, back) in ops.items():
            pred = back(seg.segment(np.ascontiguousarray(f(image)))) > 0
            total = pred.sum() + mask.sum()
            scores[k].append(1.0 if total == 0 else 2 * (pred & mask).sum() / total)
    results["figshare_fold0_test"][name] = {k: round(float(np.mean(v)), 4) for k, v in scores.items()}
    print(name, results["figshare_fold0_test"][name], flush=True)
ckpt = load_checkpoint(run / "best.pt")
ckpt["preprocessing"]["view"] = "display"
save_checkpoint(ckpt, work / "display.pt")
for name, model in (("mri-turn A, as stored", run / "best.pt"), ("mri-turn A, radiological view", work / "display.pt")):
    summary = evaluate(model, DATA / "samples" / "brats" / "brats_2013_pat0001_1", work / name.replace(" ", "_"),
                       data_format="brats", split="all", progress=False,
                       data_options={"modality": "t1c", "labels": "1,3,4", "empty_fraction": 1.0})
    results["brats15_t1c_core"][name] = {"per_volume_dice": round(summary["per_volume"]["mean_dice"], 4),
                                         "sensitivity": summary["presence"]["sensitivity"],
                                         "specificity": summary["presence"]["specificity"]}
    print(name, results["brats15_t1c_core"][name], flush=True)
(Path(__file__).parent / "results.json").write_text(json.dumps(results, indent=1) + "\n")
