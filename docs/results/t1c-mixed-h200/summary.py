"""Table of a CV of figshare + tumour-free LGG slices, per recipe, from ``cv_per_case.csv`` files.

usage: python docs/results/t1c-mixed-h200/summary.py NAME=CV_DIR [NAME=CV_DIR ...] [--json OUT.json]

figshare slices (every one holds a tumour) and LGG slices (``TCGA_*``, all tumour-free post-contrast) are
summarised apart: figshare mean per-image Dice / IoU (mean ± sd over folds; pooled per class and per tumour-size
tercile, the terciles of figshare's own tumour areas), tumour slices left empty, HD95; LGG: the share of
tumour-free slices on which a tumour is marked.
"""

from __future__ import annotations

import csv
import json
import statistics as st
import sys
from pathlib import Path


def summarise(cv_dir: Path, cuts: tuple[float, float] | None = None) -> dict:
    rows = list(csv.DictReader(open(cv_dir / "cv_per_case.csv")))
    fs = [r for r in rows if not r["case_id"].startswith("TCGA")]
    neg = [r for r in rows if r["case_id"].startswith("TCGA")]
    folds = sorted({r["fold"] for r in rows})
    per_fold = [st.mean(float(r["dice"]) for r in fs if r["fold"] == f) for f in folds]
    areas = sorted(float(r["tumour_area_px"]) for r in fs)
    cuts = cuts or (areas[len(areas) // 3], areas[2 * len(areas) // 3])

    def tercile(r: dict) -> str:
        a = float(r["tumour_area_px"])
        return "small" if a < cuts[0] else "medium" if a < cuts[1] else "large"

    out = {"folds": folds, "figshare_slices": len(fs), "figshare_dice_mean_over_folds": st.mean(per_fold),
           "figshare_dice_sd_over_folds": st.stdev(per_fold) if len(per_fold) > 1 else 0.0,
           "figshare_dice_per_fold": per_fold,
           "figshare_dice_pooled": st.mean(float(r["dice"]) for r in fs),
           "figshare_iou_pooled": st.mean(float(r["iou"]) for r in fs),
           "figshare_hd95_px_pooled": st.mean(float(r["hd95_px"]) for r in fs),
           "figshare_left_empty": sum(float(r["predicted_area_px"]) == 0 for r in fs),
           "figshare_dice_where_marked": st.mean([float(r["dice"]) for r in fs if float(r["predicted_area_px"]) > 0]
                                                 or [0.0]),
           "per_class": {c: st.mean(float(r["dice"]) for r in fs if r["label"] == c)
                         for c in sorted({r["label"] for r in fs})},
           "size_tercile_cuts_px": cuts,
           "per_size": {t: st.mean(float(r["dice"]) for r in fs if tercile(r) == t) for t in ("small", "medium", "large")},
           "lgg_tumour_free_slices": len(neg),
           "lgg_marked": sum(float(r["predicted_area_px"]) > 0 for r in neg)}
    out["lgg_marked_rate"] = out["lgg_marked"] / max(1, len(neg))
    out["lgg_marked_per_fold"] = [sum(float(r["predicted_area_px"]) > 0 for r in neg if r["fold"] == f) /
                                  max(1, sum(r["fold"] == f for r in neg)) for f in folds]
    return out


def main(argv: list[str]) -> int:
    json_out = None
    if "--json" in argv:
        i = argv.index("--json")
        json_out, argv = Path(argv[i + 1]), argv[:i] + argv[i + 2:]
    named = [a.split("=", 1) for a in argv]
    first = summarise(Path(named[0][1]))
    res = {name: summarise(Path(d), tuple(first["size_tercile_cuts_px"])) for name, d in named}
    n = len(first["folds"])
    print(f"| {f'{n}-fold CV' if n > 1 else 'one CV fold'} (same folds, same test slices) | " + " | ".join(res) + " |")
    print("|---|" + "---:|" * len(res))
    lines = [("figshare mean Dice (± sd over folds)",
              lambda s: f"{s['figshare_dice_mean_over_folds']:.3f} ± {s['figshare_dice_sd_over_folds']:.3f}"),
             ("figshare mean IoU (pooled)", lambda s: f"{s['figshare_iou_pooled']:.3f}"),
             *[(f"figshare {c}", (lambda c: lambda s: f"{s['per_class'][c]:.3f}")(c)) for c in first["per_class"]],
             *[(f"figshare {t} third of tumours", (lambda t: lambda s: f"{s['per_size'][t]:.3f}")(t))
               for t in ("small", "medium", "large")],
             ("figshare HD95 (px at 256², pooled)", lambda s: f"{s['figshare_hd95_px_pooled']:.1f}"),
             ("figshare tumour slices left empty", lambda s: f"{s['figshare_left_empty']} / {s['figshare_slices']}"),
             ("figshare mean Dice of the slices where something is marked",
              lambda s: f"{s['figshare_dice_where_marked']:.3f}"),
             ("LGG tumour-free post-contrast slices marked",
              lambda s: f"{s['lgg_marked']} / {s['lgg_tumour_free_slices']} ({s['lgg_marked_rate']:.1%})")]
    for label, f in lines:
        print(f"| {label} | " + " | ".join(f(s) for s in res.values()) + " |")
    if json_out:
        json_out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
