"""Volumes stored as sagittal or coronal slices: predicted in their stored plane (before) vs read as axial (now).

The BraTS 2015 sample case (``../shared/data/samples/brats/brats_2013_pat0001_1``, axial, 1 mm isotropic)
is saved again with its array axes reordered — stored as sagittal (axes 1, 2, 0) or coronal (0, 2, 1)
slices, the affine reordered alike, so the anatomy and the voxels are the same — and each copy is given
to ``tumorseg predict`` with the bundled ``flair`` (FLAIR) and ``t1c`` (T1c) models. "stored plane"
is the previous behaviour (slices along the file's third axis), obtained by making
``tumorseg.data.formats.orientation.slice_axes`` keep the stored axes; "now" is the reader as shipped. Per-volume Dice of
the written mask against the case's label: whole tumour (labels > 0) for FLAIR, tumour core (1, 3, 4)
for T1c. Run from the repository root (2-core CPU, ~3 minutes):

    python docs/results/planes-cpu/run.py > docs/results/planes-cpu/results.json
"""

import contextlib
import json
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

import tumorseg.data.formats.orientation as orientation
from tumorseg.cli import main as tumorseg

CASE = Path("../shared/data/samples/brats/brats_2013_pat0001_1")
FILES = {"flair": "Flair_subtrMeanDivStd", "t1c": "T1c_subtrMeanDivStd"}
PERMS = {"axial": (0, 1, 2), "sagittal": (1, 2, 0), "coronal": (0, 2, 1)}


def save_reordered(name: str, perm: tuple[int, int, int], out: Path) -> Path:
    img = nib.load(str(CASE / f"{name}.nii.gz"))
    affine = img.affine.copy()
    affine[:, :3] = img.affine[:, list(perm)]
    new = nib.Nifti1Image(np.ascontiguousarray(np.asanyarray(img.dataobj).transpose(perm)), affine)
    new.set_qform(affine, 1)
    new.set_sform(affine, 1)
    path = out / f"{name}_{perm[0]}{perm[1]}{perm[2]}.nii.gz"
    nib.save(new, str(path))
    return path


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(2 * (a & b).sum() / max(1, a.sum() + b.sum())), 4)


def main() -> None:
    slice_axes = orientation.slice_axes
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for plane, perm in PERMS.items():
            label = np.asanyarray(nib.load(str(save_reordered("OTMultiClass", perm, tmp))).dataobj)
            truth = {"flair": label > 0, "t1c": np.isin(label, (1, 3, 4))}
            for model, name in FILES.items():
                src = save_reordered(name, perm, tmp)
                stored = lambda affine, zooms: (orientation.STORED_AXES, "axial")  # noqa: E731 (the previous reader)
                for arm, rule in (("stored plane", stored), ("now", slice_axes)):
                    if plane == "axial" and arm == "now":
                        continue  # the same call for an axial file
                    orientation.slice_axes = rule
                    out = tmp / f"{plane}-{model}-{arm.replace(' ', '_')}"
                    with contextlib.redirect_stdout(sys.stderr):  # predict's report lines; stdout is the JSON
                        assert tumorseg(["predict", str(src), "--model", model, "--out", str(out)]) == 0
                    mask = np.asanyarray(nib.load(str(next(out.glob("*_mask.nii.gz")))).dataobj) > 0
                    results[f"{plane}, {model}, {arm}"] = dice(mask, truth[model])
            orientation.slice_axes = slice_axes
    print(json.dumps({"case": str(CASE), "per_volume_dice": results}, indent=1))


if __name__ == "__main__":
    main()
