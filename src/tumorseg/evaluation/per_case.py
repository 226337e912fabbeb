"""The per-case CSV (``per_case.csv`` of a scored split, ``cv_per_case.csv`` of a cross-validation): one row
per image, written and read here only.

Columns: ``case_id, patient, label`` (text; ``fold`` too in a CV), then numbers: ``dice, iou, sensitivity,
precision, hd95_px`` (when distances were computed), ``tumour_area_px, tumour_fraction, predicted_area_px``;
``tumorseg score`` adds ``truth_file, pred_file`` (text); images of volumes scored with the one-lesion rule add
``dropped_tumour_px, lesions_left_out, runner_up_share``. ``per_volume.csv`` is written and read here too (an
empty cell, e.g. an unknown ``truth_ml``, reads as ``None``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

TEXT_COLUMNS = ("case_id", "patient", "label", "fold", "truth_file", "pred_file")  # every other column: a number


def write_per_case(rows: list[dict[str, Any]], path: Path) -> None:
    """Write per-case rows (one per image, columns as :func:`tumorseg.evaluation.evaluate.score_masks` makes them) as CSV.

    The columns are every key of any row, in order of first appearance: rows of CV folds scored with and without
    the one-lesion rule's columns (``dropped_tumour_px``...) go into one file, a missing value as an empty cell."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names, restval="")
        w.writeheader()
        w.writerows(rows)


def read_per_case(path: Path) -> list[dict[str, Any]]:
    """Read a ``per_case.csv`` or ``cv_per_case.csv`` back: :data:`TEXT_COLUMNS` stay strings (a case id
    ``"0012"`` stays ``"0012"``), every other column becomes an ``int`` or a ``float``."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for key, value in r.items():
            if key not in TEXT_COLUMNS:
                if value == "":
                    r[key] = None
                    continue
                try:
                    r[key] = int(value)
                except ValueError:
                    r[key] = float(value)
    return rows
