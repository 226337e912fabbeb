"""A scan saved as a multi-page TIFF stack (Fiji / ImageJ) gives the masks of the same scan in its usual format.

    PATH=.venv/bin:$PATH python docs/results/tiff-stack-cpu/run.py /tmp/stacks   # -> results.json (about 1 minute)

1. The BraTS 2023 sample's FLAIR (``samples/brats/BraTS-GLI-00001-000``, no labels) predicted as its NIfTI file,
   as a calibrated ImageJ stack whose pages are its axial slices in the radiological view (as Fiji shows an axial
   DICOM series), and as a stack of the NIfTI's own array slices (not turned): voxels, mL, and whether the masks
   are identical (compared in the radiological view).
2. Six LGG patients (the first six of ``lgg/kaggle_3m`` by name; the bundled ``flair`` was trained on them, so the
   Dice against truth is not an accuracy estimate, only the agreement counts): their FLAIR channel saved as one 8-bit
   stack (uncalibrated, as any TIFF not written by ImageJ) and predicted, against predicting the patient's folder
   of slices; per-volume Dice of each against the truth masks and of the two against each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import tifffile
from PIL import Image

from tumorseg.data.formats.orientation import display_ornt, to_display

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def predict(inputs: list[Path], out: Path) -> None:
    subprocess.run(["tumorseg", "predict", *map(str, inputs), "--out", str(out), "--no-progress"], check=True,
                   capture_output=True)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return round(2 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0), 4)


def stack_of(path: Path) -> np.ndarray:
    return tifffile.imread(path) > 0


def brats(work: Path) -> dict:
    case = DATA / "samples" / "brats" / "BraTS-GLI-00001-000" / "BraTS-GLI-00001-000-t2f.nii.gz"
    img = nib.load(case)
    vol, zooms = np.asarray(img.dataobj), [float(z) for z in img.header.get_zooms()]
    ornt = display_ornt(img.affine)
    shown = np.stack([to_display(vol[:, :, k], ornt) for k in range(vol.shape[2])])  # (Z, rows, cols), turned
    stored = np.ascontiguousarray(np.moveaxis(vol, -1, 0))  # (Z, X, Y): the NIfTI's own slices
    # display_ornt of BraTS swaps the in-plane axes: rows are the array's y, columns its x
    for name, pages, (row, col) in (("radiological", shown, (zooms[1], zooms[0])), ("as-stored", stored,
                                                                                    (zooms[0], zooms[1]))):
        (work / name).mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(work / name / "case-t2f.tif", pages, imagej=True, resolution=(1 / col, 1 / row),
                         metadata={"spacing": zooms[2], "unit": "mm", "axes": "ZYX"})
        predict([work / name / "case-t2f.tif"], work / name / "out")
    predict([case], work / "nifti")
    mask_img = nib.load(work / "nifti" / "BraTS-GLI-00001-000-t2f_mask.nii.gz")
    nifti = np.asarray(mask_img.dataobj) > 0
    nifti_shown = np.stack([to_display(nifti[:, :, k], ornt) for k in range(nifti.shape[2])])
    voxel_ml = float(np.prod(zooms)) / 1000
    rows = {"nifti": {"voxels": int(nifti.sum()), "ml": round(nifti.sum() * voxel_ml, 2)}}
    for name in ("radiological", "as-stored"):
        mask = stack_of(work / name / "out" / "case-t2f_mask.tif")
        same = mask if name == "radiological" else np.stack([to_display(m, ornt) for m in mask])
        rows[f"stack, {name}"] = {"voxels": int(mask.sum()), "ml": round(mask.sum() * voxel_ml, 2),
                                  "identical_to_nifti": bool(np.array_equal(same, nifti_shown)),
                                  "dice_with_nifti": dice(same, nifti_shown)}
    return rows


def lgg(work: Path, n: int = 6) -> list[dict]:
    rows = []
    for patient in sorted(p for p in (DATA / "lgg" / "kaggle_3m").iterdir() if p.is_dir())[:n]:
        files = sorted((f for f in patient.glob("*.tif") if not f.stem.endswith("_mask")),
                       key=lambda f: int(f.stem.rsplit("_", 1)[1]))
        pages = [Image.fromarray(np.asarray(Image.open(f))[..., 1]) for f in files]  # the FLAIR channel
        stack = work / "lgg" / f"{patient.name}_flair.tif"
        stack.parent.mkdir(parents=True, exist_ok=True)
        pages[0].save(stack, save_all=True, append_images=pages[1:])
        predict([stack], work / "lgg" / "out-stack")
        predict([patient], work / "lgg" / "out-folder" / patient.name)
        truth = np.stack([np.asarray(Image.open(f.with_name(f"{f.stem}_mask.tif"))) > 0 for f in files])
        from_stack = stack_of(work / "lgg" / "out-stack" / f"{patient.name}_flair_mask.tif")
        from_folder = np.stack([np.asarray(Image.open(next((work / "lgg" / "out-folder" / patient.name)
                                                           .rglob(f"{f.stem}.png")))) > 0 for f in files])
        rows.append({"patient": patient.name, "slices": len(files), "truth_voxels": int(truth.sum()),
                     "dice_stack": dice(from_stack, truth), "dice_folder": dice(from_folder, truth),
                     "dice_stack_vs_folder": dice(from_stack, from_folder)})
    return rows


if __name__ == "__main__":
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tiff-stack-check")
    result = {"brats_2023_sample_flair": brats(work), "lgg_flair_stacks": lgg(work)}
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
