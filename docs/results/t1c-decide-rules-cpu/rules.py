"""Slice-level decision rules for the ``t1c`` cascade, scored on CV folds' val (to choose) and test (to report).

usage: python docs/results/t1c-decide-rules-cpu/rules.py FEAT_DIR OUT.json [K ...]   (K: folds, default 2 3 4)

A marked slice holds A's post-processed mask (Dice ``dice_a``); an unmarked one is empty (Dice 0 on a tumour
slice). Rules: the shipped one (B's own output is not empty), **looser** ones (also mark when B's probability
inside A's mask reaches ``t`` with mean ``m`` and A's mask has ``px`` px: B's small sure blob in A's region) and
**stricter** ones (B marks and its peak reaches ``t``, A's mask has ``px`` px). Prints and writes, per rule, the
figshare Dice (mean over folds of the mean over that fold's figshare tumour slices), the tumour-free LGG slices
marked and the figshare tumours left empty, pooled over the folds, on val and on test.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np


def score(f: dict, marked: np.ndarray) -> tuple[float, int, int, int]:
    fig = np.array([not i.startswith("TCGA") for i in f["ids"]])
    pos = f["pos"]
    m = marked & (f["area_a"] > 0)
    return float(np.where(m, f["dice_a"], 0.0)[fig & pos].mean()), int((m & ~pos).sum()), int((~pos).sum()), \
        int((fig & pos & ~m).sum())


def looser(t, m, px):
    return lambda f: f["b_marks"] | ((f["peak_b_in_a"] >= t) & (f["mean_b_in_a"] >= m) & (f["area_a"] >= px))


def stricter(t, px):
    return lambda f: f["b_marks"] & (f["peak_b"] >= t) & (f["area_a"] >= px)


def main(feat: Path, out: Path, folds: list[int]) -> None:
    F = {(k, p): dict(np.load(feat / f"feat_{k}_{p}.npz")) for k in folds for p in ("val", "test")}
    rules = {"shipped: B marks": lambda f: f["b_marks"]}
    for t, m, px in itertools.product((0.4, 0.5, 0.6, 0.7, 0.8, 0.9), (0, 0.1, 0.2, 0.3), (0, 100, 200, 400)):
        rules[f"looser t={t} m={m} px={px}"] = looser(t, m, px)
    for t, px in itertools.product((0.5, 0.6, 0.7, 0.8, 0.9), (0, 200, 400)):
        rules[f"stricter t={t} px={px}"] = stricter(t, px)
    rows = []
    for name, rule in rules.items():
        row = {"rule": name}
        for part in ("val", "test"):
            s = [score(F[k, part], rule(F[k, part])) for k in folds]
            row[part] = {"figshare_dice": round(float(np.mean([x[0] for x in s])), 4),
                         "tumour_free_marked": sum(x[1] for x in s), "tumour_free": sum(x[2] for x in s),
                         "figshare_left_empty": sum(x[3] for x in s)}
        rows.append(row)
    base = rows[0]["val"]["tumour_free_marked"]
    ok = [r for r in rows[1:] if r["rule"].startswith("looser") and r["val"]["tumour_free_marked"] <= base]
    best_same_fp = max(ok, key=lambda r: r["val"]["figshare_dice"])
    best_any = max(rows[1:], key=lambda r: r["val"]["figshare_dice"])
    result = {"folds": folds, "shipped": rows[0], "best_looser_val_fp_at_most_shipped": best_same_fp,
              "best_val_dice_any_fp": best_any, "rules": rows}
    out.write_text(json.dumps(result, indent=1))
    for key in ("shipped", "best_looser_val_fp_at_most_shipped", "best_val_dice_any_fp"):
        print(key, json.dumps(result[key]))
    for r in rows:
        if r["rule"].startswith("stricter") and r["rule"].endswith("px=0"):
            print(json.dumps(r))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [int(k) for k in sys.argv[3:]] or [2, 3, 4])
