"""The table of this folder's README from the files beside it: per fold, the fixed-12-epoch `cpu-fast` (`base/`)
against the time-budgeted one (`budget/`), and the `bundled` recipe's H200 CV on the same stratified folds
(`../t1c-mixed-h200/cv-bundled/`, same 2,639 test slices) as a reference. Prints Markdown and writes
`summary.json`. Run from the repository root:

    python docs/results/cpu-fast-budget/table.py
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUNDLED = HERE.parent / "t1c-mixed-h200" / "cv-bundled" / "cv_per_case.csv"


def run(arm: str, k: int) -> dict | None:
    d = HERE / arm / f"fold_{k}"
    if not (d / "metrics.json").exists():
        return None
    m = json.loads((d / "metrics.json").read_text())
    with open(d / "history.csv") as f:
        hist = list(csv.DictReader(f))
    return {"dice": m["mean_dice"], "iou": m["mean_iou"], "n": m["n_images"], "epochs": len(hist),
            "epoch_minutes": sum(float(r["seconds"]) for r in hist) / 60,
            "by_class": {c: (v["n_images"], v["mean_dice"]) for c, v in m["by_class"].items()}}


def pooled_classes(runs: list[dict]) -> dict[str, float]:
    """Mean Dice per tumour class over the test slices of all ``runs`` (each fold's class mean weighted by its
    slice count, which is the mean over the pooled slices)."""
    tot: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for r in runs:
        for c, (n, d) in r["by_class"].items():
            tot[c][0] += n
            tot[c][1] += n * d
    return {c: s / n for c, (n, s) in sorted(tot.items())}


def bundled_folds() -> dict[int, float]:
    """Mean per-image Dice of each fold of the `bundled` H200 CV on figshare slices (its LGG test rows left out)."""
    per = defaultdict(list)
    with open(BUNDLED) as f:
        for r in csv.DictReader(f):
            if not r["case_id"].startswith("TCGA"):
                per[int(r["fold"].split("_")[1])].append(float(r["dice"]))
    return {k: statistics.mean(v) for k, v in sorted(per.items())}


def main() -> None:
    ref = bundled_folds()
    rows, out = [], {"folds": {}}
    for k in range(5):
        base, budget = run("base", k), run("budget", k)
        if base is None and budget is None:
            continue
        out["folds"][k] = {"base": base, "budget": budget, "bundled_h200": ref.get(k)}
        cell = lambda r: f"{r['epochs']}, {r['epoch_minutes']:.1f} min of epochs, {r['dice']:.4f}" if r else "—"  # noqa: E731
        rows.append(f"| {k} | {cell(base)} | {cell(budget)} | {ref.get(k, float('nan')):.4f} |")
    both = [k for k, v in out["folds"].items() if v["base"] and v["budget"]]
    for arm in ("base", "budget"):
        d = [out["folds"][k][arm]["dice"] for k in both]
        out[arm] = {"folds": both, "mean": statistics.mean(d), "sd": statistics.stdev(d) if len(d) > 1 else 0.0}
    r = [ref[k] for k in both]
    out["bundled_h200"] = {"folds": both, "mean": statistics.mean(r), "sd": statistics.stdev(r) if len(r) > 1 else 0.0}
    out["gain_per_fold"] = {k: out["folds"][k]["budget"]["dice"] - out["folds"][k]["base"]["dice"] for k in both}
    for arm in ("base", "budget"):
        out[arm]["pooled_class_dice"] = pooled_classes([out["folds"][k][arm] for k in both])
    print("| fold | base: epochs, time, test Dice | budget: epochs, time, test Dice | `bundled` on the H200 |")
    print("|---|---|---|---:|")
    print("\n".join(rows))
    print(f"| mean ± sd of folds {', '.join(map(str, both))} | {out['base']['mean']:.4f} ± {out['base']['sd']:.4f} | "
          f"**{out['budget']['mean']:.4f} ± {out['budget']['sd']:.4f}** | "
          f"{out['bundled_h200']['mean']:.4f} ± {out['bundled_h200']['sd']:.4f} |")
    for c in out["budget"]["pooled_class_dice"]:
        print(f"| {c}, pooled | {out['base']['pooled_class_dice'][c]:.4f} | {out['budget']['pooled_class_dice'][c]:.4f} | |")
    (HERE / "summary.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
