"""Peak RSS of ``tumorseg serve`` under hostile and maximal uploads (not part of the tests).

Starts ``tumorseg serve`` on 127.0.0.1 (a free port; never another host) in a
subprocess, then for each upload: resets the server's peak-RSS counter
(``/proc/PID/clear_refs``), sends it, and records the status, the time and
the peak RSS (``VmHWM``) while it was handled. Two groups:

* ``hostile``: the decompression bombs of the hardening issue (tests/hostile.py:
  ``.nii.gz`` and deflated-DICOM bombs, 50000² PNG/TIFF headers, an RLE frame
  declaring 12000²), one at a time and three at once; ``hostile_series``: one upload of 300 deflated DICOM files
  of one series, each under the per-file cap, together inflating to 12 GB;
* ``largest_accepted``: uploads exactly at the ``UPLOADS`` caps with real content
  (a 512×512×128 int16 volume, a 4096² PNG, a 4096² 16-bit DICOM), the
  worst case a legitimate request can cost, alone and ``--max-concurrent`` at once; ``largest_probabilities``:
  the same asking for the probability maps too (the ``probabilities`` form field), alone and at once.

Writes JSON (``--out``) and exits 1 if any hostile upload was answered with
anything but 4xx, or the peak RSS reached ``--limit-mb``.

    python benchmarks/serve_hostile.py --out benchmarks/results/serve_hostile.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from _server import local_server  # 127.0.0.1 only: this benchmark talks to a server it started

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import hostile  # noqa: E402  (the builders the tests use)


def _kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def _largest_accepted() -> dict[str, bytes]:
    """Uploads exactly at the UPLOADS caps, with content the model runs on."""
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    rng = np.random.default_rng(0)
    tile = rng.integers(0, 255, (256, 256), dtype=np.uint8)
    big = np.tile(tile, (16, 16))  # 4096², compresses (repeated) but is not flat
    png = io.BytesIO()
    Image.fromarray(big).save(png, "PNG", compress_level=6)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = MRImageStorage, generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MRImageStorage, ds.file_meta.MediaStorageSOPInstanceUID, "MR"
    ds.Rows = ds.Columns = 4096
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [0.5, 0.5]
    ds.PixelData = (big.astype(np.uint16) * 16).tobytes()
    dcm = io.BytesIO()
    ds.save_as(dcm, enforce_file_format=True)
    return {"nifti_512x512x128_int16": hostile.nifti_gz_pattern((512, 512, 128)),
            "png_4096sq": png.getvalue(), "dicom_4096sq_16bit": dcm.getvalue()}


PROBABILITIES = {"probabilities": "true"}  # the form field that asks for the probability maps as well
HTTP = httpx.Client(timeout=None)  # one client: httpx.post would build an SSL context per call (~1 s on a busy VM)


def _send(base: str, name: str, data: bytes | list[bytes], timeout: float,
          form: dict[str, str] | None = None) -> tuple[int, float, str]:
    body, ctype = hostile.multipart(name, data, form=form)
    t0 = time.perf_counter()
    try:
        r = HTTP.post(base + "/api/segment", content=body, headers={"content-type": ctype}, timeout=timeout)
        detail = r.json().get("detail", "") if r.status_code != 200 else ""
        return r.status_code, time.perf_counter() - t0, str(detail)[:200]
    except httpx.HTTPError as exc:
        return 0, time.perf_counter() - t0, f"{exc.__class__.__name__}: {exc}"


def _measure(pid: int, base: str, uploads: dict[str, bytes], at_once: int, timeout: float,
             form: dict[str, str] | None = None) -> list[dict]:
    rows = []
    for name, data in uploads.items():
        _reset_peak(pid)
        before = _kb(pid, "VmRSS")
        with ThreadPoolExecutor(at_once) as pool:
            results = list(pool.map(lambda _: _send(base, name, data, timeout, form), range(at_once)))
        size = sum(map(len, data)) if isinstance(data, list) else len(data)
        rows.append({"upload": name, "upload_bytes": size, "at_once": at_once,
                     "status": [r[0] for r in results], "seconds": [round(r[1], 2) for r in results],
                     "detail": results[0][2], "rss_before_mb": round(before / 1024, 1),
                     "peak_rss_mb": round(_kb(pid, "VmHWM") / 1024, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="checkpoint or .onnx for the server (default: bundled model)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--max-concurrent", type=int, default=2)
    ap.add_argument("--limit-mb", type=float, default=1536.0, help="fail when any peak RSS reaches this")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per request")
    ap.add_argument("--out", default="benchmarks/results/serve_hostile.json")
    a = ap.parse_args(argv)
    if not 1 <= a.max_concurrent <= 16:
        ap.error("keep --max-concurrent in 1..16")
    if not Path("/proc/self/clear_refs").exists():
        print("needs Linux /proc (VmHWM, clear_refs)", file=sys.stderr)
        return 1
    hostile_files = {name: build() for name, build in hostile.TABLE.items()}
    largest = _largest_accepted()
    args = ["--backend", a.backend, "--max-concurrent", str(a.max_concurrent)] + (["--model", a.model] if a.model else [])
    try:
        with local_server(args) as (base, health, _, pid):
            idle_mb = _kb(pid, "VmRSS") / 1024
            # warm-up: one small volume makes the model allocate its working memory once (ONNX Runtime keeps that
            # arena); the per-upload peaks below are then what each upload adds
            warm = _send(base, "warmup.nii.gz", hostile.nifti_gz_pattern((256, 256, 16)), a.timeout)
            warm_mb = _kb(pid, "VmRSS") / 1024
            groups = {
                "hostile": _measure(pid, base, hostile_files, 1, a.timeout),
                "hostile_series": _measure(pid, base, {k: build() for k, build in hostile.SERIES_TABLE.items()}, 1,
                                           a.timeout),
                "hostile_3_at_once": _measure(pid, base, {k: hostile_files[k] for k in (
                    "nifti_gz_261kB_256MiB", "dicom_deflate_12000sq_frame", "png_50000sq")}, 3, a.timeout),
                "largest_accepted": _measure(pid, base, largest, 1, a.timeout),
                "largest_accepted_concurrent": _measure(pid, base, largest, a.max_concurrent, a.timeout),
                "largest_probabilities": _measure(pid, base, largest, 1, a.timeout, PROBABILITIES),
                "largest_probabilities_concurrent": _measure(pid, base, largest, a.max_concurrent, a.timeout,
                                                             PROBABILITIES),
            }
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    peak = {g: max(r["peak_rss_mb"] for r in rows) for g, rows in groups.items()}
    hostile_ok = all(400 <= s < 500 or (r["upload"] == "nifti_gz_small_header_trailing_bomb" and s == 200)
                     for g in ("hostile", "hostile_series", "hostile_3_at_once") for r in groups[g] for s in r["status"])
    accepted_ok = all(s == 200 for g in groups if g.startswith("largest") for r in groups[g] for s in r["status"])
    report = {"command": "python benchmarks/serve_hostile.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "server": {**health, "url": base, "idle_rss_mb": round(idle_mb, 1), "max_concurrent": a.max_concurrent,
                         "rss_after_warmup_mb": round(warm_mb, 1), "warmup_status": warm[0]},
              "machine": {"logical_cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg()},
              "peak_rss_mb": peak, "limit_mb": a.limit_mb, "hostile_all_4xx": hostile_ok,
              "largest_accepted_all_200": accepted_ok, **groups}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("peak_rss_mb", "hostile_all_4xx", "largest_accepted_all_200")}, indent=2))
    return 0 if hostile_ok and max(peak.values()) < a.limit_mb else 1


if __name__ == "__main__":
    raise SystemExit(main())
