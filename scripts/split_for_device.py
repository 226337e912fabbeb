"""Copy a dataset folder into parts small enough to send to a lent GPU, one part per call of the device tool.

The device tool carries at most 64 MiB per call, the repository included (about 12 MB), so a dataset
larger than ~50 MB travels in parts: one call per part, back to back while the machine is warm (it is
given back after 30 s idle), each copying its part into the same folder there; the last call carries
the last part and runs the campaign. This writes ``OUT/a``, ``OUT/b``, ... of at most ``--part-mb`` MB
each (file sizes, links followed: a folder of symbolic links, such as ``scripts/prepare_t1c_data.py``
writes, is copied as real files), every file under its own relative path, files in name order; the small
ones (binary masks, ``metadata.csv``, split files) in the last part. It prints the command of each call::

    python scripts/split_for_device.py /tmp/t1c-data gpudata --part-mb 48
    # call 1 (carry gpudata/a): mkdir -p /root/data && cp -r gpudata/a/. /root/data/
    # ...
    # last call (carry gpudata/c, .whl): cp -r gpudata/c/. /root/data/ && ... scripts/gpu_campaign.py --data /root/data

Put ``OUT`` under an ignored folder (``/gpudata/`` in ``.git/info/exclude``): the data must never be committed.
"""

from __future__ import annotations

import argparse
import shutil
import string
import sys
from pathlib import Path


def plan(src: Path, part_bytes: int) -> list[list[Path]]:
    """Files of ``src`` (relative paths) dealt into parts of at most ``part_bytes``: files in name order fill
    parts one after another, the small ones (4 KiB or less, such as binary masks, and tables: ``.csv``,
    ``.json``, ``.txt``) last, so that the last part holds everything the run needs besides the bulk.

    Raises:
        SystemExit: a single file larger than ``part_bytes``.
    """
    sizes = {p.relative_to(src): p.stat().st_size for p in sorted(src.rglob("*")) if p.is_file()}  # links followed
    is_small = {f: n <= 4096 or f.suffix.lower() in {".csv", ".json", ".txt"} for f, n in sizes.items()}
    parts: list[list[Path]] = [[]]
    size = 0
    for f in sorted(sizes, key=lambda f: (is_small[f], f)):
        n = sizes[f]
        if n > part_bytes:
            raise SystemExit(f"{src / f}: {n / 1e6:.1f} MB is larger than a part ({part_bytes / 1e6:.0f} MB); "
                             "compress or split it first.")
        if size + n > part_bytes and parts[-1]:
            parts.append([])
            size = 0
        parts[-1].append(f)
        size += n
    return parts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="the dataset folder (links are followed)")
    ap.add_argument("out", type=Path, help="where the parts go (OUT/a, OUT/b, ...)")
    ap.add_argument("--part-mb", type=float, default=48, help="most MB per part (default 48: with the repository "
                                                             "and wheels, under the 64 MiB of one call)")
    ap.add_argument("--dest", default="/root/data", help="the folder on the device machine")
    a = ap.parse_args(argv)
    if not a.src.is_dir():
        sys.exit(f"{a.src}: not a folder.")
    parts = plan(a.src, int(a.part_mb * 1e6))
    if len(parts) > len(string.ascii_lowercase):
        sys.exit(f"{a.src}: {len(parts)} parts of {a.part_mb} MB; too many calls — send less data.")
    for name, files in zip(string.ascii_lowercase, parts):
        root = a.out / name
        if root.exists():
            shutil.rmtree(root)
        for f in files:
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(a.src / f, root / f)
        mb = sum((root / f).stat().st_size for f in files) / 1e6
        first = f"mkdir -p {a.dest} && " if name == "a" else ""
        print(f"# call {ord(name) - 96} (carry {a.out / name}, {len(files)} files, {mb:.1f} MB): "
              f"{first}cp -r {a.out / name}/. {a.dest}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
