"""Seeded train/val/test splits, grouped by patient when the dataset says who is who.

A patient (``SliceRecord.patient``) never appears in two splits. Groups are
shuffled with the seed and dealt out largest-deficit-first, so the slice
counts land close to the requested fractions even though patients have
different numbers of slices.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tumorseg.data.records import SliceRecord

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


def kfold_split(
    records: Sequence[SliceRecord], folds: int = 5, fold: int = 0, seed: int = 42, val_fraction: float = 0.2
) -> dict[str, list[str]]:
    """Patient-grouped K-fold: fold ``fold`` is the test part; the rest is split into train/val by patient.

    Every patient is in the test part of exactly one fold. Patients are dealt
    to folds largest-first into the fold with the fewest slices (after a
    seeded shuffle), so folds have similar slice counts. ``val_fraction`` of
    the remaining slices (by patient) is held out for model selection and
    calibration; the test fold is never used for either.
    """
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
    groups = _groups(records)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    keys.sort(key=lambda k: -len(groups[k]))  # stable: ties keep the shuffled order
    members: list[list[str]] = [[] for _ in range(folds)]
    sizes = [0] * folds
    for key in keys:
        j = min(range(folds), key=lambda f: (sizes[f], f))
        members[j].append(key)
        sizes[j] += len(groups[key])
    test = [c for key in members[fold] for c in groups[key]]
    rest = [r for r in records if r.case_id not in set(test)]
    inner = split_records(rest, (1 - val_fraction, val_fraction, 0.0), seed=seed + fold) if rest else {"train": [], "val": []}
    return {"train": inner["train"], "val": inner["val"], "test": test}
