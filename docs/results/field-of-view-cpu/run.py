"""Volumes cropped to the brain: each bundled model on the labelled BraTS 2015 sample (FLAIR -> `flair`, T1c -> `t1c`)
as distributed (240 x 240 mm), cropped in-plane to the brain's bounding box, cropped on one axis only (non-square),
cropped to a 220 mm field of view (a common clinical one; the brain lies inside it), and padded with background to
280, 320 and 400 mm (a large field of view), each predicted brought to 240 mm (tumorseg.inference.field_of_view:
padded, or cropped around the head) and as it is (FOV_MM = 0), scored against the whole tumour (`flair`) or the
tumour core, labels 1, 3, 4 (`t1c`), as the model cards score this case. Nothing is tuned here: FOV_MM = 240 mm is
the training data's field of view.

    python docs/results/field-of-view-cpu/run.py /tmp/fov    # -> docs/results/field-of-view-cpu/results.json
"""

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from tumorseg.evaluation.score import score_files
from tumorseg.inference import field_of_view
from tumorseg.inference.files import predict_inputs

CASE = Path(__file__).resolve().parents[4] / "shared" / "data" / "samples" / "brats" / "brats_2013_pat0001_1"
work = Path(sys.argv[1])
work.mkdir(parents=True, exist_ok=True)
truth = np.asarray(nib.load(CASE / "OTMultiClass.nii.gz").dataobj)
results = {"fov_mm": field_of_view.FOV_MM, "case": CASE.name, "rows": []}
for model, image in (("flair", "Flair_subtrMeanDivStd.nii.gz"), ("t1c", "T1c_subtrMeanDivStd.nii.gz")):
    img = nib.load(CASE / image)
    vol = np.asarray(img.dataobj)
    brain = vol > vol.min()
    xs, ys = (np.where(brain.any(axis=tuple(j for j in range(3) if j != i)))[0] for i in (0, 1))
    crops = {"as distributed": (slice(None), slice(None)),
             "cropped to the brain": (slice(xs[0], xs[-1] + 1), slice(ys[0], ys[-1] + 1)),
             "cropped on one axis": (slice(xs[0], xs[-1] + 1), slice(None)),
             "cropped to 220 mm (the brain whole)": (slice(10, 230), slice(10, 230)),
             **{f"padded to {mm} mm": -(mm - 240) // -2 for mm in (280, 320, 400)}}  # background around it
    target = truth > 0 if model == "flair" else np.isin(truth, (1, 3, 4))  # whole tumour / tumour core
    for crop, window in crops.items():
        folder = work / model / crop.split(" (")[0].replace(" ", "-")
        folder.mkdir(parents=True, exist_ok=True)
        affine = img.affine.copy()
        if isinstance(window, int):  # pad with the volume's background value
            image = np.pad(vol, ((window, window), (window, window), (0, 0)), constant_values=vol.min())
            labels = np.pad(target, ((window, window), (window, window), (0, 0)))
            affine[:3, 3] -= affine[:3, :3] @ np.array([window, window, 0])
        else:
            sx, sy = window
            image, labels = vol[sx, sy], target[sx, sy]
            affine[:3, 3] += affine[:3, :3] @ np.array([sx.start or 0, sy.start or 0, 0])
        nib.save(nib.Nifti1Image(image, affine, img.header), folder / f"{model}.nii.gz")
        nib.save(nib.Nifti1Image(labels.astype(np.uint8), affine), folder / f"{model}_seg.nii.gz")
        for arm, fov in (("to 240 mm", 240.0), ("as it is", 0.0)):
            field_of_view.FOV_MM = fov
            out = folder / f"out-{int(fov)}"
            predict_inputs([folder / f"{model}.nii.gz"], model, out, progress=False)
            scored = score_files(out / f"{model}_mask.nii.gz", folder / f"{model}_seg.nii.gz", progress=False)
            tumour = [r for r in scored.rows if r["tumour_area_px"] > 0]
            row = {"model": model, "input": crop, "in-plane mm": [int(image.shape[0]), int(image.shape[1])],
                   "arm": arm, "per_volume_dice": round(2 * sum(r["intersection_px"] for r in scored.rows) / max(
                       1, sum(r["predicted_area_px"] + r["tumour_area_px"] for r in scored.rows)), 4),
                   "tumour_slices_found": sum(r["predicted_area_px"] > 0 for r in tumour),
                   "tumour_slices": len(tumour),
                   "tumour_free_marked": sum(r["predicted_area_px"] > 0 for r in scored.rows
                                             if r["tumour_area_px"] == 0)}
            results["rows"].append(row)
            print(row, flush=True)
        field_of_view.FOV_MM = 240.0
(Path(__file__).parent / "results.json").write_text(json.dumps(results, indent=1) + "\n")
