"""Markdown table of ``oof.json`` (``oof.py summary``): per-volume Dice per fold and over the folds, per arm.

    python docs/results/flair-oof-post-cpu/table.py docs/results/flair-oof-post-cpu/oof.json
"""
import json
import sys

d = json.load(open(sys.argv[1]))
names = {"val_chosen": "as trained: the full search on the fold's own val patients",
         "val_chosen_confident_lesion": "as `flair` ships: that, the most confident lesion kept",
         "val_narrow": "the narrowed search on the fold's own val patients (5-8)",
         "oof_chosen": "**the narrowed search on the other folds' out-of-fold patients (32)**"}
folds = list(d["folds"])
print("| post-processing chosen by | " + " | ".join(folds) + " | per-volume Dice, mean ± sd | tumour slices found | "
      "tumour-free slices marked |")
print("|---|" + "---:|" * (len(folds) + 3))
for arm, s in d["summary"].items():
    sd = f" ± {s['sd']:.3f}" if s["sd"] is not None else ""
    print(f"| {names[arm]} | " + " | ".join(f"{v:.3f}" for v in s["per_fold"]) + f" | {s['mean']:.3f}{sd} | "
          f"{s['tumour_slices_found']} / {s['tumour_slices']} | {s['tumour_free_marked']} / {s['tumour_free']} |")
better = {f: round(d["folds"][f]["oof_chosen"]["per_volume_dice"] - d["folds"][f]["val_narrow"]["per_volume_dice"], 3)
          for f in folds}
print("\nout-of-fold minus own-val (same narrowed search), per fold:", better)
