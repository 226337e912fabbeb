"""Peak memory of ``tumorseg predict`` on folders of growing size: streaming keeps it flat.

Writes N synthetic 256×256 PNG slices per folder (phantoms from
:mod:`tumorseg.data.synthetic`, re-used cyclically), runs ``tumorseg predict``
on each folder in a fresh process and records its peak RSS (``ru_maxrss``)
and wall time, as JSON.

    python benchmarks/predict_memory.py --model CKPT --counts 100,2000 --out benchmarks/results/predict_memory.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

from _child import run_tumorseg
from tumorseg.data.synthetic import make_dataset

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="checkpoint or .onnx (default: the bundled model)")
    ap.add_argument("--counts", default="100,2000")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", default="benchmarks/results/predict_memory.json")
    ap.add_argument("--workdir", default=None, help="where to write the PNGs (default: a temporary folder)")
    a = ap.parse_args(argv)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="tumorseg-mem-"))
    seeds = make_dataset(work / "phantoms", n=50, size=256, seed=0) / "images"
    phantoms = sorted(seeds.glob("*.png"))
    results = []
    for n in (int(c) for c in a.counts.split(",")):
        folder = work / f"in_{n}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shutil.copyfile(phantoms[i % len(phantoms)], folder / f"{i:05d}.png")
        args = ["predict", str(folder), "--out", str(work / f"out_{n}"), "--backend", a.backend,
                "--batch-size", str(a.batch_size), "--no-progress"] + (["--model", a.model] if a.model else [])
        run = run_tumorseg(args)
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return run.returncode
        written = len(list((work / f"out_{n}").glob("*.png")))
        assert Image.open(next((work / f"out_{n}").glob("*.png"))).size == (256, 256)
        r = {"images": n, "masks_written": written, "peak_rss_mb": run.peak_rss_mb, "wall_s": round(run.wall_s, 1),
             "images_per_s": round(n / run.wall_s, 1)}
        print(json.dumps(r))
        results.append(r)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "python benchmarks/predict_memory.py " + " ".join(argv or sys.argv[1:]),
                               "backend": a.backend, "batch_size": a.batch_size, "results": results}, indent=2) + "\n")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
