"""What ``predict``'s RTSTRUCT costs and whether it gives the mask back, on a real tumour's shape.

The BraTS 2015 FLAIR sample's whole-tumour label (``../shared/data/samples/brats/brats_2013_pat0001_1``,
``OTMultiClass > 0``: 155 slices of 240 × 240) is laid on a synthetic DICOM series of that geometry (the T1c volume
as pixels, 1 mm voxels), written as an RTSTRUCT (:func:`tumorseg.data.formats.rtstruct_write.write_rtstruct`) and
read back (:func:`tumorseg.data.formats.rtstruct.rasterize`): time of each, file size, number of contours, voxels
that differ, and the outline's area against the mask's (the polygons cut each convex corner by 1/8 pixel). JSON.

    python benchmarks/rtstruct_roundtrip.py --out benchmarks/results/rtstruct_roundtrip.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the synthetic DICOM writer of the tests

CASE = Path(__file__).resolve().parents[2] / "shared" / "data" / "samples" / "brats" / "brats_2013_pat0001_1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=CASE)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/rtstruct_roundtrip.json"))
    args = parser.parse_args()

    import nibabel as nib
    import pydicom

    from data._dicom_series import write_mr_series
    from tumorseg.data.formats.dicom import read_dicom_series
    from tumorseg.data.formats.rtstruct import SliceGeometry, rasterize
    from tumorseg.data.formats.rtstruct_write import mask_contours, write_rtstruct

    vol = np.asarray(nib.load(args.case / "T1c_subtrMeanDivStd.nii.gz").dataobj, float)
    label = np.asarray(nib.load(args.case / "OTMultiClass.nii.gz").dataobj) > 0
    pixels = np.transpose((vol - vol.min()) / np.ptp(vol) * 2000, (2, 1, 0)).astype(np.int16)  # (Z, rows, cols)
    mask = np.transpose(label, (2, 1, 0))
    with tempfile.TemporaryDirectory() as tmp:
        write_mr_series(Path(tmp) / "series", pixels, spacing=(1.0, 1.0), step=1.0)
        sources = read_dicom_series(Path(tmp) / "series")[2]
        t0 = time.perf_counter()
        target = write_rtstruct(mask, sources, Path(tmp) / "rt.dcm", "bench")
        t1 = time.perf_counter()
        back = rasterize(pydicom.dcmread(target), SliceGeometry.of(sources))
        t2 = time.perf_counter()
        size_kb = target.stat().st_size / 1024
    def signed(c):  # shoelace; marching squares winds holes against their outer outline, so holes subtract
        return 0.5 * (np.dot(c[:, 0], np.roll(c[:, 1], 1)) - np.dot(c[:, 1], np.roll(c[:, 0], 1)))

    outlines = [mask_contours(m) for m in mask]  # per slice
    area = sum(abs(sum(signed(c) for c in loops)) for loops in outlines)
    result = {
        "case": args.case.name, "slices": int(mask.shape[0]), "slice_shape": list(mask.shape[1:]),
        "tumour_voxels": int(mask.sum()), "slices_with_tumour": int(mask.any(axis=(1, 2)).sum()),
        "contours": sum(len(loops) for loops in outlines), "file_kb": round(size_kb, 1),
        "write_s": round(t1 - t0, 3), "read_s": round(t2 - t1, 3),
        "voxels_differing_after_read_back": int((back != mask).sum()),
        "outline_area_over_mask_voxels": round(area / mask.sum(), 4),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
