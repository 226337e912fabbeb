"""`evaluate` gives a volume's slices the field of view `predict` gives them: the BraTS 2015 sample's FLAIR (`flair`,
whole tumour) and T1c (`t1c`, tumour core) as distributed, cropped to the brain and padded to 320 mm, scored by
`tumorseg evaluate --split all --empty-fraction 1` (every brain slice) and by `tumorseg predict` + `tumorseg score`
on the same slices. Per-volume Dice of each, and `evaluate` with the window turned off (FOV_MM = 0: what it did
before). Run from the repository root: python docs/results/field-of-view-cpu/evaluate_agrees.py WORKDIR
(writes evaluate_agrees.json beside this file)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from tumorseg.evaluation.evaluate import evaluate
from tumorseg.evaluation.score import score_files
from tumorseg.inference import field_of_view
from tumorseg.inference.files import predict_inputs

CASE = Path(__file__).resolve().parents[4] / "shared" / "data" / "samples" / "brats" / "brats_2013_pat0001_1"
work = Path(sys.argv[1])
truth = np.asarray(nib.load(CASE / "OTMultiClass.nii.gz").dataobj)
rows = []
for model, image, labels in (("flair", "Flair_subtrMeanDivStd.nii.gz", None),
                             ("t1c", "T1c_subtrMeanDivStd.nii.gz", "1,3,4")):
    img = nib.load(CASE / image)
    vol = np.asarray(img.dataobj)
    xs, ys = (np.where((vol > vol.min()).any(axis=tuple(j for j in range(3) if j != i)))[0] for i in (0, 1))
    for crop in ("as distributed", "cropped to the brain", "padded to 320 mm"):
        case = work / model / crop.replace(" ", "-") / "case"
        case.mkdir(parents=True, exist_ok=True)
        affine = img.affine.copy()
        if crop == "padded to 320 mm":
            image_v = np.pad(vol, ((40, 40), (40, 40), (0, 0)), constant_values=vol.min())
            seg = np.pad(truth, ((40, 40), (40, 40), (0, 0)))
            affine[:3, 3] -= affine[:3, :3] @ np.array([40, 40, 0])
        elif crop == "cropped to the brain":
            sx, sy = slice(xs[0], xs[-1] + 1), slice(ys[0], ys[-1] + 1)
            image_v, seg = vol[sx, sy], truth[sx, sy]
            affine[:3, 3] += affine[:3, :3] @ np.array([sx.start, sy.start, 0])
        else:
            image_v, seg = vol, truth
        nib.save(nib.Nifti1Image(image_v, affine, img.header), case / f"{'Flair' if model == 'flair' else 'T1c'}_case.nii.gz")
        nib.save(nib.Nifti1Image(seg.astype(np.uint8), affine), case / "OTMultiClass.nii.gz")
        row = {"model": model, "input": crop, "in-plane px": [int(image_v.shape[0]), int(image_v.shape[1])]}
        opts = {"empty_fraction": 1.0, **({"labels": labels} if labels else {})}
        for arm, fov in (("evaluate", 240.0), ("evaluate, no window (before)", 0.0)):
            field_of_view.FOV_MM = fov
            summary = evaluate(model, case.parent, case.parent / f"ev-{int(fov)}", split="all", data_options=opts,
                               progress=False)
            row[arm] = round(summary["per_volume"]["mean_dice"], 4) if "per_volume" in summary else summary
        field_of_view.FOV_MM = 240.0
        out = case.parent / "pred"
        predict_inputs([case], model, out, progress=False)
        target = (seg > 0) if labels is None else np.isin(seg, (1, 3, 4))
        nib.save(nib.Nifti1Image(target.astype(np.uint8), affine), case.parent / "target.nii.gz")
        scored = score_files(next(out.glob("*_mask.nii.gz")), case.parent / "target.nii.gz", progress=False)
        # pooled over every slice: those without brain hold neither tumour nor prediction (predict skips them)
        row["predict + score"] = round(2 * sum(r["intersection_px"] for r in scored.rows) / max(
            1, sum(r["predicted_area_px"] + r["tumour_area_px"] for r in scored.rows)), 4)
        rows.append(row)
        print(row, flush=True)
(Path(__file__).parent / "evaluate_agrees.json").write_text(json.dumps(rows, indent=1) + "\n")
