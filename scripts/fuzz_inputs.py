"""Mutate real input files (truncate them, overwrite bytes of the header or anywhere) and give each mutant to
``tumorseg predict`` in-process (and, with ``--web``, to the web API): every mutant must end as a prediction or as a
failed input with a one-line reason, never an exception out of ``predict`` or an HTTP 500.

    python scripts/fuzz_inputs.py --seed 3 --per-file 20 --work /tmp/fuzz [--web]

Seeds: a small NIfTI (``.nii`` and ``.nii.gz``, and as NRRD and MetaImage when SimpleITK is installed) cut from the
BraTS 2023 sample's FLAIR, the DICOM sample, an LGG TIFF, a figshare PNG (all from ``../shared/data``, skipped when
absent), a synthetic TIFF stack and enhanced multi-frame DICOM; and study folders of two synthetic series with one
file mutated. Prints a JSON object of counts and every problem found (exit 1 when there is one). The findings of its
first runs are regression tests in ``tests/inference/test_damaged_inputs.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import random
import shutil
import sys
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def make_seeds(work: Path) -> list[Path]:
    """Write the seed files into ``work`` and return them."""
    import nibabel as nib

    sys.path.insert(0, str(ROOT / "tests"))
    from data._dicom_series import write_enhanced_mr
    from tumorseg.data.formats.tiff_stack import write_stack

    work.mkdir(parents=True, exist_ok=True)
    seeds = []
    flair = SHARED / "samples/brats/BraTS-GLI-00001-000/BraTS-GLI-00001-000-t2f.nii.gz"
    if flair.is_file():
        img = nib.load(flair)
        small = np.asarray(img.dataobj)[60:120, 60:120, 70:80]
        for name in ("seed.nii.gz", "seed.nii"):
            nib.save(nib.Nifti1Image(small, img.affine), work / name)
            seeds.append(work / name)
    for source, name in ((SHARED / "samples/dicom/MR_small.dcm", "seed.dcm"),
                         (SHARED / "samples/lgg/TCGA_CS_4941_19960909/TCGA_CS_4941_19960909_12.tif", "seed.tif"),
                         (SHARED / "figshare/images/1089.png", "seed.png")):
        if source.is_file():
            shutil.copy(source, work / name)
            seeds.append(work / name)
    if flair.is_file():
        try:
            import SimpleITK as sitk  # the `itk` extra: NRRD and MetaImage
        except ImportError:
            sitk = None
        if sitk is not None:
            image = sitk.ReadImage(str(work / "seed.nii.gz"))
            for name in ("seed.nrrd", "seed.mha"):
                sitk.WriteImage(image, str(work / name))
                seeds.append(work / name)
    rng = np.random.default_rng(0)
    seeds.append(write_stack((rng.random((6, 64, 64)) * 255).astype(np.uint8), (3.0, 1.0, 1.0),
                             work / "seed_stack.tif"))
    seeds.append(write_enhanced_mr(work / "seed_enh.dcm", (rng.random((8, 32, 32)) * 1000).astype(np.int16), step=1.0))
    return seeds


def make_study(folder: Path) -> Path:
    """A study folder of two synthetic MR series (``SE1`` FLAIR, ``SE2`` T1 post-contrast), written anew."""
    from data._dicom_series import series_pixels, write_mr_series

    shutil.rmtree(folder, ignore_errors=True)
    write_mr_series(folder / "SE1", series_pixels(), description="AX FLAIR")
    write_mr_series(folder / "SE2", series_pixels(), description="AX T1 POST", number=9)
    return folder


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    d = bytearray(data)
    kind = rng.choice(["trunc", "flip", "flipmany", "zero"])
    if kind == "trunc":
        d = d[: rng.randrange(1, len(d))]
    elif kind == "flip":  # a few bytes of the header
        for _ in range(rng.randrange(1, 8)):
            d[rng.randrange(0, min(len(d), 1024))] = rng.randrange(256)
    elif kind == "flipmany":  # bytes anywhere
        for _ in range(rng.randrange(1, 64)):
            d[rng.randrange(0, len(d))] = rng.randrange(256)
    else:  # a run of zeros in the header
        i = rng.randrange(0, min(len(d), 600))
        n = len(d[i : i + rng.randrange(1, 40)])
        d[i : i + n] = bytes(n)
    return kind, bytes(d)


def predict_problems(path: Path, out: Path) -> list[str]:
    from tumorseg.cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["predict", str(path), "--out", str(out), "--model", "t1c-unet"])
    except BaseException as exc:  # noqa: BLE001 - what this script looks for
        return ["exception: " + "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]]
    problems = [f"exit status {rc}"] if rc not in (0, 1) else []
    if "Traceback" in err.getvalue():
        problems.append("traceback in stderr")
    if (out / "failed.csv").is_file():
        with open(out / "failed.csv", newline="") as f:
            problems += [f"reason of several lines: {r['reason'][:200]!r}" for r in csv.DictReader(f)
                         if "\n" in r.get("reason", "")]
    return problems


def web_problems(client, name: str, data: bytes) -> list[str]:
    r = client.post("/api/segment", files={"file": (name, data, "application/octet-stream")})
    if r.status_code not in (200, 400, 413, 415, 422):
        return [f"HTTP {r.status_code}: {r.text[:200]}"]
    detail = r.json().get("detail") if r.status_code != 200 else ""
    if r.status_code != 200 and (not isinstance(detail, str) or "\n" in detail or "Traceback" in detail):
        return [f"HTTP {r.status_code} detail {str(detail)[:200]!r}"]
    return []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-file", type=int, default=10, help="mutants of each seed file")
    ap.add_argument("--work", type=Path, default=Path("/tmp/tumorseg-fuzz"))
    ap.add_argument("--web", action="store_true", help="also post each mutant to the web API")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    mutants = a.work / "mutants"
    shutil.rmtree(mutants, ignore_errors=True)
    mutants.mkdir(parents=True)
    client = None
    if a.web:
        from fastapi.testclient import TestClient

        from tumorseg.inference.predictor import Predictor
        from tumorseg.web.app import create_app

        client = TestClient(create_app(Predictor.from_checkpoint("t1c-unet", "cpu", backend="torch")),
                            base_url="http://127.0.0.1:8000", raise_server_exceptions=False)
    found, runs = [], 0
    for seed in make_seeds(a.work):
        suffix = "".join(seed.suffixes)
        for k in range(a.per_file):
            kind, data = mutate(seed.read_bytes(), rng)
            path = mutants / f"{seed.name.split('.')[0]}_{k}_{kind}{suffix}"
            path.write_bytes(data)
            runs += 1
            problems = predict_problems(path, mutants / f"out_{path.name}")
            if client is not None:
                problems += [f"web: {p}" for p in web_problems(client, seed.name, data)]
            found += [{"file": path.name, "problem": p} for p in problems]
    for k in range(a.per_file):  # study folders: two series, one file of them mutated
        study = make_study(a.work / "studies" / f"s{k}")
        victim = rng.choice(sorted(study.rglob("*.dcm")))
        kind, data = mutate(victim.read_bytes(), rng)
        victim.write_bytes(data)
        runs += 1
        found += [{"file": f"{study.name}/{victim.parent.name}/{victim.name} ({kind})", "problem": p}
                  for p in predict_problems(study, a.work / "studies" / f"out_s{k}")]
    print(json.dumps({"seed": a.seed, "mutants": runs, "problems": found}, indent=1))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
