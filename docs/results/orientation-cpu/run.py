"""How much the bundled models care about a slice's in-plane orientation (2-core CPU): (1) the labelled BraTS 2015
sample stored as distributed (x, y axes: L, P), with its x and y axes swapped (slices transposed: anterior up, as a
DICOM series or a figshare slice is laid out), and flipped along x or along y (the affine adjusted each time, so
every variant is the same scan), each predicted by the bundled model and scored per volume (`flair`: whole tumour;
`t1c`: tumour core, labels 1, 3, 4); (2) `t1c` on 60 random figshare dev slices (seed 0; slices it was trained on,
so only the differences mean something) as stored, transposed, rotated 90 degrees and flipped.

    python docs/results/orientation-cpu/run.py /tmp/orient     # -> docs/results/orientation-cpu/results.json
"""

import csv
import json
import random
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

import tumorseg.api as api
from tumorseg.evaluation.score import score_files
from tumorseg.inference.files import predict_inputs

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
CASE = DATA / "samples" / "brats" / "brats_2013_pat0001_1"
work = Path(sys.argv[1])
work.mkdir(parents=True, exist_ok=True)
results = {"brats15": [], "figshare_t1c": {}}
labels = np.asarray(nib.load(CASE / "OTMultiClass.nii.gz").dataobj)
for model, image in (("flair", "Flair_subtrMeanDivStd.nii.gz"), ("t1c", "T1c_subtrMeanDivStd.nii.gz")):
    img = nib.load(CASE / image)
    vol, aff = np.asarray(img.dataobj), img.affine
    truth = (labels > 0) if model == "flair" else np.isin(labels, (1, 3, 4))
    swap, flip_x, flip_y = np.eye(4), np.eye(4), np.eye(4)
    swap[:2, :2] = [[0, 1], [1, 0]]
    flip_x[0, 0], flip_x[0, 3] = -1, vol.shape[0] - 1
    flip_y[1, 1], flip_y[1, 3] = -1, vol.shape[1] - 1
    variants = {"as distributed": (lambda a: a, np.eye(4)), "x and y swapped": (lambda a: a.transpose(1, 0, 2), swap),
                "flipped along x": (lambda a: a[::-1], flip_x), "flipped along y": (lambda a: a[:, ::-1], flip_y)}
    for name, (f, m) in variants.items():
        stem = f"{model}_{name.replace(' ', '-')}"
        nib.save(nib.Nifti1Image(np.ascontiguousarray(f(vol)), aff @ m), work / f"{stem}.nii.gz")
        nib.save(nib.Nifti1Image(np.ascontiguousarray(f(truth)).astype(np.uint8), aff @ m), work / f"{stem}_seg.nii.gz")
        predict_inputs([work / f"{stem}.nii.gz"], model, work / "out", progress=False)
        rows = score_files(work / "out" / f"{stem}_mask.nii.gz", work / f"{stem}_seg.nii.gz", progress=False).rows
        dice = 2 * sum(r["intersection_px"] for r in rows) / sum(r["predicted_area_px"] + r["tumour_area_px"] for r in rows)
        row = {"model": model, "variant": name, "axcodes": "".join(nib.aff2axcodes(aff @ m)),
               "per_volume_dice": round(dice, 4),
               "tumour_slices_found": sum(r["predicted_area_px"] > 0 for r in rows if r["tumour_area_px"] > 0)}
        results["brats15"].append(row)
        print(row, flush=True)

seg = api.load("t1c")
dev = [r for r in csv.DictReader(open(DATA / "figshare" / "metadata.csv")) if r["split"] == "dev"]
random.seed(0)
ops = {"as stored": (lambda x: x, lambda x: x), "transposed": (lambda x: x.T, lambda x: x.T),
       "rotated 90 degrees": (np.rot90, lambda x: np.rot90(x, -1)), "flipped up-down": (np.flipud, np.flipud),
       "flipped left-right": (np.fliplr, np.fliplr)}
scores = {k: [] for k in ops}
for r in random.sample(dev, 60):
    image = np.asarray(Image.open(DATA / "figshare" / "images" / f"{r['index']}.png").convert("L"))
    mask = np.asarray(Image.open(DATA / "figshare" / "masks" / f"{r['index']}.png").convert("L")) > 127
    for k, (f, back) in ops.items():
        pred = back(seg.segment(np.ascontiguousarray(f(image)))) > 0
        total = pred.sum() + mask.sum()
        scores[k].append(1.0 if total == 0 else 2 * (pred & mask).sum() / total)
results["figshare_t1c"] = {k: round(float(np.mean(v)), 4) for k, v in scores.items()}
print(results["figshare_t1c"])
(Path(__file__).parent / "results.json").write_text(json.dumps(results, indent=1) + "\n")
