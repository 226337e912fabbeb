"""The shipped `t1c` recipe (`--preset t1c-prior` then `t1c-negatives`) against the previous one (`--preset t1c`,
figshare only, ../t1c-effunet-cpu/) on the same figshare CV test slices: per fold, pooled by class and by size
tercile (edges from all test slices of the folds compared), HD95, tumours left empty. Also, where present, the
`t1c-prior` starting point of each fine-tune (per-case CSVs kept for the folds run on 2026-12-06 only: `prior_K/`). Writes compare5.json beside this file and prints a Markdown table.

usage: python docs/results/t1c-negatives-prior-cpu/compare5.py     (from the repository root)
       ... compare5.py --folds 2,3,4 --arm "NAME=DIR/casc_{k}/test_per_case.csv" --out OUT.json
         (only these folds; another arm, its per-case CSV of fold {k} — "P1|P2": the first that exists; the JSON
         written elsewhere)
"""
import argparse
import csv
import json
from pathlib import Path

import numpy as np

here = Path(__file__).parent
ARMS = {  # name -> per-case CSV of fold K (figshare rows only are kept)
    "previous t1c (figshare only)": lambda k: here.parent / "t1c-effunet-cpu" / f"fold_{k}" / "per_case.csv",
    "t1c-prior (starting point)": lambda k: next((p for p in (here / f"prior_{k}" / "test_per_case.csv",
                                                              here.parent / "t1c-head-prior-cpu" / f"fold_{k}" /
                                                              "test_per_case.csv") if p.exists()), Path("-")),
    "shipped t1c (fine-tuned)": lambda k: here / f"ft_{k}" / "test_per_case.csv",
}


def rows(path: Path) -> list[dict]:
    return [r for r in csv.DictReader(open(path)) if not r["case_id"].startswith("TCGA")] if path.exists() else []


ap = argparse.ArgumentParser()
ap.add_argument("--folds", default="0,1,2,3,4")
ap.add_argument("--arm", action="append", default=[], metavar="NAME=PATTERN")
ap.add_argument("--out", type=Path, default=here / "compare5.json")
args = ap.parse_args()
for spec in args.arm:
    name, pattern = spec.split("=", 1)
    ARMS[name] = lambda k, pattern=pattern: next((Path(q.format(k=k)) for q in pattern.split("|")  # first that exists
                                                  if Path(q.format(k=k)).exists()), Path("-"))
folds = [k for k in map(int, args.folds.split(","))
         if rows(ARMS["shipped t1c (fine-tuned)"](k)) and rows(ARMS["previous t1c (figshare only)"](k))]
pooled = {a: [r | {"fold": k} for k in folds for r in rows(f(k))] for a, f in ARMS.items()}
ref = pooled["previous t1c (figshare only)"]
edges = np.quantile([float(r["tumour_fraction"]) for r in ref], [1 / 3, 2 / 3])
ids = {a: sorted((r["fold"], r["case_id"]) for r in p) for a, p in pooled.items()}
assert ids["shipped t1c (fine-tuned)"] == ids["previous t1c (figshare only)"], "not the same test slices"


def score(rs: list[dict]) -> dict:
    d = [float(r["dice"]) for r in rs]
    return {"n": len(rs), "dice": float(np.mean(d)), "iou": float(np.mean([float(r["iou"]) for r in rs]))}


out = {"folds": folds, "size_tercile_edges": [float(e) for e in edges], "arms": {}}
for arm, rs in pooled.items():
    fold_ks = sorted({r["fold"] for r in rs})
    if not fold_ks:
        continue
    if fold_ks != folds:
        out["arms"][arm] = {"folds": fold_ks, "per_fold_dice": {k: score([r for r in rs if r["fold"] == k])["dice"]
                                                                for k in fold_ks}}
        continue
    per_fold = [score([r for r in rs if r["fold"] == k]) for k in folds]
    hd = [float(np.mean([float(r["hd95_px"]) for r in rs if r["fold"] == k and r["hd95_px"] not in ("", "nan")]))
          for k in folds]
    size = np.digitize([float(r["tumour_fraction"]) for r in rs], edges)
    out["arms"][arm] = {
        "per_fold_dice": [f["dice"] for f in per_fold],
        "dice_mean_over_folds": float(np.mean([f["dice"] for f in per_fold])),
        "dice_std_over_folds": float(np.std([f["dice"] for f in per_fold], ddof=1)) if len(folds) > 1 else 0.0,
        "iou_mean_over_folds": float(np.mean([f["iou"] for f in per_fold])),
        "hd95_px_mean_over_folds": float(np.mean(hd)),
        "by_class": {c: score([r for r in rs if r["label"] == c]) for c in ("glioma", "meningioma", "pituitary")},
        "by_size": {t: score([r for r, s in zip(rs, size) if s == i]) for i, t in
                    enumerate(("smallest third", "middle third", "largest third"))},
        "left_empty": sum(int(r["predicted_area_px"]) == 0 for r in rs),
        "dice_zero": sum(float(r["dice"]) == 0 for r in rs),
    }
lgg = {k: [r for r in csv.DictReader(open(ARMS["shipped t1c (fine-tuned)"](k))) if r["case_id"].startswith("TCGA")]
       for k in folds}  # the fold's tumour-free LGG test slices (8 unseen patients), one slice at a time
out["shipped_lgg_tumour_free_marked"] = {k: [sum(int(r["predicted_area_px"]) > 0 for r in v), len(v)]
                                         for k, v in lgg.items()}
for arm, f in ARMS.items():  # every arm's tumour-free LGG test slices marked, where its CSVs hold them
    tcga = {k: [r for r in csv.DictReader(open(f(k))) if r["case_id"].startswith("TCGA")] if f(k).exists() else []
            for k in folds}
    if arm in out["arms"] and all(tcga.values()):
        out["arms"][arm]["lgg_tumour_free_marked"] = [sum(sum(int(r["predicted_area_px"]) > 0 for r in v)
                                                          for v in tcga.values()), sum(map(len, tcga.values()))]
args.out.write_text(json.dumps(out, indent=1) + "\n")
full = [a for a, v in out["arms"].items() if "by_class" in v]
print(f"| folds {', '.join(map(str, folds))} ({len(ref)} figshare test slices) | " + " | ".join(full) + " |")
print("|---|" + "---:|" * len(full))
line = lambda label, get: print(f"| {label} | " + " | ".join(get(out["arms"][a]) for a in full) + " |")
line("Dice per fold", lambda v: " / ".join(f"{d:.3f}" for d in v["per_fold_dice"]))
line("**mean ± sd over folds**", lambda v: f"**{v['dice_mean_over_folds']:.3f} ± {v['dice_std_over_folds']:.3f}**")
line("IoU, mean over folds", lambda v: f"{v['iou_mean_over_folds']:.3f}")
for c in ("glioma", "meningioma", "pituitary"):
    line(f"{c} ({out['arms'][full[0]]['by_class'][c]['n']}, pooled)", lambda v: f"{v['by_class'][c]['dice']:.3f}")
for t in ("smallest third", "middle third", "largest third"):
    line(f"{t} of tumours (pooled)", lambda v: f"{v['by_size'][t]['dice']:.3f}")
line("HD95, px at 256² (mean over folds)", lambda v: f"{v['hd95_px_mean_over_folds']:.1f}")
line("tumours left empty / Dice 0", lambda v: f"{v['left_empty']} / {v['dice_zero']}")
line("unseen LGG tumour-free test slices marked, one at a time", lambda v: "{} / {}".format(
    *v["lgg_tumour_free_marked"]) if "lgg_tumour_free_marked" in v else "–")
marked = out["shipped_lgg_tumour_free_marked"].values()
print("\nshipped, unseen LGG tumour-free test slices marked one at a time, per fold: "
      + ", ".join(f"{m} / {n}" for m, n in marked) + f" ({sum(m for m, _ in marked) / sum(n for _, n in marked):.1%})")
for a, v in out["arms"].items():
    if a not in full:
        print(f"\n{a}: folds {v['folds']} only: " + ", ".join(f"{k} {d:.3f}" for k, d in v["per_fold_dice"].items()))
