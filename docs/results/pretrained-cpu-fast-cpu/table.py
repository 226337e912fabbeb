"""The tables of this folder's README from the files beside it: `cpu-fast` with `effunet` (``fold_k/``) per fold
against `cpu-fast` as shipped (``../cpu-fast-budget/budget/``, the same 2-core VM and budget), and the `bundled` and
`best` recipes' H200 CVs on the same stratified folds and the very same test slices
(``../t1c-mixed-h200/cv-bundled/``, ``../best-cv-h200/cv-best/``). Prints Markdown and writes ``summary.json``.
Run from the repository root:

    python docs/results/pretrained-cpu-fast-cpu/table.py

Only the folds this folder holds are compared. Pooled numbers (class, size tercile, HD95, empty predictions) come
from the per-case CSVs; `cpu-fast-unet` kept only its per-fold and per-class numbers, read from the ``summary.json``
of ``../cpu-fast-budget/table.py``. The paired test is per **patient** (mean Dice of each test patient's slices, Wilcoxon signed-rank over the
patients), because the slices of one patient are not independent.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from scipy.stats import wilcoxon

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
CPU_FAST = RESULTS / "cpu-fast-budget"
REFS = {"bundled (H200)": RESULTS / "t1c-mixed-h200" / "cv-bundled" / "cv_per_case.csv",
        "best (H200)": RESULTS / "best-cv-h200" / "cv-best" / "cv_per_case.csv"}
NEW = "cpu-fast: effunet (CPU)"


def folds_here() -> list[int]:
    return sorted(int(p.parent.name.split("_")[1]) for p in HERE.glob("fold_*/per_case.csv"))


def new_rows(folds: list[int], folder: Path = HERE) -> list[dict]:
    """The per-case rows of ``folder/fold_k/per_case.csv`` for the given folds, each with its fold."""
    rows = []
    for k in folds:
        with open(folder / f"fold_{k}" / "per_case.csv") as f:
            rows += [{**r, "fold": k} for r in csv.DictReader(f)]
    return rows


def ref_rows(path: Path, folds: list[int]) -> list[dict]:
    """Figshare rows (the LGG rows of the mixed-data CV, ``TCGA_*``, are left out) of the given folds."""
    with open(path) as f:
        rows = [{**r, "fold": int(r["fold"].split("_")[1])} for r in csv.DictReader(f)]
    return [r for r in rows if r["fold"] in folds and not r["case_id"].startswith("TCGA")]


def summarise(rows: list[dict], cuts: tuple[float, float]) -> dict:
    per_fold = defaultdict(list)
    for r in rows:
        per_fold[r["fold"]].append(float(r["dice"]))
    fold_means = [statistics.mean(per_fold[k]) for k in sorted(per_fold)]

    def tercile(r: dict) -> str:
        a = float(r["tumour_area_px"])
        return "small" if a < cuts[0] else "medium" if a < cuts[1] else "large"

    mean = lambda rs, key="dice": statistics.mean(float(r[key]) for r in rs)  # noqa: E731
    return {"slices": len(rows), "per_fold": dict(zip(sorted(per_fold), fold_means)),
            "mean_over_folds": statistics.mean(fold_means),
            "sd_over_folds": statistics.stdev(fold_means) if len(fold_means) > 1 else 0.0,
            "iou_pooled": mean(rows, "iou"), "hd95_px_pooled": mean(rows, "hd95_px"),
            "left_empty": sum(float(r["predicted_area_px"]) == 0 for r in rows),
            "per_class": {c: mean([r for r in rows if r["label"] == c]) for c in sorted({r["label"] for r in rows})},
            "per_size": {t: mean([r for r in rows if tercile(r) == t]) for t in ("small", "medium", "large")}}


def cpu_fast(folds: list[int]) -> dict:
    """`cpu-fast-unet`'s numbers as ``../cpu-fast-budget/table.py`` wrote them (``summary.json``: per fold, and the
    class means pooled over its folds, which must be these)."""
    s = json.loads((CPU_FAST / "summary.json").read_text())
    if s["budget"]["folds"] != folds:
        raise SystemExit(f"{CPU_FAST}/summary.json covers folds {s['budget']['folds']}, not {folds}")
    return {"per_fold": {k: s["folds"][str(k)]["budget"]["dice"] for k in folds},
            "mean_over_folds": s["budget"]["mean"], "sd_over_folds": s["budget"]["sd"],
            "per_class": s["budget"]["pooled_class_dice"]}


def per_patient(rows: list[dict]) -> dict[str, float]:
    by = defaultdict(list)
    for r in rows:
        by[r["patient"]].append(float(r["dice"]))
    return {p: statistics.mean(v) for p, v in by.items()}


def paired(new: list[dict], ref: list[dict]) -> dict:
    """Per-patient paired comparison of two arms on the same slices (Wilcoxon signed-rank over patients)."""
    a, b = per_patient(new), per_patient(ref)
    diff = [a[p] - b[p] for p in sorted(a)]
    return {"patients": len(diff), "mean_patient_dice_difference": statistics.mean(diff),
            "patients_better": sum(x > 0 for x in diff), "patients_worse": sum(x < 0 for x in diff),
            "wilcoxon_p": float(wilcoxon(diff).pvalue) if any(diff) else 1.0}


def main() -> None:
    folds = folds_here()
    new = new_rows(folds)
    areas = sorted(float(r["tumour_area_px"]) for r in new)
    cuts = (areas[len(areas) // 3], areas[2 * len(areas) // 3])
    ids = {(r["fold"], r["case_id"]) for r in new}
    arms = {NEW: summarise(new, cuts)}
    tests = {}
    for name, path in REFS.items():
        rows = ref_rows(path, folds)
        if {(r["fold"], r["case_id"]) for r in rows} != ids:
            raise SystemExit(f"{path}: not the same test slices as {HERE} on folds {folds}")
        arms[name] = summarise(rows, cuts)
        tests[name] = paired(new, rows)
    cf = cpu_fast(folds)
    out = {"folds": folds, "size_tercile_cuts_px": cuts, "cpu_fast": cf, "arms": arms, f"paired_{NEW}_vs": tests}
    epochs = {k: sum(1 for _ in open(HERE / f"fold_{k}" / "history.csv")) - 1 for k in folds}
    out["effunet_epochs"] = epochs

    cols = ["cpu-fast-unet (CPU)", "bundled (H200)", "best (H200)", NEW]
    print(f"| {len(folds)} folds ({len(new)} test slices) | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for k in folds:
        cells = [cf["per_fold"][k], arms["bundled (H200)"]["per_fold"][k], arms["best (H200)"]["per_fold"][k],
                 arms[NEW]["per_fold"][k]]
        print(f"| fold {k} Dice | " + " | ".join(f"{c:.3f}" for c in cells[:-1]) +
              f" | **{cells[-1]:.3f}** ({epochs[k]} epochs) |")
    ms = [cf] + [arms[c] for c in cols[1:]]
    print("| mean ± sd over folds | " + " | ".join(f"{m['mean_over_folds']:.3f} ± {m['sd_over_folds']:.3f}"
                                                     for m in ms) + " |")
    for c in arms[NEW]["per_class"]:
        print(f"| {c}, pooled | " + " | ".join(f"{m['per_class'][c]:.3f}" for m in ms) + " |")
    for t in ("small", "medium", "large"):
        print(f"| {t} third of tumours, pooled | — | " + " | ".join(f"{arms[c]['per_size'][t]:.3f}"
                                                                 for c in cols[1:]) + " |")
    print("| IoU, pooled | — | " + " | ".join(f"{arms[c]['iou_pooled']:.3f}" for c in cols[1:]) + " |")
    print("| HD95 px, pooled | — | " + " | ".join(f"{arms[c]['hd95_px_pooled']:.1f}" for c in cols[1:]) + " |")
    print("| tumour slices left empty | — | " + " | ".join(str(arms[c]["left_empty"]) for c in cols[1:]) + " |")
    print()
    for name, p in tests.items():
        print(f"- per patient against {name}: mean difference {p['mean_patient_dice_difference']:+.3f}, "
              f"{p['patients_better']} patients better / {p['patients_worse']} worse of {p['patients']}, "
              f"Wilcoxon p = {p['wilcoxon_p']:.2g}")
    (HERE / "summary.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
