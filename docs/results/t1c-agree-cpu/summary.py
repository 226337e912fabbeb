"""Table of the t1c comparison set for the folders ``eval.sh`` wrote.

usage: python docs/results/t1c-agree-cpu/summary.py NAME=OUTDIR [NAME=OUTDIR ...] > table.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(out: Path) -> dict[str, str]:
    def m(name: str) -> dict:
        return json.loads((out / name / "metrics.json").read_text())

    fs, neg = m("fs-val"), m("lgg-neg")
    cells = {"figshare val, 264 slices: mean Dice": f"{fs['mean_dice']:.3f}",
             "figshare val: tumour slices left empty": str(fs["presence"]["fn"]),
             "LGG post-contrast, 164 tumour-free slices of 6 unseen patients: marked":
                 f"{neg['presence']['fp']} ({neg['presence']['fp_slice_rate']:.1%})"}
    for arm, tag in (("one-lesion", "one lesion"), ("no-one-lesion", "every lesion")):
        b = m(f"b15-{arm}")["presence"]
        v = m(f"b15-{arm}")["per_volume"]
        cells[f"BraTS 2015 T1c ({tag}): tumour-free marked / found tumour-core slices / per-volume Dice"] = \
            f"{b['fp']}/{b['n_tumour_free']} / {b['tp']}/{b['n_tumour']} / {v['mean_dice']:.3f}"
        g = m(f"lgg6-{arm}")
        gp, gv = g["presence"], g["per_volume"]
        cells[f"6 LGG test patients, post-contrast volumes ({tag}): tumour-free marked / found / per-volume Dice"] = \
            f"{gp['fp']}/{gp['n_tumour_free']} ({gp['fp_slice_rate']:.1%}) / {gp['tp']}/{gp['n_tumour']} / " \
            f"{gv['mean_dice']:.3f}"
    s = json.loads((out / "brats23" / "summary.json").read_text())
    case = s["volumes"][0]
    cells["BraTS 2023 GLI-00001 t1c (no label): slices marked, mL"] = \
        f"{case['slices_with_tumour']}, {case['volume_ml']:.1f}"
    return cells


if __name__ == "__main__":
    named = [a.split("=", 1) for a in sys.argv[1:]]
    rows = {name: row(Path(path)) for name, path in named}
    keys = list(next(iter(rows.values())))
    print("| | " + " | ".join(rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for k in keys:
        print(f"| {k} | " + " | ".join(rows[n][k] for n in rows) + " |")
