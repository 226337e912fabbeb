"""cv_summary.json of the shipped ``flair`` (its recipe's 5 CV fold models, the most confident lesion kept) from
``folds.json`` (``evaluate_folds.py``), so that ``tumorseg models`` lists the CV of the model as it ships.

Only volume-level scores exist for this variant (per-volume Dice, tumour slices found, tumour-free slices marked):
the over-fold means come from ``tumorseg.training.cv.summarise_folds``, the code ``tumorseg cv`` uses; the per-slice
Dice/IoU keys are absent (``scripts/bundle_model.py`` stores what the summary has). ``n_images`` counts the slices
scored (all 1475). Run from the repository root, then install it in the bundled model:

    python docs/results/flair-lesion-core-cpu/cv_summary.py
    python scripts/bundle_model.py --name flair --cv docs/results/flair-lesion-core-cpu
"""
import json
from pathlib import Path

from tumorseg.training.cv import summarise_folds

here = Path(__file__).parent
VARIANT = "confident_lesion/lgg_test"
folds = []
for name, fold in sorted(json.loads((here / "folds.json").read_text()).items()):
    r = fold[VARIANT]
    marked = r["tumour_free_marked"] / r["tumour_free"]
    folds.append({"fold": name, "n_images": r["tumour_slices"] + r["tumour_free"],
                  "presence": {"sensitivity": r["tumour_found"] / r["tumour_slices"], "specificity": 1 - marked,
                               "fp_slice_rate": marked},
                  "per_volume": {"mean_dice": r["per_volume_dice"]}})
summary = {"variant": VARIANT, **summarise_folds(folds)}
(here / "cv_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print({k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()})
