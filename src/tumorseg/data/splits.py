"""Seeded train/val/test splits, grouped by patient when the dataset says who is who.

A patient (``SliceRecord.patient``) never appears in two splits. Groups are
shuffled with the seed and dealt out largest-deficit-first, so the slice
counts land close to the requested fractions even though patients have
different numbers of slices.

Cross-validation folds (:func:`kfold_split`) come from scikit-learn:
``StratifiedGroupKFold`` (patient-grouped, each fold's tumour-class mix close
to the whole set's), or ``GroupKFold`` when classes are unknown. On figshare
dev every test fold's class shares are within 0.5 points of the set's (the
earlier hand-rolled grouping: up to 9 points off).
"""

from __future__ import annotations

import json
import logging
import random
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tumorseg.data.records import SliceRecord
from tumorseg.errors import DataError

log = logging.getLogger(__name__)
SPLIT_NAMES = ("train", "val", "test")
MIN_PATIENTS = 3  # fewer patients cannot fill train/val/test: split by slice instead (e.g. one-case samples)


def grouped_by(records: Sequence[SliceRecord]) -> str:
    """``"patient"`` when every record has a patient id and there are at least ``MIN_PATIENTS`` patients, else
    ``"slice"``: the one grouping rule of every split here (train/val/test and K-fold) and of ``split.json``."""
    patients = {r.patient for r in records}
    return "patient" if all(r.patient for r in records) and len(patients) >= MIN_PATIENTS else "slice"


def _groups(records: Sequence[SliceRecord]) -> dict[str, list[str]]:
    """Case ids by what keeps them together: the patient when :func:`grouped_by` says so, else each slice alone."""
    by_patient = grouped_by(records) == "patient"
    groups: dict[str, list[str]] = defaultdict(list)
    for r in records:
        groups[r.patient if by_patient else r.case_id].append(r.case_id)
    return groups


def split_records(
    records: Sequence[SliceRecord],
    fractions: Sequence[float] = (0.7, 0.2, 0.1),
    seed: int = 42,
) -> dict[str, list[str]]:
    """Split records into ``{"train": [case_id...], "val": [...], "test": [...]}``.

    Grouped by ``record.patient`` when :func:`grouped_by` says so; otherwise by
    slice, with a warning (slices of one patient then leak across splits).
    Deterministic for a given ``seed`` and record set (order-independent).
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or len(fractions) != len(SPLIT_NAMES) or min(fractions) < 0:
        raise ValueError(f"fractions must be three numbers summing to 1, got {tuple(fractions)}")
    if grouped_by(records) == "slice" and all(r.patient for r in records):
        log.warning("only %d patient(s): splitting by slice, so their slices land in several splits.",
                    len({r.patient for r in records}))
    elif grouped_by(records) == "slice":
        log.warning(
            "no patient ids (metadata.csv with a patient column) for this dataset: "
            "splitting by slice, so one patient's slices may land in several splits."
        )
    groups = _groups(records)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)

    total = len(records)
    targets = [f * total for f in fractions]
    out: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    counts = [0] * len(SPLIT_NAMES)
    for key in keys:
        # give the group to the split furthest below its target (relative)
        k = max(
            (j for j in range(len(SPLIT_NAMES)) if targets[j] > 0),
            key=lambda j: (targets[j] - counts[j]) / targets[j],
        )
        out[SPLIT_NAMES[k]].extend(groups[key])
        counts[k] += len(groups[key])
    return out


def save_split(split: dict[str, list[str]], path: str | Path, grouped_by: str) -> None:
    """Write the split as JSON (``{"grouped_by": ..., "train": [...], ...}``), atomically: runs started side
    by side (e.g. one process per CV fold) may rewrite a file another is reading."""
    from tumorseg.models.checkpoint import atomic_write

    text = json.dumps({"grouped_by": grouped_by, **split}, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def load_split(path: str | Path) -> dict[str, list[str]]:
    data = json.loads(Path(path).read_text())
    return {k: data[k] for k in SPLIT_NAMES}


def _fold_members(records: Sequence[SliceRecord], n_splits: int, seed: int) -> list[list[int]]:
    """Record indices of each of ``n_splits`` folds: patient-grouped (each slice its own group when
    :func:`grouped_by` says ``"slice"``), class-stratified when every record has a label.

    scikit-learn's ``StratifiedGroupKFold`` (shuffled with ``seed``) keeps each fold's class mix close to the
    whole set's; without labels, ``GroupKFold`` deals patients largest-first into the fold with the fewest
    slices (deterministic: ``seed`` plays no part), so folds have similar slice counts.

    Raises:
        DataError: fewer patients (groups) than folds.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    grouped = grouped_by(records) == "patient"
    groups = [r.patient if grouped else r.case_id for r in records]
    if len(set(groups)) < n_splits:
        raise DataError(f"only {len(set(groups))} {'patients' if grouped else 'slices'} for {n_splits} folds; "
                        f"use at most {len(set(groups))} folds.")
    x = np.zeros((len(records), 1))
    labels = [r.label for r in records]
    # (scikit-learn refuses to stratify when every class has fewer slices than folds)
    if all(labels) and len(set(labels)) > 1 and max(Counter(labels).values()) >= n_splits:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # "the least populated class has only N members": fine for small sets
            warnings.simplefilter("ignore", UserWarning)
            return [test.tolist() for _, test in splitter.split(x, labels, groups)]
    return [test.tolist() for _, test in GroupKFold(n_splits=n_splits).split(x, groups=groups)]


def kfold_split(
    records: Sequence[SliceRecord], folds: int = 5, fold: int = 0, seed: int = 42, val_fraction: float = 0.2
) -> dict[str, list[str]]:
    """Patient-grouped, class-stratified K-fold: fold ``fold`` is the test part; the rest is train + val.

    Every patient is in the test part of exactly one fold (see :func:`_fold_members`: scikit-learn's
    ``StratifiedGroupKFold`` when every record has a tumour class, else ``GroupKFold``). From the other
    patients, about ``val_fraction`` is held out, again by patient and stratified by class (one part of a
    ``round(1 / val_fraction)``-fold split, seeded by ``seed + fold``), for model selection and calibration;
    the test fold is never used for either.

    Raises:
        ValueError: ``fold`` outside ``0..folds-1``.
        DataError: fewer patients than folds.
    """
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
    members = _fold_members(records, folds, seed)
    test_set = set(members[fold])
    rest = [r for i, r in enumerate(records) if i not in test_set]
    test = [records[i].case_id for i in members[fold]]
    if not rest or val_fraction <= 0:
        return {"train": [r.case_id for r in rest], "val": [], "test": test}
    inner = max(2, round(1 / val_fraction))
    try:
        val_idx = set(_fold_members(rest, inner, seed + fold)[0])
    except DataError:  # too few patients left for the inner split: the plain grouped split
        inner_split = split_records(rest, (1 - val_fraction, val_fraction, 0.0), seed=seed + fold)
        return {"train": inner_split["train"], "val": inner_split["val"], "test": test}
    return {"train": [r.case_id for i, r in enumerate(rest) if i not in val_idx],
            "val": [r.case_id for i, r in enumerate(rest) if i in val_idx], "test": test}
