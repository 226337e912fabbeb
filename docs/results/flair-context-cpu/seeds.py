"""Both seeds: `flair` with `--context-slices 1` against the shipped `flair` recipe, fold by fold, as calibrated.

    python docs/results/flair-context-cpu/seeds.py            # -> docs/results/flair-context-cpu/seeds.json

Seed 42: the two `folds.json` written by `../flair-lesion-core-cpu/evaluate_folds.py` (this folder's and the shipped
recipe's). Seed 7: this folder's `seed7/folds.json` (same script) and the shipped recipe's seed-7 fold runs'
own test metrics (`../flair-strip-cpu/seed7/fold_K/test_metrics.json`, `brats15_flair_metrics.json`), which are the
same numbers "as calibrated" (a run's test split scored with its calibrated post-processing).
"""

import json
import statistics
from pathlib import Path

HERE = Path(__file__).parent
STRIP7 = HERE.parent / "flair-strip-cpu" / "seed7"
FOLDS = [f"fold_{k}" for k in range(5)]


def from_folds(path: Path) -> dict:
    runs = json.loads(path.read_text())
    return {f: (runs[f]["calibrated/lgg_test"]["per_volume_dice"], runs[f]["calibrated/brats15_flair"]["per_volume_dice"])
            for f in FOLDS if f in runs}


def from_runs(folder: Path) -> dict:
    out = {}
    for f in FOLDS:
        if (folder / f / "test_metrics.json").is_file():
            lgg = json.loads((folder / f / "test_metrics.json").read_text())["per_volume"]["mean_dice"]
            b15 = json.loads((folder / f / "brats15_flair_metrics.json").read_text())["per_volume"]["mean_dice"]
            out[f] = (lgg, b15)
    return out


arms = {("flair", "42"): from_folds(HERE.parent / "flair-lesion-core-cpu" / "folds.json"),
        ("flair-context", "42"): from_folds(HERE / "folds.json"),
        ("flair", "7"): from_runs(STRIP7),
        ("flair-context", "7"): from_folds(HERE / "seed7" / "folds.json")}
result = {}
for (name, seed), folds in arms.items():
    lgg = [round(folds[f][0], 4) for f in FOLDS if f in folds]
    result[f"{name} seed {seed}"] = {"lgg_per_volume_dice_per_fold": lgg,
                                    "mean": round(statistics.mean(lgg), 4),
                                    "sd": round(statistics.stdev(lgg), 4) if len(lgg) > 1 else None,
                                    "brats15_flair_per_fold": [round(folds[f][1], 4) for f in FOLDS if f in folds]}
for name in ("flair", "flair-context"):
    both = [folds for (n, _), folds in arms.items() if n == name]
    common = [f for f in FOLDS if all(f in b for b in both)]
    per_fold = [round(statistics.mean(b[f][0] for b in both), 4) for f in common]
    result[f"{name}, both seeds averaged per fold"] = {"folds": common, "per_fold": per_fold,
                                                      "mean": round(statistics.mean(per_fold), 4)}
(HERE / "seeds.json").write_text(json.dumps(result, indent=1) + "\n")
print(json.dumps(result, indent=1))
