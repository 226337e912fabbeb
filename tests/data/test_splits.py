import logging
import random

import pytest

from tumorseg.data import SliceRecord, split_records
from tumorseg.data.splits import kfold_split
from tumorseg.errors import DataError


def _records(n_patients=20, per=(1, 2, 3, 5, 8)):
    recs = []
    for p in range(n_patients):
        for k in range(per[p % len(per)]):
            recs.append(SliceRecord(case_id=f"{p}_{k}", image=f"{p}_{k}.png", patient=f"P{p}"))
    return recs


def test_split_is_deterministic_and_order_independent():
    recs = _records()
    a = split_records(recs, seed=7)
    b = split_records(list(reversed(recs)), seed=7)
    assert {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}
    c = split_records(recs, seed=8)
    assert sorted(a["test"]) != sorted(c["test"])


def test_no_patient_in_two_splits_and_all_used():
    recs = _records()
    split = split_records(recs, seed=3)
    patient = {r.case_id: r.patient for r in recs}
    owners = [{patient[c] for c in split[k]} for k in ("train", "val", "test")]
    assert not (owners[0] & owners[1]) and not (owners[0] & owners[2]) and not (owners[1] & owners[2])
    assert sorted(sum(split.values(), [])) == sorted(r.case_id for r in recs)


def test_fractions_close_to_70_20_10():
    recs = _records(n_patients=150)
    split = split_records(recs, seed=0)
    n = len(recs)
    assert abs(len(split["train"]) / n - 0.7) < 0.03
    assert abs(len(split["val"]) / n - 0.2) < 0.03
    assert abs(len(split["test"]) / n - 0.1) < 0.03


def test_slice_split_warns_without_patients(caplog):
    recs = [SliceRecord(case_id=str(i), image=f"{i}.png") for i in range(30)]
    with caplog.at_level(logging.WARNING):
        split = split_records(recs, seed=0)
    assert "splitting by slice" in caplog.text
    assert sum(len(v) for v in split.values()) == 30


def test_one_grouping_rule_for_every_split():
    import pytest

    from tumorseg.data.splits import grouped_by, kfold_split

    two = _records(n_patients=2)
    no_ids = [SliceRecord(case_id=f"s{i}", image=f"s{i}.png") for i in range(6)]
    assert [grouped_by(r) for r in (_records(n_patients=3), two, no_ids)] == ["patient", "slice", "slice"]
    partly = _records(n_patients=4) + no_ids[:1]
    assert grouped_by(partly) == "slice"
    # K-fold follows the same rule: 2 patients of 3 slices are dealt by slice, so all 3 folds get a test part
    two = _records(n_patients=2, per=(3,))
    folds = [kfold_split(two, folds=3, fold=k, seed=0)["test"] for k in range(3)]
    assert [len(f) for f in folds] == [2, 2, 2] and sorted(sum(folds, [])) == sorted(r.case_id for r in two)
    with pytest.raises(ValueError):
        kfold_split(two, folds=3, fold=3)


# -- K-fold (cross-validation) ------------------------------------------------------------------------------


def _cohort(n_patients: int = 60, seed: int = 0, labels: bool = True) -> list[SliceRecord]:
    """Patients with 1–8 slices each; classes in proportion 3:2:1 by patient."""
    rng = random.Random(seed)
    classes = ["meningioma"] * 3 + ["glioma"] * 2 + ["pituitary"]
    records = []
    for p in range(n_patients):
        label = classes[p % len(classes)] if labels else None
        records += [SliceRecord(f"P{p}_{k}", f"P{p}_{k}.png", patient=f"P{p}", label=label)
                    for k in range(rng.randint(1, 8))]
    return records


def _patients(records, ids):
    by_id = {r.case_id: r.patient for r in records}
    return {by_id[c] for c in ids}


def test_kfold_every_patient_tested_once_and_no_patient_in_two_parts():
    records = _cohort()
    folds = [kfold_split(records, 5, k, seed=3) for k in range(5)]
    tested = [p for f in folds for p in _patients(records, f["test"])]
    assert sorted(tested) == sorted({r.patient for r in records})  # each patient in exactly one test part
    for f in folds:
        parts = [_patients(records, f[k]) for k in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert sum(len(f[k]) for k in ("train", "val", "test")) == len(records)
        assert 0.12 < len(f["val"]) / (len(f["train"]) + len(f["val"])) < 0.28  # about val_fraction 0.2
    assert folds == [kfold_split(records, 5, k, seed=3) for k in range(5)]  # deterministic


def test_kfold_keeps_the_class_mix_in_every_test_and_val_part():
    records = _cohort()
    label = {r.case_id: r.label for r in records}
    overall = {c: sum(r.label == c for r in records) / len(records) for c in set(label.values())}
    for k in range(5):
        f = kfold_split(records, 5, k, seed=3)
        for part in ("test", "val"):
            share = {c: sum(label[i] == c for i in f[part]) / len(f[part]) for c in overall}
            assert all(abs(share[c] - overall[c]) < 0.12 for c in overall), (k, part, share, overall)


def test_kfold_hand_checked_tiny_case():
    # 10 one-slice patients, 5 of each class, 5 folds: every test fold is one patient of each class
    records = [SliceRecord(str(i), f"{i}.png", patient=f"P{i}", label="a" if i < 5 else "b") for i in range(10)]
    for k in range(5):
        test = kfold_split(records, 5, k, seed=0)["test"]
        assert sorted(int(c) < 5 for c in test) == [False, True]


def test_kfold_without_labels_balances_slice_counts_and_refuses_too_many_folds():
    records = _cohort(labels=False)
    sizes = [len(kfold_split(records, 5, k)["test"]) for k in range(5)]
    assert max(sizes) - min(sizes) <= 8  # largest patient first into the smallest fold: within one patient
    with pytest.raises(DataError, match="only 60 patients for 61 folds"):
        kfold_split(records, 61, 0)
    with pytest.raises(ValueError, match="fold must be in 0..4"):
        kfold_split(records, 5, 5)
