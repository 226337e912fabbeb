"""The tables of this folder's README: the `t1c` recipe (`cpu-fast` with `--augment mri`, ``fold_k/``) per fold
against `cpu-fast` (the same network and budget with light augmentation, ``../pretrained-cpu-fast-cpu/fold_k/``) and
`bundled` (the recipe of `t1c-unet`, the previous `t1c`; H200, ``../t1c-mixed-h200/cv-bundled/``) on the very same
test slices, plus the real-scan checks of the final model against `t1c-unet` (``final/checks/``). Prints Markdown and
writes ``summary.json``. Run from the repository root:

    python docs/results/t1c-effunet-cpu/table.py

Only the folds this folder holds are compared. The summaries and the per-patient Wilcoxon test are those of
``../pretrained-cpu-fast-cpu/table.py`` (imported from there, not repeated).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
_spec = importlib.util.spec_from_file_location("effunet_table", RESULTS / "pretrained-cpu-fast-cpu" / "table.py")
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)
ARMS = {"bundled (H200; t1c-unet's recipe)": None, "cpu-fast (CPU; light aug.)": RESULTS / "pretrained-cpu-fast-cpu"}
NEW = "t1c (CPU; mri aug.)"
CHECK_PREV = RESULTS / "pretrained-cpu-fast-cpu" / "final" / "checks" / "t1c"  # the previous t1c = t1c-unet


def check_line(folder: Path, part: str, prefix: str = "") -> str:
    f = folder / f"{part}.metrics.json"
    if not f.exists():
        return "—"
    m = json.loads(f.read_text())
    p, pv = m.get("presence") or {}, m.get("per_volume") or {}
    cells = [f"slice Dice {m['mean_dice']:.3f}"]
    if p.get("n_tumour_free"):
        cells += [f"found {p['tp']}/{p['n_tumour']}", f"tumour-free marked {p['fp']}/{p['n_tumour_free']}"]
    if part != "fs-val" and isinstance(pv, dict) and pv.get("mean_dice") is not None:
        cells.append(f"per-volume {pv['mean_dice']:.3f}")
    return "; ".join(cells)


def main() -> None:
    folds = sorted(int(p.parent.name.split("_")[1]) for p in HERE.glob("fold_*/per_case.csv"))
    new = base.new_rows(folds, HERE)
    areas = sorted(float(r["tumour_area_px"]) for r in new)
    cuts = (areas[len(areas) // 3], areas[2 * len(areas) // 3])
    ids = {(r["fold"], r["case_id"]) for r in new}
    arms, tests = {NEW: base.summarise(new, cuts)}, {}
    for name, folder in ARMS.items():
        rows = base.new_rows(folds, folder) if folder else base.ref_rows(base.REFS["bundled (H200)"], folds)
        if {(r["fold"], r["case_id"]) for r in rows} != ids:
            raise SystemExit(f"{name}: not the same test slices as {HERE} on folds {folds}")
        arms[name], tests[name] = base.summarise(rows, cuts), base.paired(new, rows)
    epochs = {k: sum(1 for _ in open(HERE / f"fold_{k}" / "history.csv")) - 1 for k in folds}
    cols = [*ARMS, NEW]
    print(f"| {len(folds)} of 5 folds ({len(new)} test slices) | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for k in folds:
        print(f"| fold {k} Dice | " + " | ".join(f"{arms[c]['per_fold'][k]:.3f}" for c in cols[:-1]) +
              f" | **{arms[NEW]['per_fold'][k]:.3f}** ({epochs[k]} epochs) |")
    print("| mean ± sd over folds | " + " | ".join(f"{arms[c]['mean_over_folds']:.3f} ± {arms[c]['sd_over_folds']:.3f}"
                                                     for c in cols) + " |")
    for c in arms[NEW]["per_class"]:
        print(f"| {c}, pooled | " + " | ".join(f"{arms[a]['per_class'][c]:.3f}" for a in cols) + " |")
    for t in ("small", "medium", "large"):
        print(f"| {t} third of tumours, pooled | " + " | ".join(f"{arms[a]['per_size'][t]:.3f}" for a in cols) + " |")
    print("| IoU, pooled | " + " | ".join(f"{arms[a]['iou_pooled']:.3f}" for a in cols) + " |")
    print("| HD95 px, pooled | " + " | ".join(f"{arms[a]['hd95_px_pooled']:.1f}" for a in cols) + " |")
    print("| tumour slices left empty | " + " | ".join(str(arms[a]["left_empty"]) for a in cols) + " |")
    print()
    for name, p in tests.items():
        print(f"- per patient, {NEW} against {name}: mean difference {p['mean_patient_dice_difference']:+.3f}, "
              f"{p['patients_better']} patients better / {p['patients_worse']} worse of {p['patients']}, "
              f"Wilcoxon p = {p['wilcoxon_p']:.2g}")
    print()
    checks = {"BraTS 2015 sample T1c (one volume; tumour core)": "brats15",
              "40 LGG patients, post-contrast volumes (FLAIR masks)": "lgg-post",
              "figshare val patients (264 slices)": "fs-val"}
    new_dir = HERE / "final" / "checks" / "final-effmri"
    print("| final model, real-scan checks | t1c-unet (previous t1c) | t1c (this recipe) |")
    print("|---|---|---|")
    for label, part in checks.items():
        print(f"| {label} | {check_line(CHECK_PREV, part)} | {check_line(new_dir, part)} |")
    print()
    xfer = RESULTS / "pretrained-cpu-fast-cpu" / "final" / "xfer"
    print("| fold models, one lesion kept: BraTS 2015 T1c sample | cpu-fast (light aug.) | t1c (mri aug.) |")
    print("|---|---|---|")
    for k in folds:
        print(f"| fold {k} | {check_line(xfer, f'eff{k}-brats15')} | {check_line(HERE / f'fold_{k}', 'xfer-brats15')} |")
    out = {"folds": folds, "size_tercile_cuts_px": cuts, "arms": arms, "paired": tests, "epochs": epochs}
    (HERE / "summary.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
