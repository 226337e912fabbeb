"""Make the three evaluation folders ``eval.sh`` reads, as links into DATA and ../shared (nothing copied).

usage: python docs/results/t1c-agree-cpu/links.py DATA LGG OUT

DATA: the ``scripts/prepare_t1c_data.py`` output (``images/``, ``masks/``, ``metadata.csv``, ``split.json``);
LGG: ``../shared/data/lgg/kaggle_3m``. Writes OUT/fs-val (DATA's val slices from figshare), OUT/lgg-neg-test (DATA's
test slices: tumour-free LGG post-contrast) and OUT/lgg-test6 (the kaggle_3m folders of those test patients).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def link_slices(data: Path, rows: list[dict], out: Path) -> None:
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for r in rows:
            dst = out / sub / f"{r['index']}.png"
            if not dst.exists():
                dst.symlink_to((data / sub / f"{r['index']}.png").resolve())
    with open(out / "metadata.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main(data: Path, lgg: Path, out: Path) -> None:
    split = json.loads((data / "split.json").read_text())
    with open(data / "metadata.csv", newline="") as f:
        rows = {r["index"]: r for r in csv.DictReader(f)}
    val = [rows[i] for i in split["val"] if rows[i]["source"] == "figshare"]
    test = [rows[i] for i in split["test"]]
    link_slices(data, val, out / "fs-val")
    link_slices(data, test, out / "lgg-neg-test")
    (out / "lgg-test6").mkdir(parents=True, exist_ok=True)
    for patient in sorted({r["patient_group"] for r in test}):
        dst = out / "lgg-test6" / patient
        if not dst.exists():
            dst.symlink_to((lgg / patient).resolve())
    print(f"{len(val)} figshare val slices, {len(test)} tumour-free LGG test slices, "
          f"{len({r['patient_group'] for r in test})} LGG test patients linked under {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
