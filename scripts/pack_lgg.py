"""Copy an LGG (kaggle_3m) folder keeping only some channels, small enough to send to a lent GPU in one call.

The device tool carries at most 64 MiB and the 40 LGG patients are 135 MB of
3-channel TIFFs (pre-contrast, FLAIR, post-contrast). Training a FLAIR model
needs only channel 1: this writes the same layout (``TCGA_*/`` folders, the
same file names, masks copied as they are) with the other channels set to 0,
each channel a separate zlib-compressed plane with horizontal prediction
(tifffile), which the LGG reader reads unchanged (``--format lgg --channels
flair`` picks channel 1 as before): 46 MB for FLAIR alone, plus 6 MB of masks.

    python scripts/pack_lgg.py --lgg ../shared/data/lgg/kaggle_3m --out gpudata/lgg --keep flair

Write it outside the repository or under an ignored folder (``/gpudata/`` is in
``.git/info/exclude``): the data must never be committed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import tifffile

from tumorseg.data.formats.lgg import parse_channels, read_tif_channels


def pack(lgg: Path, out: Path, keep: str = "flair") -> dict[str, int]:
    """Write the copy; returns ``{"patients": P, "slices": N, "bytes": B}``."""
    channels = list(parse_channels(keep))
    patients = sorted(d for d in lgg.iterdir() if d.is_dir() and d.name.startswith("TCGA_"))
    if not patients:
        raise SystemExit(f"{lgg}: no TCGA_* patient folders; pass the kaggle_3m folder.")
    n = size = 0
    for d in patients:
        (out / d.name).mkdir(parents=True, exist_ok=True)
        for src in sorted(d.glob("*.tif")):
            dst = out / d.name / src.name
            if src.name.endswith("_mask.tif"):
                shutil.copyfile(src, dst)
            else:
                arr = read_tif_channels(src)  # (3, H, W) uint8
                kept = np.zeros_like(arr)
                kept[channels] = arr[channels]
                tifffile.imwrite(dst, kept, photometric="rgb", planarconfig="separate", predictor=True,
                                 compression="zlib", compressionargs={"level": 9})
                n += 1
            size += dst.stat().st_size
    for extra in ("data.csv", "README.md"):
        if (lgg / extra).exists():
            shutil.copyfile(lgg / extra, out / extra)
    return {"patients": len(patients), "slices": n, "bytes": size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lgg", required=True, type=Path, help="the kaggle_3m folder")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--keep", default="flair", help="channels to keep, as --channels takes them (flair, post, all, ...)")
    a = ap.parse_args(argv)
    got = pack(a.lgg, a.out, a.keep)
    print(f"{got['patients']} patients, {got['slices']} slices, {got['bytes'] / 2**20:.1f} MiB -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
