"""What a DICOM study folder costs ``tumorseg predict``: grouping by series (headers only) against the whole run.

Writes a synthetic study (``--series`` series of ``--slices`` 256×256 int16 slices each, all in one folder, plus a
structured report and a localizer, as a PACS export holds them), then measures in this process
:func:`tumorseg.data.formats.dicom.list_series` (headers only) and :func:`tumorseg.inference.volumes.
split_volume_inputs` (what ``predict`` does before predicting), and in a fresh process the whole
``tumorseg predict STUDY --out OUT`` (wall time and peak RSS), as JSON.

    python benchmarks/dicom_study.py --series 6 --slices 40 --out benchmarks/results/dicom_study.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the synthetic DICOM writer of the tests

from _child import run_tumorseg  # noqa: E402

def write_study(folder: Path, n_series: int, n_slices: int, size: int = 256) -> int:
    """The study; returns the number of files written."""
    from pydicom.uid import generate_uid

    from data._dicom_series import write_mr_series, write_report

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    brain = ((yy - size / 2) ** 2 / (0.4 * size) ** 2 + (xx - size / 2) ** 2 / (0.33 * size) ** 2) < 1
    study, files = generate_uid(), 0
    descriptions = ["AX T1 POST GAD", "Ax T2 FLAIR", "AX T2", "AX T1", "AX DWI", "SAG T1"]
    for s in range(n_series):
        pix = (brain * rng.normal(400, 60, (n_slices, size, size))).astype(np.int16)
        files += len(write_mr_series(folder, pix, number=s + 2, description=descriptions[s % len(descriptions)],
                                     study=study, prefix=f"S{s:02d}_"))
    import pydicom

    for path in write_mr_series(folder, (brain * 300).astype(np.int16)[None].repeat(2, 0), number=1,
                                description="3-plane loc", study=study, prefix="LOC"):
        ds = pydicom.dcmread(path)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        ds.save_as(path, enforce_file_format=True)
    write_report(folder / "SR0001.dcm", study)
    return files + 3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=6)
    ap.add_argument("--slices", type=int, default=40)
    ap.add_argument("--model", default=None, help="--model for predict (default: each series gets the bundled "
                                                  "model its description calls for)")
    ap.add_argument("--out", default="benchmarks/results/dicom_study.json")
    a = ap.parse_args(argv)
    from tumorseg.data.formats.dicom import list_series
    from tumorseg.inference.volumes import split_volume_inputs

    work = Path(tempfile.mkdtemp(prefix="tumorseg-study-"))
    try:
        study = work / "study"
        n_files = write_study(study, a.series, a.slices)
        t0 = time.perf_counter()
        found = list_series(study)
        t_list = time.perf_counter() - t0
        t0 = time.perf_counter()
        volumes, _ = split_volume_inputs([study])
        t_split = time.perf_counter() - t0
        run = run_tumorseg(["predict", str(study), "--out", str(work / "out"), "--no-progress"]
                           + (["--model", a.model] if a.model else []))
        if run.returncode != 0:
            print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)
            return 1
        t_predict = run.wall_s
        result = {
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "python": platform.python_version(),
            "study": {"files": n_files, "image_series": len(found), "slices_per_series": a.slices, "size": 256},
            "series_found": [s.name for s in volumes],
            "list_series_s": round(t_list, 3),
            "split_volume_inputs_s": round(t_split, 3),
            "predict_wall_s": round(t_predict, 2),
            "predict_peak_rss_mb": run.peak_rss_mb,
            "grouping_share_of_predict": round(t_split / t_predict, 4),
            "command": " ".join(["python benchmarks/dicom_study.py", f"--series {a.series}", f"--slices {a.slices}"]
                                + ([f"--model {a.model}"] if a.model else [])),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
