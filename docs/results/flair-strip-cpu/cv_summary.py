"""cv_summary.json of the mri-strip flair CV from the fold test summaries kept here (fold_K/test_metrics.json).

The fold models and their per-slice CSVs were on a VM that is gone; ``scripts/bundle_model.py --cv`` needs only the
over-fold means that ``tumorseg.training.cv.summarise_folds`` computes, the same code ``tumorseg cv`` uses.
Run from the repository root: python docs/results/flair-strip-cpu/cv_summary.py
"""
import json
from pathlib import Path

from tumorseg.training.cv import summarise_folds

here = Path(__file__).parent
folds = [{"fold": d.name, **json.loads((d / "test_metrics.json").read_text())} for d in sorted(here.glob("fold_*"))]
summary = summarise_folds(folds)
(here / "cv_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print({k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()})
